/**
 * Every statement Ferry runs against its control schema on the target lives
 * here. The schema is versioned: `migrations[i]` brings version i to i+1, and
 * `ferry.schema_version` records what is installed.
 *
 * Positions are the capture method's own (see source/position.ts): `bytea`
 * whose order is stream order, passed in and read out as hex, so the
 * statements here compare them without knowing what they are.
 */

/** A pg_lsn as 8 bytes big-endian: how every position was stored before positions were the capture method's own. */
const pgLsnBytes = (column: string) =>
  `decode(lpad(split_part(${column}::text, '/', 1), 8, '0') || lpad(split_part(${column}::text, '/', 2), 8, '0'), 'hex')`;

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
    -- Target tables init created (and so finishes with indexes after the copy).
    created_tables    text[] NOT NULL DEFAULT '{}',
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

  -- The initial copy, cut into chunks planned once and copied in parallel.
  -- A chunk's rows commit together with copied_at and snapshot_lsn, the
  -- position of the snapshot they were read under, so a crash never
  -- repeats a finished chunk and streaming knows which changes it holds.
  CREATE TABLE ferry.copy_chunks (
    group_name    text NOT NULL REFERENCES ferry.groups ON DELETE CASCADE,
    table_name    text NOT NULL,
    chunk         integer NOT NULL,
    chunk_count   integer NOT NULL,
    plan          jsonb NOT NULL,
    estimated_bytes bigint NOT NULL DEFAULT 0,
    rows          bigint,
    bytes         bigint,
    format        text,
    snapshot_lsn  pg_lsn,
    copied_at     timestamptz,
    PRIMARY KEY (group_name, table_name, chunk)
  );
  `,
  `
  -- How batches were applied: set-based, or change by change in source order
  -- (the fallback, which the log explains batch by batch).
  ALTER TABLE ferry.groups ADD COLUMN batches_set_based bigint NOT NULL DEFAULT 0,
                           ADD COLUMN batches_in_order bigint NOT NULL DEFAULT 0;
  COMMENT ON COLUMN ferry.groups.source_commit_time IS
    'source clock time up to which the target is caught up: the last applied commit, or a later moment the source was idle';
  `,
  `
  -- Trigger capture applies a large batch in parts: the target then stands
  -- inside the batch after tick position_lsn, its transactions applied up to
  -- sort key position_part (NULL: at the tick itself), part_events of
  -- part_events_total events.
  ALTER TABLE ferry.groups ADD COLUMN position_part bigint,
                           ADD COLUMN part_events bigint,
                           ADD COLUMN part_events_total bigint;
  `,
  `
  -- Changes of a table that joins a streaming group, held while it is copied
  -- so that the group's other tables keep streaming. Written in the same
  -- transaction as the batch they came with; applied (those the copy does not
  -- hold already) and deleted in one transaction once the copy is done.
  CREATE TABLE ferry.held_changes (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_name   text NOT NULL REFERENCES ferry.groups ON DELETE CASCADE,
    table_name   text NOT NULL,
    position     pg_lsn NOT NULL,
    change       jsonb NOT NULL
  );
  CREATE INDEX ON ferry.held_changes (group_name, table_name, seq);
  `,
  `
  -- The columns of each source table as the stream last described them, with
  -- their source attribute numbers, so that a rename is told from a drop and
  -- an add. Written in the apply transaction that acts on a new description.
  CREATE TABLE ferry.source_columns (
    group_name   text NOT NULL REFERENCES ferry.groups ON DELETE CASCADE,
    relation_id  bigint NOT NULL,
    table_name   text NOT NULL,
    columns      jsonb NOT NULL,
    PRIMARY KEY (group_name, relation_id)
  );
  -- Every schema change of the source applied to the target, in stream order.
  CREATE TABLE ferry.schema_changes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_name   text NOT NULL REFERENCES ferry.groups ON DELETE CASCADE,
    position     text NOT NULL,
    table_name   text NOT NULL,
    statement    text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now()
  );
  `,
  `
  -- The definition of each source table (columns, indexes, constraints) as
  -- DDL capture last recorded it, so that an index or constraint the source
  -- dropped is told from one created on the target alone. Written in the
  -- apply transaction that brings the target table in line with it.
  CREATE TABLE ferry.source_definitions (
    group_name   text NOT NULL REFERENCES ferry.groups ON DELETE CASCADE,
    relation_id  bigint NOT NULL,
    table_name   text NOT NULL,
    definition   jsonb NOT NULL,
    PRIMARY KEY (group_name, relation_id)
  );
  `,
  `
  -- A switchover to this target (ferry switchover), step by step, so that a
  -- re-run after a crash continues where it was. fence holds what the fence
  -- changed on the source (the previous settings), so lifting it restores
  -- them; foreign_keys the ones it created (dropped again on an abort).
  -- status: running (before the point of no return), committed (past it),
  -- done, aborted.
  CREATE TABLE ferry.switchovers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    groups        text[] NOT NULL,
    status        text NOT NULL CHECK (status IN ('running', 'committed', 'done', 'aborted')),
    fence         jsonb NOT NULL,
    reverse       boolean NOT NULL,
    steps         jsonb NOT NULL DEFAULT '[]',
    foreign_keys  jsonb NOT NULL DEFAULT '[]',
    drained_at    text,
    reason        text,
    started_at    timestamptz NOT NULL DEFAULT now(),
    fenced_at     timestamptz,
    finished_at   timestamptz
  );
  -- A fence a switchover left on this database when it stopped being the
  -- primary (it is then the target of the reverse groups): the switchover
  -- that makes it the primary again lifts it.
  CREATE TABLE ferry.standing_fences (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fence         jsonb NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
  );
  `,
  `
  -- Positions become the capture method's own: bytes whose order is stream
  -- order, compared here without knowing what they hold. Until now they were
  -- pg_lsn (trigger capture wrote its tick id as an LSN, and the key of a
  -- part of the batch after it in position_part). Both methods encode what
  -- was stored as it was: the LSN, or the tick, as 8 bytes big-endian, and
  -- then the part's key the same way.
  ALTER TABLE ferry.groups ALTER COLUMN position_lsn TYPE bytea
    USING ${pgLsnBytes('position_lsn')} || COALESCE(int8send(position_part), ''::bytea);
  ALTER TABLE ferry.groups DROP COLUMN position_part;
  ALTER TABLE ferry.groups RENAME COLUMN position_lsn TO position;
  COMMENT ON COLUMN ferry.groups.position IS
    'how far the group is applied, as its capture method encodes it (bytes in stream order); ferry status shows it';
  ALTER TABLE ferry.copy_chunks ALTER COLUMN snapshot_lsn TYPE bytea USING ${pgLsnBytes('snapshot_lsn')};
  ALTER TABLE ferry.copy_chunks RENAME COLUMN snapshot_lsn TO snapshot_position;
  ALTER TABLE ferry.held_changes ALTER COLUMN position TYPE bytea USING ${pgLsnBytes('position')};
  `,
];

export const sql = {
  createSchema: `CREATE SCHEMA IF NOT EXISTS ferry`,
  controlSchemaExists: `SELECT to_regclass('ferry.groups') IS NOT NULL AS present`,
  installedVersion: `SELECT version FROM ferry.schema_version`,
  setVersion: `UPDATE ferry.schema_version SET version = $1`,
  /** Serialises concurrent `ferry init` runs on one target. */
  lockSchema: `SELECT pg_advisory_xact_lock(hashtext('ferry.control'))`,
  dropSchema: `DROP SCHEMA IF EXISTS ferry CASCADE`,

  group: `SELECT group_name, capture, state, slot_name, publication_name, tables, encode(position, 'hex') AS position,
                 source_commit_time, applied_at, rows_applied, transactions_applied, last_error, last_error_at, last_error_fatal,
                 batches_set_based, batches_in_order, part_events::text, part_events_total::text,
                 (SELECT count(*) FROM ferry.held_changes h WHERE h.group_name = g.group_name)::text AS held_changes
            FROM ferry.groups g WHERE group_name = $1`,
  allGroups: `SELECT group_name, capture, state, slot_name, publication_name, tables, encode(position, 'hex') AS position,
                     source_commit_time, applied_at, rows_applied, transactions_applied, last_error, last_error_at, last_error_fatal,
                     batches_set_based, batches_in_order, part_events::text, part_events_total::text,
                     (SELECT count(*) FROM ferry.held_changes h WHERE h.group_name = g.group_name)::text AS held_changes
                FROM ferry.groups g ORDER BY group_name`,
  insertGroup: `INSERT INTO ferry.groups (group_name, capture, state, slot_name, publication_name, tables)
                VALUES ($1, $2, 'copying', $3, $4, $5)`,
  deleteGroup: `DELETE FROM ferry.groups WHERE group_name = $1`,
  groupCount: `SELECT count(*)::int AS n FROM ferry.groups`,
  /**
   * The copy of table $2 ($3 quoted; for a partition, of the table above it
   * that the group names): whether a chunk waits to be copied, whether
   * one was copied under a snapshot after position $4, and whether changes
   * of it are held.
   */
  joiningTable: `SELECT table_name, bool_or(copied_at IS NULL) AS pending, bool_or(snapshot_position > decode($4, 'hex')) AS newer,
                        EXISTS (SELECT 1 FROM ferry.held_changes h WHERE h.group_name = $1 AND h.table_name = chunk.table_name) AS held
                   FROM ferry.copy_chunks chunk
                  WHERE group_name = $1
                    AND (table_name = $2 OR table_name IN (
                          WITH RECURSIVE up(oid) AS (SELECT to_regclass($3)::oid UNION ALL SELECT i.inhparent FROM pg_inherits i JOIN up ON i.inhrelid = up.oid)
                          SELECT n.nspname || '.' || c.relname FROM up JOIN pg_class c ON c.oid = up.oid JOIN pg_namespace n ON n.oid = c.relnamespace))
                  GROUP BY table_name`,
  /** Tables $2 leave the group, tables $3 join it; a rename the stream records meanwhile stays. */
  changeGroupTables: `UPDATE ferry.groups SET tables = ARRAY(SELECT t FROM unnest(tables) t WHERE t <> ALL ($2::text[]))
                                                || ARRAY(SELECT t FROM unnest($3::text[]) t WHERE t <> ALL (tables))
                       WHERE group_name = $1`,
  forgetTables: `WITH held AS (DELETE FROM ferry.held_changes WHERE group_name = $1 AND table_name = ANY($2::text[]))
                 DELETE FROM ferry.copy_chunks WHERE group_name = $1 AND table_name = ANY($2::text[])`,
  /** Of the tables in $2, those whose copy is finished. */
  copiedTables: `SELECT table_name FROM ferry.copy_chunks WHERE group_name = $1 AND table_name = ANY($2::text[])
                  GROUP BY table_name HAVING bool_and(copied_at IS NOT NULL)`,
  /** Changes held for joining tables ($2: table names, $3: positions, $4: the changes), in source order. */
  holdChanges: `INSERT INTO ferry.held_changes (group_name, table_name, position, change)
                SELECT $1, t, decode(p, 'hex'), c FROM unnest($2::text[], $3::text[], $4::jsonb[]) WITH ORDINALITY AS h(t, p, c, n) ORDER BY n`,
  /** Tables with held changes whose copy is finished: theirs can be applied now. */
  heldTablesCopied: `SELECT DISTINCT h.table_name FROM ferry.held_changes h
                      WHERE h.group_name = $1
                        AND NOT EXISTS (SELECT 1 FROM ferry.copy_chunks c WHERE c.group_name = $1 AND c.table_name = h.table_name AND c.copied_at IS NULL)`,
  /** The copied chunks of tables $2, with the snapshot each was read under. */
  copiedChunks: `SELECT table_name, plan, encode(snapshot_position, 'hex') AS snapshot_position FROM ferry.copy_chunks
                  WHERE group_name = $1 AND table_name = ANY($2::text[]) AND snapshot_position IS NOT NULL`,
  /** The next $4 held changes of tables $2 after sequence number $3. */
  heldChanges: `SELECT h.seq::text AS seq, encode(h.position, 'hex') AS position, h.change FROM ferry.held_changes h
                 WHERE h.group_name = $1 AND h.table_name = ANY($2::text[]) AND h.seq > $3::bigint ORDER BY h.seq LIMIT $4`,
  /** Tables $2 left the group: a table of the same oid joining again later is new to it. */
  forgetDescriptions: `DELETE FROM ferry.source_columns WHERE group_name = $1 AND table_name = ANY($2::text[])`,
  /** The source tables (by oid) a group has a description of, whatever their names are now. */
  describedTables: `SELECT relation_id::bigint AS relation_id, table_name FROM ferry.source_columns WHERE group_name = $1`,
  knownColumns: `SELECT table_name, columns FROM ferry.source_columns WHERE group_name = $1 AND relation_id = $2`,
  groupKnownColumns: `SELECT relation_id::text AS relation_id, columns FROM ferry.source_columns WHERE group_name = $1`,
  recordColumns: `INSERT INTO ferry.source_columns (group_name, relation_id, table_name, columns) VALUES ($1, $2, $3, $4::jsonb)
                  ON CONFLICT (group_name, relation_id) DO UPDATE SET table_name = EXCLUDED.table_name, columns = EXCLUDED.columns`,
  /** A replicated table was renamed on the source (and so on the target): the group's record follows. */
  renameGroupTable: `UPDATE ferry.groups SET tables = array_replace(tables, $2, $3) WHERE group_name = $1`,
  knownDefinition: `SELECT definition FROM ferry.source_definitions WHERE group_name = $1 AND relation_id = $2`,
  recordDefinition: `INSERT INTO ferry.source_definitions (group_name, relation_id, table_name, definition) VALUES ($1, $2, $3, $4::jsonb)
                     ON CONFLICT (group_name, relation_id) DO UPDATE SET table_name = EXCLUDED.table_name, definition = EXCLUDED.definition`,
  /** At init: a definition read now, for tables the stream has not described yet (a recorded one belongs to the group's position). */
  recordDefinitionIfMissing: `INSERT INTO ferry.source_definitions (group_name, relation_id, table_name, definition) VALUES ($1, $2, $3, $4::jsonb)
                              ON CONFLICT (group_name, relation_id) DO NOTHING`,
  /**
   * What DDL capture compares with on target table $1 (qualified): its
   * columns' NOT NULL and defaults (run under withQualifiedNames, as the
   * source's are read), and the names of its indexes and of its check,
   * primary key, unique and exclusion constraints. No row: no such table.
   */
  targetDefinition: `SELECT COALESCE((SELECT json_agg(json_build_object('name', a.attname, 'notNull', a.attnotnull, 'default', pg_get_expr(d.adbin, d.adrelid)))
                                       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns,
                            ARRAY(SELECT ic.relname::text FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid) AS indexes,
                            ARRAY(SELECT k.conname::text FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype IN ('c', 'p', 'u', 'x')) AS constraints
                       FROM pg_class c WHERE c.oid = to_regclass($1)`,
  recordSchemaChange: `INSERT INTO ferry.schema_changes (group_name, position, table_name, statement) VALUES ($1, $2, $3, $4)`,
  /** Target table $1 (qualified), or the root of the partition tree it is in: where ALTER TABLE goes. No row when there is no such table. */
  targetPartitionRoot: `WITH RECURSIVE up(oid, depth) AS (
                           SELECT to_regclass($1)::oid, 0
                            UNION ALL
                           SELECT i.inhparent, up.depth + 1 FROM pg_inherits i JOIN up ON i.inhrelid = up.oid
                             JOIN pg_class child ON child.oid = up.oid AND child.relispartition)
                        SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS root, n.nspname || '.' || c.relname AS label
                          FROM (SELECT oid FROM up WHERE oid IS NOT NULL ORDER BY depth DESC LIMIT 1) top
                          JOIN pg_class c ON c.oid = top.oid JOIN pg_namespace n ON n.oid = c.relnamespace`,
  releaseHeld: `DELETE FROM ferry.held_changes WHERE group_name = $1 AND table_name = ANY($2::text[])`,
  /** Ends the target session applying group $1, so that it starts again and reads its tables' state anew. */
  restartGroupApply: `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                       WHERE datname = current_database() AND application_name = 'ferry:' || $1 AND pid <> pg_backend_pid()`,
  chunks: `SELECT table_name, chunk, chunk_count, plan, estimated_bytes, rows, bytes, encode(snapshot_position, 'hex') AS snapshot_position
             FROM ferry.copy_chunks WHERE group_name = $1 ORDER BY table_name, chunk`,
  /** Every copied chunk of a group, if any was read under a snapshot newer than its position (a resumed copy). */
  chunksIfResumed: `SELECT table_name, plan, encode(snapshot_position, 'hex') AS snapshot_position FROM ferry.copy_chunks
                     WHERE group_name = $1 AND snapshot_position IS NOT NULL
                       AND EXISTS (SELECT 1 FROM ferry.copy_chunks WHERE group_name = $1 AND snapshot_position > decode($2, 'hex'))`,
  insertChunk: `INSERT INTO ferry.copy_chunks (group_name, table_name, chunk, chunk_count, plan, estimated_bytes)
                VALUES ($1, $2, $3, $4, $5, $6)`,
  markChunkCopied: `UPDATE ferry.copy_chunks SET rows = $4, bytes = $5, snapshot_position = decode($6, 'hex'), format = $7, copied_at = now()
                     WHERE group_name = $1 AND table_name = $2 AND chunk = $3`,
  forgetTableChunks: `UPDATE ferry.copy_chunks SET rows = NULL, bytes = NULL, snapshot_position = NULL, copied_at = NULL
                       WHERE group_name = $1 AND table_name = $2`,
  copyProgress: `SELECT group_name, count(*)::int AS chunks, count(copied_at)::int AS chunks_done,
                        COALESCE(sum(rows), 0)::bigint AS rows, COALESCE(sum(bytes), 0)::bigint AS bytes,
                        COALESCE(sum(estimated_bytes), 0)::bigint AS estimated_bytes
                   FROM ferry.copy_chunks GROUP BY group_name`,
  /** The same per table, for metrics and the dashboard. */
  copyProgressByTable: `SELECT group_name, table_name, count(*)::int AS chunks, count(copied_at)::int AS chunks_done,
                               COALESCE(sum(rows), 0)::bigint AS rows, COALESCE(sum(bytes), 0)::bigint AS bytes,
                               COALESCE(sum(estimated_bytes), 0)::bigint AS estimated_bytes
                          FROM ferry.copy_chunks GROUP BY group_name, table_name ORDER BY group_name, table_name`,
  /** The group's capture is set up on the source; the stream will start after position $2. */
  recordStart: `UPDATE ferry.groups SET position = decode($2, 'hex'), part_events = NULL, part_events_total = NULL WHERE group_name = $1`,
  addCreatedTables: `UPDATE ferry.groups SET created_tables = ARRAY(SELECT DISTINCT unnest(created_tables || $2::text[])) WHERE group_name = $1`,
  createdTables: `SELECT created_tables FROM ferry.groups WHERE group_name = $1`,
  startStreaming: `UPDATE ferry.groups SET state = 'streaming', applied_at = now() WHERE group_name = $1`,
  /**
   * Written inside the batch's own transaction: data and position commit
   * together. A position already past this one fails the statement (division
   * by zero, SQLSTATE 22012), so the COMMIT sent after it rolls the batch back.
   * Inside a batch applied in parts (trigger capture), $8 and $9 count its
   * events applied so far and in all, for status.
   */
  advance: `WITH advanced AS (
              UPDATE ferry.groups
                 SET position = decode($2, 'hex'), source_commit_time = COALESCE($3::timestamptz, source_commit_time),
                     applied_at = now(), rows_applied = rows_applied + $4, transactions_applied = transactions_applied + $5,
                     batches_set_based = batches_set_based + $6, batches_in_order = batches_in_order + $7,
                     part_events = $8::bigint, part_events_total = $9::bigint,
                     last_error = NULL, last_error_at = NULL, last_error_fatal = false
               WHERE group_name = $1 AND position <= decode($2, 'hex')
           RETURNING 1)
            SELECT 1 / count(*)::int AS advanced FROM advanced`,
  /**
   * The source was idle up to $2 at its time $3, and everything before was
   * applied: the position and the caught-up time move on without a batch, so
   * a quiet group's lag reads 0 (PostgreSQL 15+ sends no empty transactions).
   */
  recordIdle: `UPDATE ferry.groups SET position = decode($2, 'hex'), source_commit_time = GREATEST(source_commit_time, $3::timestamptz)
                WHERE group_name = $1 AND position < decode($2, 'hex')`,
  /** Group $1 was retired by a switchover that passed its point of no return (ferry switchover). */
  switchedOver: `SELECT 1 FROM ferry.switchovers WHERE $1 = ANY(groups) AND status IN ('committed', 'done')`,
  recordError: `UPDATE ferry.groups SET last_error = $2, last_error_at = now(), last_error_fatal = $3 WHERE group_name = $1`,

  /**
   * Session-level lock held by the process applying a group, so that two
   * `ferry run` never apply the same group at once.
   */
  tryLockGroup: `SELECT pg_try_advisory_lock(hashtext('ferry.group'), hashtext($1)) AS locked`,
  groupLockHolder: `SELECT l.pid, a.client_addr::text AS client_addr, a.application_name
                      FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
                     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                       AND l.classid::int = hashtext('ferry.group') AND l.objid::int = hashtext($1)`,
  /**
   * Session-level lock held while a table joins a streaming group or is
   * copied again (init, resync, or ferry run itself): one such copy per
   * group at a time, and a copy left unfinished with no one holding this
   * lock was interrupted.
   */
  lockGroupCopy: `SELECT pg_advisory_lock(hashtext('ferry.copy'), hashtext($1))`,
  tryLockGroupCopy: `SELECT pg_try_advisory_lock(hashtext('ferry.copy'), hashtext($1)) AS locked`,
  unlockGroupCopy: `SELECT pg_advisory_unlock(hashtext('ferry.copy'), hashtext($1))`,
  /** Tables of the group with chunks still to copy. */
  unfinishedCopies: `SELECT DISTINCT table_name FROM ferry.copy_chunks WHERE group_name = $1 AND copied_at IS NULL`,
  /** This connection's backend, named by pid and start time (a pid alone may be reused). */
  ownBackend: `SELECT pid, backend_start::text AS backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()`,
  /** Ends an earlier backend of this process that a lost connection left behind, and only that one. */
  terminateBackend: `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2::timestamptz`,
} as const;
