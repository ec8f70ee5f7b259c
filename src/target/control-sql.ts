/**
 * Every statement Ferry runs against its control schema on the target lives
 * here. The schema is versioned: `migrations[i]` brings version i to i+1, and
 * `ferry.schema_version` records what is installed.
 */
export const CONTROL_SCHEMA = 'ferry';

export const migrations: readonly string[] = [
  `
  CREATE TABLE ferry.schema_version (version integer NOT NULL);
  INSERT INTO ferry.schema_version VALUES (0);

  -- One row per group: its state and the position applied on this target.
  -- The position is written in the same transaction as the data it covers.
  CREATE TABLE ferry.groups (
    group_name        text PRIMARY KEY,
    capture           text NOT NULL,
    state             text NOT NULL CHECK (state IN ('copying', 'streaming')),
    slot_name         text,
    publication_name  text,
    tables            text[] NOT NULL DEFAULT '{}',
    position_lsn      pg_lsn,
    source_commit_time timestamptz,
    applied_at        timestamptz,
    rows_applied      bigint NOT NULL DEFAULT 0,
    transactions_applied bigint NOT NULL DEFAULT 0,
    last_error        text,
    last_error_at     timestamptz,
    -- The group stopped on this error (not a connection loss it retries).
    last_error_fatal  boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now()
  );

  -- Tables of a group whose initial copy has finished.
  CREATE TABLE ferry.copied_tables (
    group_name  text NOT NULL REFERENCES ferry.groups ON DELETE CASCADE,
    table_name  text NOT NULL,
    rows        bigint NOT NULL,
    copied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_name, table_name)
  );
  `,
];

export const sql = {
  schemaExists: `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'ferry') AS present`,
  createSchema: `CREATE SCHEMA IF NOT EXISTS ferry`,
  installedVersion: `SELECT version FROM ferry.schema_version`,
  setVersion: `UPDATE ferry.schema_version SET version = $1`,
  /** Serialises concurrent `ferry init` runs on one target. */
  lockSchema: `SELECT pg_advisory_xact_lock(hashtext('ferry.control'))`,
  dropSchema: `DROP SCHEMA IF EXISTS ferry CASCADE`,

  group: `SELECT group_name, capture, state, slot_name, publication_name, tables, position_lsn::text AS position,
                 source_commit_time, applied_at, rows_applied, transactions_applied, last_error, last_error_at, last_error_fatal
            FROM ferry.groups WHERE group_name = $1`,
  allGroups: `SELECT group_name, capture, state, slot_name, publication_name, tables, position_lsn::text AS position,
                     source_commit_time, applied_at, rows_applied, transactions_applied, last_error, last_error_at, last_error_fatal
                FROM ferry.groups ORDER BY group_name`,
  insertGroup: `INSERT INTO ferry.groups (group_name, capture, state, slot_name, publication_name, tables)
                VALUES ($1, $2, 'copying', $3, $4, $5)`,
  deleteGroup: `DELETE FROM ferry.groups WHERE group_name = $1`,
  copiedTables: `SELECT table_name FROM ferry.copied_tables WHERE group_name = $1`,
  markTableCopied: `INSERT INTO ferry.copied_tables (group_name, table_name, rows) VALUES ($1, $2, $3)
                    ON CONFLICT (group_name, table_name) DO UPDATE SET rows = EXCLUDED.rows, copied_at = now()`,
  forgetCopiedTables: `DELETE FROM ferry.copied_tables WHERE group_name = $1`,
  startStreaming: `UPDATE ferry.groups SET state = 'streaming', position_lsn = $2::pg_lsn, applied_at = now()
                   WHERE group_name = $1`,
  /** Written inside the batch's own transaction: data and position commit together. */
  advance: `UPDATE ferry.groups
               SET position_lsn = $2::pg_lsn, source_commit_time = COALESCE($3::timestamptz, source_commit_time),
                   applied_at = now(), rows_applied = rows_applied + $4, transactions_applied = transactions_applied + $5,
                   last_error = NULL, last_error_at = NULL, last_error_fatal = false
             WHERE group_name = $1 AND position_lsn <= $2::pg_lsn`,
  recordError: `UPDATE ferry.groups SET last_error = $2, last_error_at = now(), last_error_fatal = $3 WHERE group_name = $1`,

  /**
   * Session-level lock held by the process applying a group, so that two
   * `ferry run` never apply the same group at once.
   */
  tryLockGroup: `SELECT pg_try_advisory_lock(hashtext('ferry.group'), hashtext($1)) AS locked`,
  unlockGroup: `SELECT pg_advisory_unlock(hashtext('ferry.group'), hashtext($1))`,
  groupLockHolder: `SELECT l.pid, a.client_addr::text AS client_addr, a.application_name
                      FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
                     WHERE l.locktype = 'advisory' AND l.granted
                       AND l.classid::int = hashtext('ferry.group') AND l.objid::int = hashtext($1)`,
} as const;
