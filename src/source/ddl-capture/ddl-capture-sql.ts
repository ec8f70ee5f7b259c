import { CAPTURED_DDL_PREFIX } from '../../change/captured-ddl.js';

/**
 * Every statement DDL capture (`source.ddl: capture`) runs on the source:
 * its versioned tables in the source's `ferry` schema, the functions and
 * event triggers that record DDL of replicated tables in their groups'
 * streams, and removing them again.
 *
 * At the end of each DDL command (`ddl_command_end`) the function looks up
 * the tables the command touched (a table itself, or the table of an index
 * or constraint) in `ferry.ddl_tables`; most DDL touches none and costs that
 * one lookup. For each replicated one it reads the table's definition from
 * the catalog and records it, as a message in the stream of every group
 * replicating the table, in the DDL's own transaction. `DROP INDEX`
 * (`sql_drop`) is found through the index oids each table's row keeps,
 * since the index's catalog rows are gone by then.
 */

/** The layout of the functions installed; the table ferry.ddl_capture_version records the tables' migrations. */
export const DDL_CAPTURE_VERSION = 1;

/** `migrations[i]` brings DDL capture's tables in the source's ferry schema from version i to i+1. */
export const migrations: readonly string[] = [
  `
  CREATE TABLE ferry.ddl_capture_version (version integer NOT NULL);
  INSERT INTO ferry.ddl_capture_version VALUES (0);

  -- The tables whose DDL is recorded, by oid (which a rename keeps), and in
  -- whose groups' streams; capture names the method that writes the stream.
  -- indexes: the table's index oids when last seen, to find the table of a
  -- dropped index.
  CREATE TABLE ferry.ddl_tables (
    table_oid   oid NOT NULL,
    group_name  text NOT NULL,
    capture     text NOT NULL,
    indexes     oid[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (table_oid, group_name)
  );
  CREATE INDEX ON ferry.ddl_tables (group_name);
  `,
];

const EVENT_TRIGGER = 'ferry_ddl_capture';
const DROP_EVENT_TRIGGER = 'ferry_ddl_capture_drop';
/** Enough of the client's query string for the log; the rest only makes every message bigger. */
const QUERY_CHARS = 2000;

/**
 * A table's definition as the target reconciles to it (see
 * change/captured-ddl.ts). Its search_path holds only pg_catalog, so the
 * deparsed types, defaults, index and constraint definitions name
 * everything outside it schema-qualified: they mean the same on the target.
 * Columns are flagged as part of the replica identity as pgoutput flags
 * them (see describedColumnsSql).
 */
function definitionFunction(version: number): string {
  const missing = version >= 110000 ? 'CASE WHEN a.atthasmissing THEN a.attmissingval::text END' : 'NULL::text';
  const notGenerated = version >= 120000 ? `AND a.attgenerated = ''` : '';
  return `CREATE OR REPLACE FUNCTION ferry.ddl_table_definition(rel oid) RETURNS jsonb LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  AS $ferry$
  SELECT jsonb_build_object(
    'oid', c.oid::bigint, 'schema', n.nspname, 'name', c.relname, 'replicaIdentity', c.relreplident::text,
    'columns', COALESCE((
      SELECT jsonb_agg(jsonb_build_object(
               'attnum', a.attnum::int, 'name', a.attname, 'typeOid', a.atttypid::bigint, 'typeMod', a.atttypmod,
               'type', format_type(a.atttypid, a.atttypmod), 'notNull', a.attnotnull, 'default', pg_get_expr(d.adbin, d.adrelid),
               'missing', ${missing}, 'isArray', t.typcategory = 'A',
               'collation', (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
                               FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                              WHERE co.oid = a.attcollation AND a.attcollation <> t.typcollation),
               'isKey', CASE c.relreplident WHEN 'f' THEN true WHEN 'n' THEN false
                          ELSE EXISTS (SELECT 1 FROM pg_index k WHERE k.indrelid = c.oid AND a.attnum = ANY (k.indkey)
                                          AND CASE c.relreplident WHEN 'd' THEN k.indisprimary ELSE k.indisreplident END) END)
             ORDER BY a.attnum)
        FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ${notGenerated}), '[]'::jsonb),
    'indexes', COALESCE((
      SELECT jsonb_agg(jsonb_build_object(
               'oid', i.indexrelid::bigint, 'name', ic.relname, 'definition', pg_get_indexdef(i.indexrelid),
               'primary', i.indisprimary, 'identity', i.indisreplident,
               'constraint', EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = c.oid AND k.contype IN ('p', 'u', 'x')))
             ORDER BY ic.relname)
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid), '[]'::jsonb),
    'constraints', COALESCE((
      SELECT jsonb_agg(jsonb_build_object('name', k.conname, 'type', k.contype::text, 'definition', pg_get_constraintdef(k.oid)) ORDER BY k.conname)
        FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype IN ('c', 'p', 'u', 'x')), '[]'::jsonb))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = rel
  $ferry$`;
}

/**
 * Records table `rel`'s definition in the stream of each group that
 * replicates it, with the method that group's capture writes its stream
 * with (`recorders`: capture name → PL/pgSQL, see Capture.recordMessageSql).
 * Each group's message names that group only.
 */
function recordFunction(recorders: Readonly<Record<string, string>>): string {
  const branches = Object.entries(recorders).map(([capture, statement], i) => `
      ${i === 0 ? 'IF' : 'ELSIF'} ferry_capture = '${capture}' THEN
        ${statement.trim()}`).join('');
  return `CREATE OR REPLACE FUNCTION ferry.record_ddl(rel oid, tag text, dropped text[]) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS $ferry$
  DECLARE
    ferry_definition jsonb := ferry.ddl_table_definition(rel);
    ferry_indexes oid[];
    ferry_group text;
    ferry_capture text;
    ferry_prefix text := '${CAPTURED_DDL_PREFIX}';
    ferry_content text;
  BEGIN
    -- Dropped in the same command: its group stops on its next change either way.
    IF ferry_definition IS NULL THEN RETURN; END IF;
    ferry_indexes := ARRAY(SELECT (i ->> 'oid')::oid FROM jsonb_array_elements(ferry_definition -> 'indexes') i);
    UPDATE ferry.ddl_tables SET indexes = ferry_indexes WHERE table_oid = rel AND indexes IS DISTINCT FROM ferry_indexes;
    FOR ferry_group, ferry_capture IN SELECT group_name, capture FROM ferry.ddl_tables WHERE table_oid = rel ORDER BY group_name LOOP
      ferry_content := jsonb_build_object('v', 1, 'groups', jsonb_build_array(ferry_group), 'tag', tag, 'query', left(current_query(), ${QUERY_CHARS}),
                                          'dropped', to_jsonb(COALESCE(dropped, '{}'::text[])), 'definition', ferry_definition)::text;${branches}
      END IF;
    END LOOP;
  END
  $ferry$`;
}

/**
 * ddl_command_end: the tables of the commands' objects (an index's or a
 * constraint's table), those Ferry replicates, each recorded once. Returns
 * after one lookup for DDL of any other object (CREATE TABLE of a new table).
 */
const commandFunction = `CREATE OR REPLACE FUNCTION ferry.capture_ddl() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS $ferry$
  DECLARE
    ferry_tables oid[];
  BEGIN
    SELECT array_agg(DISTINCT r.table_oid) INTO ferry_tables
      FROM pg_event_trigger_ddl_commands() cmd
      JOIN ferry.ddl_tables r ON r.table_oid = CASE
             WHEN cmd.classid = 'pg_class'::regclass THEN COALESCE((SELECT x.indrelid FROM pg_index x WHERE x.indexrelid = cmd.objid), cmd.objid)
             WHEN cmd.classid = 'pg_constraint'::regclass THEN (SELECT k.conrelid FROM pg_constraint k WHERE k.oid = cmd.objid) END;
    IF ferry_tables IS NULL THEN RETURN; END IF;
    PERFORM ferry.record_ddl(t, tg_tag, NULL) FROM unnest(ferry_tables) t;
  END
  $ferry$`;

/** sql_drop: DROP INDEX of an index of a replicated table (other drops reach the target through ddl_command_end, or stop the group). */
const dropFunction = `CREATE OR REPLACE FUNCTION ferry.capture_ddl_drop() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS $ferry$
  BEGIN
    IF tg_tag <> 'DROP INDEX' THEN RETURN; END IF;
    PERFORM ferry.record_ddl(d.table_oid, tg_tag, d.names)
       FROM (SELECT r.table_oid, array_agg(DISTINCT o.object_name) AS names
               FROM pg_event_trigger_dropped_objects() o JOIN ferry.ddl_tables r ON o.objid = ANY (r.indexes)
              WHERE o.object_type = 'index' GROUP BY r.table_oid) d;
  END
  $ferry$`;

/** The functions, written afresh by every init (CREATE OR REPLACE): for this server version and every capture method. */
export function ddlCaptureFunctions(version: number, recorders: Readonly<Record<string, string>>): string[] {
  return [
    definitionFunction(version),
    recordFunction(recorders),
    commandFunction,
    dropFunction,
    // Only the event triggers run these with Ferry's rights; nobody may write into a stream through them.
    `REVOKE ALL ON FUNCTION ferry.record_ddl(oid, text, text[]) FROM PUBLIC`,
    `REVOKE ALL ON FUNCTION ferry.capture_ddl() FROM PUBLIC`,
    `REVOKE ALL ON FUNCTION ferry.capture_ddl_drop() FROM PUBLIC`,
  ];
}

export const ddlCaptureSql = {
  /** Serialises installs and removals by concurrent inits and drops. */
  lock: `SELECT pg_advisory_xact_lock(hashtext('ferry.ddl_capture'))`,
  createSchema: `CREATE SCHEMA IF NOT EXISTS ferry`,
  versionTableExists: `SELECT to_regclass('ferry.ddl_capture_version') IS NOT NULL AS present`,
  installedVersion: `SELECT version FROM ferry.ddl_capture_version`,
  setVersion: `UPDATE ferry.ddl_capture_version SET version = $1`,
  installed: `SELECT to_regclass('ferry.ddl_tables') IS NOT NULL AS present`,
  /** Whether this role may create event triggers: a superuser, or on RDS and Aurora a member of rds_superuser. */
  privilege: `SELECT r.rolsuper OR EXISTS (SELECT 1 FROM pg_roles s WHERE s.rolname = 'rds_superuser' AND pg_has_role(current_user, s.oid, 'MEMBER')) AS allowed,
                     current_setting('server_version_num')::int AS version
                FROM pg_roles r WHERE r.rolname = current_user`,
  eventTriggers: `SELECT evtname AS name FROM pg_event_trigger WHERE evtname IN ('${EVENT_TRIGGER}', '${DROP_EVENT_TRIGGER}')`,
  createEventTrigger: [
    `CREATE EVENT TRIGGER ${EVENT_TRIGGER} ON ddl_command_end EXECUTE PROCEDURE ferry.capture_ddl()`,
    // Fires in sessions with session_replication_role = replica too, as capture's row triggers do.
    `ALTER EVENT TRIGGER ${EVENT_TRIGGER} ENABLE ALWAYS`,
  ],
  createDropEventTrigger: [
    `CREATE EVENT TRIGGER ${DROP_EVENT_TRIGGER} ON sql_drop WHEN TAG IN ('DROP INDEX') EXECUTE PROCEDURE ferry.capture_ddl_drop()`,
    `ALTER EVENT TRIGGER ${DROP_EVENT_TRIGGER} ENABLE ALWAYS`,
  ],
  /** A group's tables now ($3: oids; $2 its capture method), with their index oids; tables it no longer has are forgotten. */
  registerGroup: `WITH gone AS (DELETE FROM ferry.ddl_tables WHERE group_name = $1 AND table_oid <> ALL ($3::oid[]))
                  INSERT INTO ferry.ddl_tables (table_oid, group_name, capture, indexes)
                  SELECT t, $1, $2, ARRAY(SELECT indexrelid FROM pg_index WHERE indrelid = t) FROM unnest($3::oid[]) t
                  ON CONFLICT (table_oid, group_name) DO UPDATE SET capture = EXCLUDED.capture, indexes = EXCLUDED.indexes`,
  unregisterGroup: `DELETE FROM ferry.ddl_tables WHERE group_name = $1`,
  groupsLeft: `SELECT count(DISTINCT group_name)::int AS n FROM ferry.ddl_tables`,
  /** Whether group $1's tables are recorded, and the event triggers there and enabled. */
  status: `SELECT EXISTS (SELECT 1 FROM ferry.ddl_tables WHERE group_name = $1) AS registered,
                  (SELECT count(*) FROM pg_event_trigger WHERE evtname IN ('${EVENT_TRIGGER}', '${DROP_EVENT_TRIGGER}') AND evtenabled <> 'D')::int AS enabled`,
  definition: `SELECT ferry.ddl_table_definition($1) AS definition`,
  dropAll: [
    `DROP EVENT TRIGGER IF EXISTS ${EVENT_TRIGGER}`,
    `DROP EVENT TRIGGER IF EXISTS ${DROP_EVENT_TRIGGER}`,
    `DROP FUNCTION IF EXISTS ferry.capture_ddl(), ferry.capture_ddl_drop(), ferry.record_ddl(oid, text, text[]), ferry.ddl_table_definition(oid)`,
    `DROP TABLE IF EXISTS ferry.ddl_tables, ferry.ddl_capture_version`,
  ],
  /** Only if nothing else lives there (trigger capture's queues, a target's control schema). */
};
