import { qualifiedName, quoteIdent } from '../../pg/connect.js';

/** Every statement WAL capture runs on the source to set itself up, check itself, or clean up. */
export const walSql = {
  settings: `SELECT current_setting('server_version_num')::int AS version,
                    current_setting('wal_level') AS wal_level,
                    current_setting('max_replication_slots')::int AS max_slots,
                    (SELECT count(*) FROM pg_replication_slots)::int AS used_slots,
                    current_setting('max_wal_senders')::int AS max_wal_senders,
                    r.rolsuper AS superuser, r.rolreplication AS replication,
                    has_database_privilege(current_database(), 'CREATE') AS can_create
               FROM pg_roles r WHERE r.rolname = current_user`,
  /** Who the checks speak of. */
  whoAmI: `SELECT current_user AS user_name, current_database() AS database`,
  slot: `SELECT slot_name, plugin, database = current_database() AS same_database, active, active_pid,
                confirmed_flush_lsn::text AS confirmed_flush, restart_lsn::text AS restart_lsn,
                (pg_current_wal_lsn() - restart_lsn)::bigint AS retained_bytes,
                -- PostgreSQL 13+ only: read through jsonb so that older servers answer null instead of failing.
                to_jsonb(s) ->> 'wal_status' AS wal_status, (to_jsonb(s) ->> 'safe_wal_size')::bigint AS safe_wal_size
           FROM pg_replication_slots s WHERE slot_name = $1`,
  /** The source's cap on what a slot may retain (PostgreSQL 13+; -1: none, null: an older server without the setting). */
  maxSlotWalKeepSize: `SELECT setting::bigint AS value, unit FROM pg_settings WHERE name = 'max_slot_wal_keep_size'`,
  dropSlot: `SELECT pg_drop_replication_slot($1)`,
  /** A slot held by a dead walsender is released after wal_sender_timeout; ask it to go now. */
  terminateSlotHolder: `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`,
  publicationExists: `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1) AS present`,
  /** Where the source's WAL is and its clock, for lag measured on the source's time. */
  currentLsnAndTime: `SELECT pg_current_wal_lsn()::text AS lsn, clock_timestamp() AS now`,
  /** A transactional marker: once a group has applied past it, it has applied everything committed before it. */
  emitMarker: `SELECT pg_logical_emit_message(true, 'ferry', $1)::text AS lsn`,
  emitMessage: `SELECT pg_logical_emit_message(true, $1, $2)`,
  ownsTable: `SELECT pg_has_role(c.relowner, 'USAGE') AS owner FROM pg_class c WHERE c.oid = $1`,
  /** The tables publication $1 sends changes of, qualified and quoted. */
  publishedTables: `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name FROM pg_publication_tables WHERE pubname = $1`,

  /**
   * Changes of a partitioned table's partitions are published as changes of
   * each partition (publish_via_partition_root off, the default), so that a
   * TRUNCATE of one partition is sent too: through the root, pgoutput skips it.
   */
  createPublication(name: string, tables: readonly { schema: string; name: string }[]): string {
    return `CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${tables.map((t) => qualifiedName(t.schema, t.name)).join(', ')}`;
  },
  /** Whether publication $1 sends partitions' changes as their root's (publications Ferry made before it published partitions). */
  publishesViaRoot: `SELECT COALESCE((to_jsonb(p) ->> 'pubviaroot')::boolean, false) AS via_root FROM pg_publication p WHERE p.pubname = $1`,
  publishPartitions(name: string): string {
    return `ALTER PUBLICATION ${quoteIdent(name)} SET (publish_via_partition_root = false)`;
  },
  setPublicationTables(name: string, tables: readonly { schema: string; name: string }[]): string {
    return `ALTER PUBLICATION ${quoteIdent(name)} SET TABLE ${tables.map((t) => qualifiedName(t.schema, t.name)).join(', ')}`;
  },
  /** Of the tables $2 (qualified, quoted), those publication $1 names itself (`member`) or not. */
  publicationMembership: `SELECT n AS name, EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
                                                      WHERE p.pubname = $1 AND pr.prrelid = to_regclass(n)) AS member
                            FROM unnest($2::text[]) n WHERE to_regclass(n) IS NOT NULL`,
  addPublicationTables(name: string, tables: string): string {
    return `ALTER PUBLICATION ${quoteIdent(name)} ADD TABLE ${tables}`;
  },
  dropPublicationTables(name: string, tables: string): string {
    return `ALTER PUBLICATION ${quoteIdent(name)} DROP TABLE ${tables}`;
  },
  dropPublication(name: string): string {
    return `DROP PUBLICATION IF EXISTS ${quoteIdent(name)}`;
  },
};
