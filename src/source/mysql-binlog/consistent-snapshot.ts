import mysql, { type Connection } from 'mysql2/promise';
import { FerryError } from '../../errors.js';
import { connectionOptions, type Flavor } from './binlog-connection.js';
import { compareFilePositions, MySqlGtidSet, parseMariaDbGtidList, type FilePosition, type MariaDbGtid } from './binlog-position.js';
import type { MySqlTableName } from './mysql-prerequisites.js';
import { binlogEnd } from './binlog-files.js';
import { mysqlQuote } from './mysql-names.js';

/**
 * A consistent snapshot for the copy, and where the binlog stream starts so
 * that copy + stream give every change exactly once.
 *
 * Each worker is a connection inside `START TRANSACTION WITH CONSISTENT
 * SNAPSHOT` (InnoDB's read view, taken at that statement) that sees exactly
 * the transactions whose binlog events end at or before its `position`:
 * a transaction ending after it is not in that worker's rows and reaches
 * the target through the stream. How the position is found:
 *
 * - MariaDB, `lock: 'none'` (the default there): MariaDB takes the read
 *   view and the binlog position together, under the binlog's commit lock,
 *   and shows them as the session's `binlog_snapshot_file` /
 *   `binlog_snapshot_position` (the same thing `mariadb-dump
 *   --single-transaction --master-data` relies on). No lock, no writer
 *   waits. But each worker's snapshot is its own moment: N workers report N
 *   positions. We keep them rather than line them up with a lock (a global
 *   read lock stalls every writer of the server, and needs RELOAD): the
 *   stream starts at the earliest (`start`), and a change of a table copied
 *   by worker w is skipped when its transaction ends at or before w's
 *   position (`inSnapshot`), since w's rows already hold it. Each table is
 *   then copied by one worker (binlog-init.ts), so each table has exactly
 *   one such position.
 * - MySQL has no such status: the position must be read while no
 *   transaction writing the tables can commit. `lock: 'flush-tables'`
 *   (`FLUSH TABLES WITH READ LOCK`, needs RELOAD) blocks every commit;
 *   `lock: 'lock-tables'` (`LOCK TABLES … READ` on the group's tables, needs
 *   LOCK TABLES and SELECT) waits for the transactions holding them to end
 *   and blocks new writes to them only. Under the lock every worker opens
 *   its snapshot, the position is read once (`SHOW BINARY LOG STATUS`, 8.4;
 *   `SHOW MASTER STATUS` before) with `gtid_executed`, then the lock is
 *   released: all workers share one position. The lock lasts a few round
 *   trips. `LOCK INSTANCE FOR BACKUP` (BACKUP_ADMIN) is not one of the
 *   choices: it blocks DDL but lets DML commit, so a position read under it
 *   does not match the snapshot. `lock: 'auto'` takes FLUSH TABLES WITH READ
 *   LOCK where the user has RELOAD, else LOCK TABLES.
 *
 * MariaDB accepts the lock path too (then every worker shares one
 * position), which is how it is tested.
 */
export type SnapshotLock = 'none' | 'flush-tables' | 'lock-tables';

export interface SnapshotPosition {
  readonly file: FilePosition;
  /** MariaDB: the GTID position at `file` (`BINLOG_GTID_POS`); set on `start`. */
  readonly mariaDbGtids?: readonly MariaDbGtid[];
  /** MySQL: `gtid_executed` at the position (empty set when GTIDs are off). */
  readonly mysqlExecuted?: MySqlGtidSet;
}

export interface SnapshotWorker {
  /** In its snapshot transaction, session `time_zone = '+00:00'` as the copy's SELECT needs. */
  readonly connection: Connection;
  readonly position: SnapshotPosition;
}

export interface ConsistentSnapshot {
  readonly flavor: Flavor;
  readonly lock: SnapshotLock;
  readonly workers: readonly SnapshotWorker[];
  /** Where the stream starts: the earliest worker position, with its GTIDs. */
  readonly start: SnapshotPosition;
  /** Ends every worker's transaction and connection. */
  close(): Promise<void>;
}

export interface SnapshotOptions {
  readonly workers: number;
  /** The tables to copy: LOCK TABLES locks them. */
  readonly tables: readonly MySqlTableName[];
  /** Default `auto`: `none` on MariaDB; on MySQL `flush-tables` with RELOAD, else `lock-tables`. */
  readonly lock?: SnapshotLock | 'auto';
  /**
   * How long the lock may wait for running statements (lock_wait_timeout);
   * default 10. While FLUSH TABLES WITH READ LOCK waits, new writes wait
   * behind it, and a statement that itself waits for a row lock of a
   * transaction the lock holds up never finishes: the timeout bounds that
   * stall. On timeout the snapshot fails and may be tried again.
   */
  readonly lockWaitSeconds?: number;
}

const START_SNAPSHOT = 'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY';

export async function openConsistentSnapshot(url: string, options: SnapshotOptions): Promise<ConsistentSnapshot> {
  if (!Number.isInteger(options.workers) || options.workers < 1) {
    throw new FerryError('FERRY_CONFIG', `a snapshot needs at least one worker, not ${options.workers}`);
  }
  const control = await mysql.createConnection(connectionOptions(url));
  const connections: Connection[] = [];
  try {
    const [versionRows] = await control.query('SELECT VERSION() AS version');
    const flavor: Flavor = /mariadb/i.test((versionRows as { version: string }[])[0]?.version ?? '') ? 'mariadb' : 'mysql';
    const lock = options.lock === undefined || options.lock === 'auto' ? await chooseLock(control, flavor) : options.lock;
    if (lock === 'none' && flavor === 'mysql') {
      throw new FerryError('FERRY_MYSQL_SNAPSHOT_LOCK', 'a MySQL snapshot cannot be lined up with a binlog position without a lock',
        'use lock flush-tables (RELOAD) or lock-tables (LOCK TABLES)');
    }
    for (let i = 0; i < options.workers; i++) {
      const c = await mysql.createConnection(connectionOptions(url));
      connections.push(c);
      await c.query("SET SESSION time_zone = '+00:00'");
      await c.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    }

    let workers: SnapshotWorker[];
    if (lock === 'none') {
      workers = [];
      for (const c of connections) {
        await c.query(START_SNAPSHOT);
        workers.push({ connection: c, position: { file: await mariaDbSnapshotPosition(c) } });
      }
    } else {
      const position = await underLock(control, flavor, lock, options, async () => {
        for (const c of connections) await c.query(START_SNAPSHOT);
      });
      workers = connections.map((c) => ({ connection: c, position }));
    }

    const earliest = workers.map((w) => w.position).reduce((a, b) => (compareFilePositions(b.file, a.file) < 0 ? b : a));
    const start = flavor === 'mariadb' && !earliest.mariaDbGtids
      ? { ...earliest, mariaDbGtids: await gtidsAt(control, earliest.file) }
      : earliest;
    return {
      flavor, lock, workers, start,
      async close() {
        await Promise.all(connections.map((c) => c.end().catch(() => undefined)));
      },
    };
  } catch (err) {
    await Promise.all(connections.map((c) => c.end().catch(() => undefined)));
    throw err;
  } finally {
    await control.end().catch(() => undefined);
  }
}

/**
 * Whether a worker's rows already hold a transaction that ends at
 * `transactionEnd` (the position after its last event): then the stream
 * skips that transaction's changes of the worker's tables.
 */
export function inSnapshot(worker: SnapshotPosition, transactionEnd: FilePosition): boolean {
  return compareFilePositions(transactionEnd, worker.file) <= 0;
}


async function chooseLock(control: Connection, flavor: Flavor): Promise<SnapshotLock> {
  if (flavor === 'mariadb') return 'none';
  // USER_PRIVILEGES may list other accounts' grants too (a user who may read them): only this account's count.
  const [rows] = await control.query(`SELECT COUNT(*) AS n FROM information_schema.USER_PRIVILEGES
    WHERE PRIVILEGE_TYPE = 'RELOAD' AND GRANTEE = CONCAT("'", SUBSTRING_INDEX(CURRENT_USER(), '@', 1), "'@'", SUBSTRING_INDEX(CURRENT_USER(), '@', -1), "'")`);
  return Number((rows as { n: number | string }[])[0]?.n ?? 0) > 0 ? 'flush-tables' : 'lock-tables';
}

/** Takes the lock, runs `during` (the workers open their snapshots), reads the position, unlocks whatever happened. */
async function underLock(control: Connection, flavor: Flavor, lock: Exclude<SnapshotLock, 'none'>, options: SnapshotOptions,
  during: () => Promise<void>): Promise<SnapshotPosition> {
  await control.query(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.round(options.lockWaitSeconds ?? 10))}`);
  if (lock === 'flush-tables') {
    await control.query('FLUSH TABLES WITH READ LOCK');
  } else {
    if (options.tables.length === 0) throw new FerryError('FERRY_MYSQL_SNAPSHOT_LOCK', 'LOCK TABLES needs the tables to lock');
    await control.query(`LOCK TABLES ${options.tables.map((t) => `${mysqlQuote(t.database)}.${mysqlQuote(t.name)} READ`).join(', ')}`);
  }
  try {
    await during();
    const file = await binlogEnd(control);
    // MariaDB's GTID position at the place is read after the lock (for `start`): BINLOG_GTID_POS reads the binlog, and every writer waits meanwhile.
    if (flavor === 'mariadb') return { file };
    const [rows] = await control.query('SELECT @@global.gtid_executed AS executed');
    return { file, mysqlExecuted: MySqlGtidSet.parse((rows as { executed: string }[])[0]?.executed ?? '') };
  } finally {
    await control.query('UNLOCK TABLES');
  }
}


async function mariaDbSnapshotPosition(c: Connection): Promise<FilePosition> {
  const [rows] = await c.query("SHOW SESSION STATUS LIKE 'binlog_snapshot_%'");
  const status = new Map((rows as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name.toLowerCase(), r.Value]));
  const file = status.get('binlog_snapshot_file');
  const offset = status.get('binlog_snapshot_position');
  if (!file || offset === undefined) {
    throw new FerryError('FERRY_MYSQL_LOG_BIN', 'the source shows no binlog position for the snapshot: its binary log is off', 'turn log_bin on (see the prerequisites)');
  }
  return { file, offset: Number(offset) };
}

/** MariaDB's GTID position at a binlog file and offset, which a GTID dump resumes from. */
async function gtidsAt(c: Connection, at: FilePosition): Promise<MariaDbGtid[]> {
  const [rows] = await c.query('SELECT BINLOG_GTID_POS(?, ?) AS pos', [at.file, at.offset]);
  const pos = (rows as { pos: string | null }[])[0]?.pos;
  if (pos === null || pos === undefined) {
    throw new FerryError('FERRY_BINLOG_POSITION', `MariaDB has no GTID position for ${at.file}:${at.offset}: the file was purged or the offset is not a transaction boundary`);
  }
  return parseMariaDbGtidList(pos);
}
