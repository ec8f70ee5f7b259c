import { qualifiedName, quoteIdent, quoteLiteral } from '../../pg/connect.js';

/**
 * Every statement trigger capture runs on the source lives here: the
 * versioned `ferry` schema, each group's queue, capture function and
 * triggers, ticks, reading a batch, releasing and rotating queue tables, and
 * removing it all again.
 *
 * A group's queue is a table partitioned into QUEUE_TABLES slots. Capture
 * writes into the current slot; `ferry run` switches to the next one now and
 * then (rotation) and empties a slot with TRUNCATE once every event in it is
 * applied on the target and no transaction can still write into it.
 */
export const QUEUE_TABLES = 3;

/** `migrations[i]` brings the shared part of the source's ferry schema from version i to i+1. */
export const migrations: readonly string[] = [
  `
  CREATE TABLE ferry.trigger_schema_version (version integer NOT NULL);
  INSERT INTO ferry.trigger_schema_version VALUES (0);

  -- One row per group captured by triggers.
  CREATE TABLE ferry.queues (
    group_name  text PRIMARY KEY,
    -- The group's tables (roots of partitioned ones), to map partitions back to them.
    tables      regclass[] NOT NULL,
    -- The last tick the target has committed: every batch up to it is applied.
    acked_tick  bigint NOT NULL DEFAULT 0,
    acked_at    timestamptz,
    rotated_at  timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now()
  );

  -- The queue's tables: the one capture writes into ('current'), ones no
  -- longer written to but not yet emptied ('retired', with the transaction
  -- that retired them), and emptied ones ('empty').
  CREATE TABLE ferry.queue_slots (
    group_name    text NOT NULL REFERENCES ferry.queues ON DELETE CASCADE,
    slot          smallint NOT NULL,
    state         text NOT NULL CHECK (state IN ('current', 'retired', 'empty')),
    retired_txid  bigint,
    PRIMARY KEY (group_name, slot)
  );

  -- A tick is a transaction snapshot: the batch after tick N-1 up to tick N
  -- holds the events of transactions visible in N's snapshot and not in N-1's.
  CREATE TABLE ferry.ticks (
    group_name     text NOT NULL REFERENCES ferry.queues ON DELETE CASCADE,
    tick_id        bigint NOT NULL,
    snapshot       txid_snapshot NOT NULL,
    last_event_id  bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_name, tick_id)
  );
  `,
  `
  -- Which layout of queue and capture function a group was installed with.
  ALTER TABLE ferry.queues ADD COLUMN capture_version integer NOT NULL DEFAULT 1;
  `,
];

/** Names of one group's objects in the source's ferry schema. */
export interface QueueNames {
  readonly group: string;
  readonly queue: string;
  readonly slot: (n: number) => string;
  readonly eventId: string;
  readonly rotation: string;
  readonly capture: string;
  readonly trigger: (kind: 'insert' | 'update' | 'delete' | 'truncate' | 'row') => string;
}

export function queueNames(group: string): QueueNames {
  return {
    group,
    queue: qualifiedName('ferry', `${group}_events`),
    slot: (n) => qualifiedName('ferry', `${group}_events_${n}`),
    eventId: qualifiedName('ferry', `${group}_event_id`),
    rotation: qualifiedName('ferry', `${group}_rotation`),
    capture: qualifiedName('ferry', `${group}_capture`),
    trigger: (kind) => quoteIdent(`ferry_${group}_${kind}`),
  };
}

/**
 * The output settings under which every value's text reads back exactly on
 * the target: an ISO DateStyle (with a numeric zone offset, whatever the
 * TimeZone), postgres intervals, hex bytea, and floats printed in full
 * (shortest-exact from PostgreSQL 12 on for any positive extra_float_digits).
 * A trigger runs with the application's settings; where they differ, the
 * capture function switches them for its own call and back (see below).
 */
function usualOutputSettings(sourceVersion: number): string {
  return `current_setting('DateStyle') LIKE 'ISO%' AND current_setting('IntervalStyle') = 'postgres'
      AND current_setting('bytea_output') = 'hex' AND current_setting('extra_float_digits')::int >= ${sourceVersion >= 120000 ? 1 : 3}`;
}
const OUTPUT_SETTINGS = [['DateStyle', 'ISO, MDY'], ['IntervalStyle', 'postgres'], ['bytea_output', 'hex'], ['extra_float_digits', '3']] as const;

/** The version of a group's queue and capture function, recorded in ferry.queues when a group is installed. */
export const CAPTURE_VERSION = 2;

/**
 * The one capture function of a group, for any table and any column types:
 * rows are stored as their composite text (`row::text`, columns in attnum
 * order), which the stream parses without per-table code. A table may have
 * columns of any name, so rows are written `(n.*)` rather than `n`, and the
 * function's own variables win over same-named columns (`use_variable`).
 *
 * - Statement triggers with transition tables write a whole statement's rows
 *   with one INSERT … SELECT, in the order the statement changed them. An
 *   UPDATE's old and new transition tables hold each row at the same
 *   position: numbered in scan order, they pair up into one event per row
 *   (a join streams, where arrays of a huge UPDATE would not fit in memory).
 *   The common single-row UPDATE skips the numbering, which costs about a
 *   third of the trigger's time.
 * - Row triggers (partitioned tables) store one event per row, old and new
 *   together.
 * - `txid_current()` comes first: the transaction's id exists before the
 *   current queue table is read, which the rotation rule relies on. The
 *   rotation sequence is read afresh on every call (sequences are not
 *   subject to snapshots), so after a switch only a call already under way
 *   can still write into the old table. (pg_sequence_last_value, a plain
 *   function call, costs far less per call than a SELECT from the sequence.)
 * - Event ids come from a sequence without cache: conflicting writes are
 *   ordered by their row locks, and so are their event ids.
 * - Nesting: a statement run by a trigger of another statement (a user's
 *   AFTER ROW trigger that writes, or a BEFORE trigger) captures its events
 *   before the outer statement's, whose statement trigger fires last; but
 *   an AFTER trigger's changes come after the outer statement's. So a
 *   capture at trigger depth > 1 leaves a transaction-local marker (the
 *   last event id before it, valid for the current client statement), and
 *   the next capture at a lower depth claims the deeper events written
 *   since: it gives them a sort path that starts with a key taken after its
 *   own events (`ev_path`, `ev_level` = the shallowest depth that claimed
 *   them). Batches are read in order of (first path key or ev_id, path):
 *   each statement before the statements its triggers ran, in the order
 *   they ran, to any depth. Every key is taken by a capture that runs after
 *   the rows it orders were changed and locked, so writes of other
 *   transactions keep their lock order. Without nesting, `ev_path` is NULL
 *   and the order is ev_id's. (A foreign key's cascade needs none of this:
 *   its statement's triggers fire after the outer statement's, at depth 1.)
 * - SECURITY DEFINER: the application's roles need no rights on the queue.
 *   Its search_path is pinned, so that no function, operator or type of the
 *   caller's schemas runs with Ferry's rights (and regclass values print
 *   the same for every writer). The output settings are switched only for
 *   callers whose settings differ, which the common case does not pay for.
 */
export function captureFunction(names: QueueNames, sourceVersion: number): string {
  const columns = 'ev_id, ev_txid, ev_rel, ev_op, ev_new, ev_old, ev_level';
  const insertInto = (slot: number) => `INSERT INTO ${names.slot(slot)} (${columns})`;
  const next = `nextval('${names.eventId}')`;
  const nest = `'ferry.nest_${names.group}'`;
  const nestAt = `'ferry.nest_${names.group}_at'`;
  const nestDeep = `'ferry.nest_${names.group}_deep'`;
  const branches = Array.from({ length: QUEUE_TABLES }, (_, slot) => `
    ${slot === 0 ? 'IF' : 'ELSIF'} ferry_slot = ${slot} THEN
      IF TG_LEVEL = 'ROW' THEN
        IF TG_OP = 'INSERT' THEN
          ${insertInto(slot)} VALUES (${next}, ferry_xid, TG_RELID, 'I', NEW::text, NULL, ferry_depth);
        ELSIF TG_OP = 'UPDATE' THEN
          ${insertInto(slot)} VALUES (${next}, ferry_xid, TG_RELID, 'U', NEW::text, OLD::text, ferry_depth);
        ELSE
          ${insertInto(slot)} VALUES (${next}, ferry_xid, TG_RELID, 'D', NULL, OLD::text, ferry_depth);
        END IF;
      ELSIF TG_OP = 'INSERT' THEN
        ${insertInto(slot)} SELECT ${next}, ferry_xid, TG_RELID, 'I', (n.*)::text, NULL, ferry_depth FROM ferry_new n;
      ELSIF TG_OP = 'UPDATE' THEN
        -- (A separate IF: a condition naming ferry_new is planned even where it does not exist.)
        IF (SELECT count(*) FROM (SELECT FROM ferry_new LIMIT 2) s) = 1 THEN
          ${insertInto(slot)} SELECT ${next}, ferry_xid, TG_RELID, 'U', (n.*)::text, (o.*)::text, ferry_depth FROM ferry_new n, ferry_old o;
        ELSE
          ${insertInto(slot)} SELECT ${next}, ferry_xid, TG_RELID, 'U', n.r, o.r, ferry_depth
            FROM (SELECT row_number() OVER () AS i, (t.*)::text AS r FROM ferry_new t) n
            JOIN (SELECT row_number() OVER () AS i, (t.*)::text AS r FROM ferry_old t) o ON o.i = n.i
           ORDER BY n.i;
        END IF;
      ELSIF TG_OP = 'DELETE' THEN
        ${insertInto(slot)} SELECT ${next}, ferry_xid, TG_RELID, 'D', NULL, (o.*)::text, ferry_depth FROM ferry_old o;
      ELSE
        ${insertInto(slot)} VALUES (${next}, ferry_xid, TG_RELID, 'T', NULL, NULL, ferry_depth);
      END IF;`).join('');
  const setAll = (values: (i: number) => string) => `PERFORM ${OUTPUT_SETTINGS.map(([name], i) => `set_config('${name}', ${values(i)}, true)`).join(', ')};`;
  return `CREATE OR REPLACE FUNCTION ${names.capture}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS $ferry$
  #variable_conflict use_variable
  DECLARE
    ferry_xid bigint := txid_current();
    ferry_slot smallint := pg_sequence_last_value('${names.rotation}') % ${QUEUE_TABLES};
    ferry_depth smallint := pg_trigger_depth();
    ferry_saved text[];
    ferry_claim bigint;
  BEGIN
    IF NOT (${usualOutputSettings(sourceVersion)}) THEN
      ferry_saved := ARRAY[${OUTPUT_SETTINGS.map(([name]) => `current_setting('${name}')`).join(', ')}];
      ${setAll((i) => `'${OUTPUT_SETTINGS[i]?.[1]}'`)}
    END IF;
    IF ferry_depth > 1 THEN
      -- The marker: the last event id before the first unclaimed event, the client statement, the deepest unclaimed level.
      IF current_setting(${nestAt}, true) IS DISTINCT FROM statement_timestamp()::text THEN
        PERFORM set_config(${nest}, COALESCE(pg_sequence_last_value('${names.eventId}'), 0)::text, true),
                set_config(${nestAt}, statement_timestamp()::text, true), set_config(${nestDeep}, ferry_depth::text, true);
      ELSIF current_setting(${nestDeep})::int < ferry_depth THEN
        PERFORM set_config(${nestDeep}, ferry_depth::text, true);
      END IF;
    END IF;${branches}
    END IF;
    IF current_setting(${nest}, true) <> '' THEN
      IF current_setting(${nestAt}, true) = statement_timestamp()::text AND current_setting(${nestDeep})::int > ferry_depth THEN
        ferry_claim := ${next};${Array.from({ length: QUEUE_TABLES }, (_, slot) => `
        UPDATE ${names.slot(slot)} SET ev_path = ARRAY[ferry_claim] || COALESCE(ev_path, ARRAY[ev_id]), ev_level = ferry_depth
         WHERE ev_txid = ferry_xid AND ev_id > current_setting(${nest})::bigint AND ev_level > ferry_depth;`).join('')}
        PERFORM set_config(${nestDeep}, ferry_depth::text, true);
      END IF;
      IF ferry_depth = 1 OR current_setting(${nestAt}, true) <> statement_timestamp()::text THEN
        PERFORM set_config(${nest}, '', true), set_config(${nestAt}, '', true);
      END IF;
    END IF;
    IF ferry_saved IS NOT NULL THEN
      ${setAll((i) => `ferry_saved[${i + 1}]`)}
    END IF;
    RETURN NULL;
  END
  $ferry$`;
}

/** The queue of a group: sequences, the queue tables and a view over them all. */
export function queueTables(names: QueueNames): string[] {
  const statements = [
    `CREATE SEQUENCE ${names.eventId} CACHE 1`,
    `CREATE SEQUENCE ${names.rotation} MINVALUE 0 START 0 CACHE 1`,
    // Marked as called, so that pg_sequence_last_value reads 0 rather than NULL.
    `SELECT setval('${names.rotation}', 0, true)`,
  ];
  for (let slot = 0; slot < QUEUE_TABLES; slot++) {
    // Plain tables, not partitions of one: capture writes into the current one by name, with no partition routing.
    // Emptied by TRUNCATE, never vacuumed for dead rows: autovacuum has nothing to do here.
    statements.push(`CREATE TABLE ${names.slot(slot)} (
       ev_id     bigint NOT NULL,
       ev_txid   bigint NOT NULL,
       ev_rel    oid NOT NULL,
       ev_op     "char" NOT NULL,
       ev_new    text,
       ev_old    text,
       ev_level  smallint NOT NULL,
       ev_path   bigint[]
     ) WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)`);
    // Batches find their transactions' events by ev_txid; a capture claims one transaction's events after an ev_id.
    statements.push(`CREATE INDEX ON ${names.slot(slot)} (ev_txid, ev_id)`);
  }
  statements.push(`CREATE VIEW ${names.queue} AS ${Array.from({ length: QUEUE_TABLES }, (_, slot) => `SELECT * FROM ${names.slot(slot)}`).join(' UNION ALL ')}`);
  return statements;
}

type Table = { readonly schema: string; readonly name: string };

/** Statement triggers with transition tables: one call per statement, however many rows. */
export function tableTriggers(names: QueueNames, table: Table): string[] {
  const on = qualifiedName(table.schema, table.name);
  const run = `EXECUTE PROCEDURE ${names.capture}()`;
  return [
    `CREATE TRIGGER ${names.trigger('insert')} AFTER INSERT ON ${on} REFERENCING NEW TABLE AS ferry_new FOR EACH STATEMENT ${run}`,
    `CREATE TRIGGER ${names.trigger('update')} AFTER UPDATE ON ${on} REFERENCING OLD TABLE AS ferry_old NEW TABLE AS ferry_new FOR EACH STATEMENT ${run}`,
    `CREATE TRIGGER ${names.trigger('delete')} AFTER DELETE ON ${on} REFERENCING OLD TABLE AS ferry_old FOR EACH STATEMENT ${run}`,
    `CREATE TRIGGER ${names.trigger('truncate')} AFTER TRUNCATE ON ${on} FOR EACH STATEMENT ${run}`,
    ...(['insert', 'update', 'delete', 'truncate'] as const).map((k) => enableAlways(on, names.trigger(k))),
  ];
}

/**
 * A partitioned table: transition tables are not allowed on row triggers of
 * partitions, and a statement on a partition does not fire its root's
 * statement triggers, so a row trigger on the root (cloned to every
 * partition, present and future). TRUNCATE fires per truncated table: a
 * TRUNCATE trigger on the root and on each partition (statement triggers
 * are not cloned: partitions created later get theirs from
 * partitionCapture).
 */
export function partitionedTriggers(names: QueueNames, root: Table, partitions: readonly Table[]): string[] {
  const on = qualifiedName(root.schema, root.name);
  const run = `EXECUTE PROCEDURE ${names.capture}()`;
  return [
    `CREATE TRIGGER ${names.trigger('row')} AFTER INSERT OR UPDATE OR DELETE ON ${on} FOR EACH ROW ${run}`,
    enableAlways(on, names.trigger('row')),
    ...[root, ...partitions].flatMap((table) => truncateTrigger(names, qualifiedName(table.schema, table.name))),
  ];
}

function truncateTrigger(names: QueueNames, on: string): string[] {
  return [
    `CREATE TRIGGER ${names.trigger('truncate')} AFTER TRUNCATE ON ${on} FOR EACH STATEMENT EXECUTE PROCEDURE ${names.capture}()`,
    enableAlways(on, names.trigger('truncate')),
  ];
}

/** The TRUNCATE trigger of a partition found by `partitionsToCapture` (qualified, quoted). */
export function partitionCapture(names: QueueNames, partition: string): string[] {
  return truncateTrigger(names, partition);
}

/** Fires even in sessions with session_replication_role = replica (a source that is itself a replica). */
function enableAlways(table: string, trigger: string): string {
  return `ALTER TABLE ${table} ENABLE ALWAYS TRIGGER ${trigger}`;
}

export const triggerSql = {
  /** Serialises installs and removals of the shared schema by concurrent inits. */
  lockSchema: `SELECT pg_advisory_xact_lock(hashtext('ferry.trigger_schema'))`,
  createSchema: `CREATE SCHEMA IF NOT EXISTS ferry`,
  schemaVersionExists: `SELECT to_regclass('ferry.trigger_schema_version') IS NOT NULL AS present`,
  installedVersion: `SELECT version FROM ferry.trigger_schema_version`,
  setVersion: `UPDATE ferry.trigger_schema_version SET version = $1`,

  settings: `SELECT current_setting('server_version_num')::int AS version, current_user AS user_name, current_database() AS database,
                    r.rolsuper AS superuser, has_database_privilege(current_database(), 'CREATE') AS can_create,
                    n.oid IS NOT NULL AS schema_exists, COALESCE(pg_has_role(n.nspowner, 'USAGE'), false) AS schema_owned,
                    EXISTS (SELECT 1 FROM pg_language WHERE lanname = 'plpgsql') AS plpgsql
               FROM pg_roles r LEFT JOIN pg_namespace n ON n.nspname = 'ferry'
              WHERE r.rolname = current_user`,
  ownsTable: `SELECT pg_has_role(c.relowner, 'USAGE') AS owner, pg_get_userbyid(c.relowner) AS owner_name FROM pg_class c WHERE c.oid = $1`,
  registryExists: `SELECT to_regclass('ferry.queues') IS NOT NULL AS present`,
  queueExists: `SELECT EXISTS (SELECT 1 FROM ferry.queues WHERE group_name = $1) AS present`,

  insertQueue: `INSERT INTO ferry.queues (group_name, tables, capture_version) VALUES ($1, $2::regclass[], $3)`,
  addQueueTables: `UPDATE ferry.queues SET tables = ARRAY(SELECT DISTINCT unnest(tables || $2::regclass[])) WHERE group_name = $1`,
  removeQueueTables: `UPDATE ferry.queues SET tables = ARRAY(SELECT t FROM unnest(tables) t WHERE t::oid <> ALL (SELECT to_regclass(n)::oid FROM unnest($2::text[]) n))
                       WHERE group_name = $1`,
  /** A table and, if partitioned, every partition under it, qualified and quoted; nothing if it no longer exists. */
  tableAndPartitions: `WITH RECURSIVE family(oid) AS (
                         SELECT to_regclass($1)::oid WHERE to_regclass($1) IS NOT NULL
                         UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN family f ON i.inhparent = f.oid)
                       SELECT oid::regclass::text AS name FROM family`,
  insertSlots: `INSERT INTO ferry.queue_slots (group_name, slot, state)
                SELECT $1, s, CASE WHEN s = 0 THEN 'current' ELSE 'empty' END FROM generate_series(0, ${QUEUE_TABLES - 1}) s`,
  deleteQueue: `DELETE FROM ferry.queues WHERE group_name = $1`,
  queueCount: `SELECT count(*)::int AS n FROM ferry.queues`,
  dropShared: `DROP TABLE IF EXISTS ferry.ticks, ferry.queue_slots, ferry.queues, ferry.trigger_schema_version`,
  /** Only if nothing else lives there (a target's control schema of another deployment, say). */
  /** capture_version is missing until the first init of a newer Ferry adds it: those queues are version 1. */
  queueTables: `SELECT tables::oid[]::bigint[] AS tables, COALESCE((to_jsonb(q) ->> 'capture_version')::int, 1) AS capture_version
                  FROM ferry.queues q WHERE group_name = $1`,

  /** Taken before a tick's snapshot, so ticks of one group are numbered in snapshot order. */
  lockQueue: `SELECT 1 FROM ferry.queues WHERE group_name = $1 FOR UPDATE`,
  /** A tick with this statement's snapshot ($2 NULL) or a given one (the initial copy's). */
  insertTick(names: QueueNames): string {
    return `INSERT INTO ferry.ticks (group_name, tick_id, snapshot, last_event_id)
            SELECT $1, COALESCE(max(tick_id), 0) + 1, COALESCE($2::txid_snapshot, txid_current_snapshot()), ${lastEventId(names)}
              FROM ferry.ticks WHERE group_name = $1
            RETURNING tick_id::text AS tick_id`;
  },
  exportSnapshot: `SELECT pg_export_snapshot() AS name, txid_current_snapshot()::text AS snapshot`,
  /**
   * Ticks after $2, oldest first, with their time as microseconds since
   * 2000-01-01 (PostgreSQL's epoch). Ordered by the column, not by the text
   * output of the same name ('10' sorts before '9'): the stream must visit
   * every tick, or a batch would span the tick a copy was read under.
   */
  ticksAfter: `SELECT t.tick_id::text AS tick_id, t.snapshot::text AS snapshot,
                      ((extract(epoch FROM t.created_at) - 946684800) * 1000000)::bigint::text AS time_us
                 FROM ferry.ticks t WHERE t.group_name = $1 AND t.tick_id > $2 ORDER BY t.tick_id LIMIT $3`,
  tick: `SELECT tick_id::text AS tick_id, snapshot::text AS snapshot,
                ((extract(epoch FROM created_at) - 946684800) * 1000000)::bigint::text AS time_us
           FROM ferry.ticks WHERE group_name = $1 AND tick_id = $2`,
  /**
   * The newest tick, and whether events arrived after it: new event ids, or
   * a transaction that had queued events when the tick was taken and has
   * ended since (its events took no new ids, but the next batch holds them).
   */
  latestTick(names: QueueNames): string {
    return `SELECT t.tick_id::text AS tick_id, t.created_at,
                   ${lastEventId(names)} > t.last_event_id
                   OR EXISTS (SELECT FROM txid_snapshot_xip(t.snapshot) x(txid)
                               WHERE txid_visible_in_snapshot(x.txid, txid_current_snapshot())
                                 AND EXISTS (SELECT FROM ${names.queue} e WHERE e.ev_txid = x.txid)) AS events_after
              FROM ferry.ticks t WHERE t.group_name = $1 ORDER BY t.tick_id DESC LIMIT 1`;
  },

  /**
   * The events of the transactions visible in tick B's snapshot ($4) and not
   * in tick A's ($5), in event id order, except that a statement's events
   * come before those of statements its triggers ran (see captureFunction).
   * Such a transaction is either in progress in A ($3, its xip list) or at
   * or after A's xmax ($1); it is before B's xmax ($2). Those bounds let the
   * ev_txid indexes find them.
   */
  openBatch(names: QueueNames): string {
    return `DECLARE ferry_batch NO SCROLL CURSOR FOR
            SELECT ev_txid::text, ev_rel::bigint::text, ev_op::text, ev_new, ev_old FROM ${names.queue}
             WHERE ((ev_txid >= $1::bigint AND ev_txid < $2::bigint) OR ev_txid = ANY ($3::bigint[]))
               AND txid_visible_in_snapshot(ev_txid, $4::txid_snapshot)
               AND NOT txid_visible_in_snapshot(ev_txid, $5::txid_snapshot)
             ORDER BY COALESCE(ev_path[1], ev_id), ev_path`;
  },
  /**
   * The same batch as openBatch, one transaction after another: in order of
   * each transaction's sort key (the highest first-path-key of its events),
   * each transaction's events in openBatch's order. A transaction that
   * waited for another's row lock wrote after that one committed, so its key
   * is higher: replaying whole transactions in key order is replaying them
   * in an order their conflicts agree with, and a target that commits
   * between two of them holds a consistent state. Keys are unique (one
   * sequence), so "the transactions up to key K" is an exact place to
   * resume from; $6 skips them ($7, if not null, keeps only those: verify
   * reads what a target inside the batch holds). Also returned: the key, the events up to
   * and including the transaction, and the batch's events in all.
   * (The key filter sits outside the window functions, so the counts are
   * the whole batch's.)
   */
  openParts(names: QueueNames): string {
    return `DECLARE ferry_batch NO SCROLL CURSOR FOR
            WITH txs AS (
              SELECT ev_txid, max(COALESCE(ev_path[1], ev_id)) AS tx_key, count(*) AS n FROM ${names.queue}
               WHERE ((ev_txid >= $1::bigint AND ev_txid < $2::bigint) OR ev_txid = ANY ($3::bigint[]))
                 AND txid_visible_in_snapshot(ev_txid, $4::txid_snapshot)
                 AND NOT txid_visible_in_snapshot(ev_txid, $5::txid_snapshot)
               GROUP BY ev_txid),
            ordered AS (
              SELECT ev_txid, tx_key, sum(n) OVER (ORDER BY tx_key) AS upto, sum(n) OVER () AS total FROM txs)
            SELECT e.ev_txid::text, e.ev_rel::bigint::text, e.ev_op::text, e.ev_new, e.ev_old, t.tx_key::text, t.upto::text, t.total::text
              FROM ordered t JOIN ${names.queue} e ON e.ev_txid = t.ev_txid
             WHERE t.tx_key > $6::bigint AND ($7::bigint IS NULL OR t.tx_key <= $7::bigint)
             ORDER BY t.tx_key, COALESCE(e.ev_path[1], e.ev_id), e.ev_path`;
  },
  fetchBatch: (rows: number) => `FETCH ${rows} FROM ferry_batch`,
  closeBatch: `CLOSE ferry_batch`,

  /** The source's clock, which lag in seconds is measured on. */
  clock: `SELECT clock_timestamp() AS now`,
  acknowledge: `UPDATE ferry.queues SET acked_tick = $2, acked_at = now() WHERE group_name = $1 AND acked_tick < $2`,
  /** Ticks before the acknowledged one are never read again (a restart resumes at or after it). */
  forgetTicks: `DELETE FROM ferry.ticks WHERE group_name = $1 AND tick_id < $2`,
  /**
   * Retired slots that may be emptied now. The rotation recorded a txid
   * assigned after the switch: every transaction that could still write into
   * the old table has a smaller id. Once the acknowledged tick's snapshot
   * has an xmin above it, all of them have ended and their events are applied.
   */
  releasableSlots: `SELECT s.slot FROM ferry.queue_slots s JOIN ferry.ticks t ON t.group_name = s.group_name AND t.tick_id = $2
                     WHERE s.group_name = $1 AND s.state = 'retired' AND txid_snapshot_xmin(t.snapshot) > s.retired_txid`,
  truncateSlot: (names: QueueNames, slot: number) => `TRUNCATE ${names.slot(slot)}`,
  markSlotEmpty: `UPDATE ferry.queue_slots SET state = 'empty', retired_txid = NULL WHERE group_name = $1 AND slot = $2`,
  /** Emptying waits for nobody: a slot busy now is emptied on a later round. */
  shortLockTimeout: `SET LOCAL lock_timeout = '1s'`,

  rotationState(names: QueueNames): string {
    return `SELECT (SELECT last_value FROM ${names.rotation})::text AS rotation,
                   (extract(epoch FROM now() - q.rotated_at) * 1000)::float8 AS age_ms,
                   (SELECT json_object_agg(s.slot, s.state) FROM ferry.queue_slots s WHERE s.group_name = q.group_name) AS slots
              FROM ferry.queues q WHERE q.group_name = $1`;
  },
  /** Capture wrote into this slot (an idle queue does not rotate). */
  slotHasEvents: (names: QueueNames, slot: number) => `SELECT EXISTS (SELECT 1 FROM ${names.slot(slot)}) AS present`,
  /** The switch itself; autocommitted before `recordRotation`, which then takes a txid assigned after it. */
  rotate: (names: QueueNames) => `SELECT setval('${names.rotation}', $1::bigint)`,
  recordRotation: `WITH switched AS (
                     UPDATE ferry.queue_slots
                        SET state = CASE WHEN slot = $2 THEN 'current' ELSE 'retired' END,
                            retired_txid = CASE WHEN slot = $2 THEN NULL ELSE txid_current() END
                      WHERE group_name = $1 AND (slot = $2 OR state = 'current')
                      RETURNING slot)
                   UPDATE ferry.queues SET rotated_at = now() WHERE group_name = $1 AND EXISTS (SELECT 1 FROM switched)`,

  status(names: QueueNames): string {
    return `SELECT q.acked_tick::text AS acked_tick, t.tick_id::text AS latest_tick, t.created_at AS latest_tick_at,
                   COALESCE(${lastEventId(names)} > t.last_event_id, false) AS events_after,
                   -- Event ids drawn after the acknowledged tick (before the first acknowledgement: the initial copy's tick):
                   -- the events waiting, ids of rolled-back writes included.
                   (${lastEventId(names)} - (SELECT a.last_event_id FROM ferry.ticks a
                                              WHERE a.group_name = q.group_name
                                                AND a.tick_id <= GREATEST(q.acked_tick, (SELECT min(m.tick_id) FROM ferry.ticks m WHERE m.group_name = q.group_name))
                                              ORDER BY a.tick_id DESC LIMIT 1))::text AS pending_events,
                   (${Array.from({ length: QUEUE_TABLES }, (_, n) => `COALESCE(pg_total_relation_size(to_regclass(${quoteLiteral(names.slot(n))})), 0)`).join(' + ')})::text
                     AS queue_bytes
              FROM ferry.queues q LEFT JOIN LATERAL (
                     SELECT tick_id, created_at, last_event_id FROM ferry.ticks WHERE group_name = q.group_name ORDER BY tick_id DESC LIMIT 1) t ON true
             WHERE q.group_name = $1`;
  },

  /** Removing a group: the function first (CASCADE takes its triggers along), then its queue. */
  dropCapture: (names: QueueNames) => `DROP FUNCTION IF EXISTS ${names.capture}() CASCADE`,
  /** 'v' for a view over the queue tables; a queue installed before capture version 2 is a partitioned table. */
  queueKind: `SELECT relkind::text AS kind FROM pg_class WHERE oid = to_regclass($1)`,
  dropQueue: (names: QueueNames, view: boolean) =>
    `${view ? `DROP VIEW ${names.queue}; ` : ''}DROP TABLE IF EXISTS ${[...Array.from({ length: QUEUE_TABLES }, (_, slot) => names.slot(slot)), names.queue].join(', ')}`,
  dropSequences: (names: QueueNames) => `DROP SEQUENCE IF EXISTS ${names.eventId}, ${names.rotation}`,
  /**
   * Partitions, at any depth, of the group's tables ($1) that lack capture's
   * TRUNCATE trigger ($2): partitions created after the capture was
   * installed. (Their clone of the row trigger is there, and fires always
   * like the root's.)
   */
  partitionsToCapture: `WITH RECURSIVE tree(oid) AS (
                          SELECT unnest($1::bigint[])::oid UNION ALL SELECT i.inhrelid FROM tree JOIN pg_inherits i ON i.inhparent = tree.oid)
                        SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
                          FROM tree JOIN pg_class c ON c.oid = tree.oid JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE c.relispartition AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = $2)`,
  /** How long DDL on the application's tables may wait for their locks before giving up. */
  ddlLockTimeout: `SET LOCAL lock_timeout = '10s'`,
};

/** The last event id handed out (0 before the first). */
function lastEventId(names: QueueNames): string {
  return `(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ${names.eventId})`;
}
