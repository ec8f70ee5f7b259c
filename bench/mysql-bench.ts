import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatTable } from '../src/cli/output.js';
import { loadConfig } from '../src/config/load.js';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { startMariaDb, type MariaDb } from '../src/embedded/mariadb.js';
import { FerryError } from '../src/errors.js';
import { waitForCatchUp } from '../src/run/wait.js';
import { waitFor } from './copy-bench.js';
import { FERRY, spawnFerry } from './replicas.js';
import { cpuSeconds, watchCpu } from './process-cpu.js';

/**
 * `npm run bench -- mysql [--rows N] [--changes N] [--parallel N] [--pgloader-with '…']`:
 *
 * 1. Copy: one MariaDB table of `rows` rows (bigint key, int, varchar(64),
 *    decimal(12,2), datetime(6), text; three secondary indexes) into a fresh
 *    PostgreSQL 18 database, by pgloader (its best settings on two cores,
 *    the same indexes built) and by `ferry init` (the built command line,
 *    its own process). Both must end with the same table, its primary key
 *    and its three indexes, and as many rows as the source.
 * 2. Catch-up: `changes` row changes (inserts, updates, deletes; 10 per
 *    transaction) committed on MariaDB while no `ferry run` runs, then
 *    `ferry run` (its own process) timed until `ferry wait`'s check passes;
 *    the same table, rows and changes on a PostgreSQL 18 source read from
 *    its WAL, timed the same way.
 *
 * Every server uses the same throwaway settings (no fsync); the sources'
 * load and changes are not timed, and the servers settle before each timed
 * step (see settleMariaDb).
 */
export interface MySqlBenchOptions {
  /** Rows in the copied table. */
  readonly rows: number;
  /** Row changes in the catch-up backlog (rounded up to whole transactions of 10). */
  readonly changes: number;
  /** Ferry's `copy.parallel`. */
  readonly parallel: number;
  /** pgloader's settings: what its WITH clause says after the options that make it create the table and its indexes. */
  readonly pgloaderWith: string;
}

/**
 * `--rows N`, `--changes N`, `--parallel N` (or `--rows=N`), and
 * `--pgloader-with 'workers = 8, concurrency = 4'` to try other pgloader
 * settings; `--quick` makes the defaults smaller.
 */
export function mysqlBenchOptions(argv: readonly string[], quick: boolean): MySqlBenchOptions {
  const text = (name: string): string | undefined => {
    const flag = `--${name}`;
    const i = argv.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
    if (i < 0) return undefined;
    const arg = argv[i] as string;
    const given = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
    if (given === undefined) throw new Error(`${flag} needs a value`);
    return given;
  };
  const value = (name: string, fallback: number): number => {
    const given = text(name);
    if (given === undefined) return fallback;
    const n = Number(given.replace(/[_,]/g, ''));
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} takes a positive whole number, not ${given}`);
    return n;
  };
  return {
    rows: value('rows', quick ? 500_000 : 5_000_000),
    changes: value('changes', quick ? 100_000 : 1_000_000),
    parallel: value('parallel', 2),
    pgloaderWith: text('pgloader-with') ?? PGLOADER_SETTINGS,
  };
}

const PGLOADER = 'pgloader';

/** The database (MariaDB) and schema (PostgreSQL) of the table; MariaDB's database becomes the PostgreSQL schema of the same name. */
const DB = 'bench';
const TABLE = 'big';
const ROW_CHANGES_PER_TRANSACTION = 10;
const LOAD_BATCH = 500_000;

/** Both targets: room to sort for the index builds, which both copies do at the end. */
const TARGET_SETTINGS = { maintenance_work_mem: "'512MB'" };
/**
 * MariaDB: a buffer pool that holds the table (the throwaway default is
 * 16 MB), a redo log that does not throttle the load, and page flushing as
 * fast as the disk allows, so that the settling between steps is short.
 */
const MARIADB_SETTINGS = { 'innodb-buffer-pool-size': '2G', 'innodb-log-file-size': '1G', 'innodb-io-capacity': 20000, 'innodb-io-capacity-max': 40000 };

/**
 * pgloader: drop and create the table, create its indexes (all at once, in
 * parallel, after the rows), no sequences or foreign keys to handle.
 * Then its best settings on this machine (see PGLOADER_SETTINGS). Casts to
 * the types Ferry gives: int → integer (pgloader makes MariaDB's int(11) a
 * bigint), datetime → timestamp (pgloader's default is timestamptz; MySQL's
 * DATETIME has no time zone).
 */
const PGLOADER_CREATE = 'include drop, create tables, create indexes, reset no sequences, no foreign keys';
/**
 * One reader and two writers (transforming rows, sending COPY) under 4
 * workers, 50,000 rows read ahead. On two cores this was as fast as or
 * faster than the range readers (`multiple readers per thread`), more
 * writers, and pgloader's defaults (workers 4, concurrency 1).
 */
const PGLOADER_SETTINGS = 'workers = 4, concurrency = 2, prefetch rows = 50000';
const PGLOADER_CAST = `type int to integer drop typemod,
     type datetime to timestamp using zero-dates-to-null`;

const MYSQL_SCHEMA = `CREATE DATABASE ${DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
  CREATE TABLE ${DB}.${TABLE} (id bigint NOT NULL PRIMARY KEY, account int, label varchar(64), amount decimal(12,2), created datetime(6), note text) ENGINE = InnoDB`;
const MYSQL_INDEXES = `ALTER TABLE ${DB}.${TABLE} ADD INDEX big_account (account), ADD INDEX big_created (created), ADD INDEX big_label (label)`;
/** A row's values from its key `v`: the same in both sources. */
const mysqlRow = (v: string) => `${v}, ${v} % 100000, concat('label ', md5(${v})), (${v} % 100000) * 0.01,
  TIMESTAMP'2024-01-01 00:00:00' + INTERVAL ${v} SECOND + INTERVAL (${v} % 1000000) MICROSECOND, repeat(md5(${v}), 3)`;
const pgRow = (v: string) => `${v}, ${v} % 100000, 'label ' || md5(${v}::text), (${v} % 100000) * 0.01,
  timestamp '2024-01-01 00:00:00' + ${v} * interval '1 second' + (${v} % 1000000) * interval '1 microsecond', repeat(md5(${v}::text), 3)`;

const PG_SCHEMA = `CREATE SCHEMA ${DB};
  CREATE TABLE ${DB}.${TABLE} (id bigint PRIMARY KEY, account integer, label varchar(64), amount numeric(12,2), created timestamp(6), note text)`;
const PG_INDEXES = `CREATE INDEX big_account ON ${DB}.${TABLE} (account); CREATE INDEX big_created ON ${DB}.${TABLE} (created);
  CREATE INDEX big_label ON ${DB}.${TABLE} (label)`;

/**
 * The backlog, as a procedure run on the source: transaction t inserts 4 new
 * rows (keys above the loaded ones), updates 4 existing rows of the upper
 * half (every row's amount changes, so each is a row change in the binlog
 * too) and deletes 2 rows of the lower half, each deleted once. Exactly 10
 * row changes each, whatever the sizes, as long as 2 × transactions ≤ rows / 2.
 */
const MYSQL_CHURN = `CREATE PROCEDURE ${DB}.churn(n BIGINT, total BIGINT)
BEGIN
  DECLARE t BIGINT DEFAULT 0;
  DECLARE b BIGINT;
  DECLARE k BIGINT;
  DECLARE half BIGINT DEFAULT total DIV 2;
  WHILE t < n DO
    SET b = total + t * 4;
    SET k = half + 1 + (t * 7919) % (total - half - 3);
    START TRANSACTION;
    INSERT INTO ${DB}.${TABLE} SELECT ${mysqlRow('x.v')}
      FROM (SELECT b + 1 AS v UNION ALL SELECT b + 2 UNION ALL SELECT b + 3 UNION ALL SELECT b + 4) x;
    UPDATE ${DB}.${TABLE} SET amount = amount + 1, account = account + 1 WHERE id BETWEEN k AND k + 3;
    DELETE FROM ${DB}.${TABLE} WHERE id BETWEEN t * 2 + 1 AND t * 2 + 2;
    COMMIT;
    SET t = t + 1;
  END WHILE;
END`;
const PG_CHURN = `CREATE PROCEDURE ${DB}.churn(n bigint, total bigint) LANGUAGE plpgsql AS $$
DECLARE
  b bigint;
  k bigint;
  half bigint := total / 2;
BEGIN
  FOR t IN 0..n - 1 LOOP
    b := total + t * 4;
    k := half + 1 + (t * 7919) % (total - half - 3);
    INSERT INTO ${DB}.${TABLE} SELECT ${pgRow('v')} FROM generate_series(b + 1, b + 4) v;
    UPDATE ${DB}.${TABLE} SET amount = amount + 1, account = account + 1 WHERE id BETWEEN k AND k + 3;
    DELETE FROM ${DB}.${TABLE} WHERE id BETWEEN t * 2 + 1 AND t * 2 + 2;
    COMMIT;
  END LOOP;
END $$`;

/** A timed run of a command: wall time, its own CPU, and the servers' CPU while it ran. */
interface Timed {
  readonly seconds: number;
  /** The command's process (all its threads). */
  readonly processCpu: number;
  /** The source server's reader: mariadbd (whole server) or the walsender. */
  readonly sourceCpu: number;
  /** The target's backends. */
  readonly targetCpu: number;
}

interface CopyRow { readonly name: string; readonly run: Timed | undefined; readonly note: string }

export async function mysqlBench(options: MySqlBenchOptions): Promise<void> {
  const { rows, parallel } = options;
  const transactions = Math.ceil(options.changes / ROW_CHANGES_PER_TRANSACTION);
  const changes = transactions * ROW_CHANGES_PER_TRANSACTION;
  if (transactions * 2 > Math.floor(rows / 2)) {
    throw new Error(`--changes ${options.changes} needs at least ${transactions * 4} rows (each transaction deletes 2 rows of the lower half); use more --rows or fewer --changes`);
  }
  console.log(`\nMySQL source: one MariaDB table of ${rows.toLocaleString('en')} rows (bigint key, int, varchar(64), decimal(12,2), datetime(6), text; ` +
    `primary key + 3 secondary indexes); catch-up of ${changes.toLocaleString('en')} row changes (${transactions.toLocaleString('en')} transactions of ` +
    `4 inserts, 4 updates, 2 deletes)`);

  let mariadb: MariaDb;
  try {
    mariadb = await startMariaDb({ settings: MARIADB_SETTINGS });
  } catch (err) {
    if (!(err instanceof FerryError && err.code === 'FERRY_EMBEDDED_MISSING')) throw err;
    console.log(`  skipped: ${err.message} (install: ${err.hint ?? 'MariaDB server'})`);
    return;
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-mysql-'));
  let ferryCopyRow: CopyRow | undefined;
  let pgloaderRow: CopyRow | undefined;
  let binlog: Timed | undefined;
  let wal: Timed | undefined;
  try {
    // ---- MySQL: the copy by pgloader and by ferry init, then the binlog catch-up.
    try {
      console.log(`  ${mariadb.version}, PostgreSQL 18 targets`);
      await fillMariaDb(mariadb, rows);
      // pgloader first: its target is stopped before Ferry's starts, so neither copy shares the machine with the other's autovacuum.
      pgloaderRow = await pgloaderCopy(mariadb, dir, options.pgloaderWith);
      await settleMariaDb(mariadb);

      const ferryTarget = await startCluster({ major: 18, settings: TARGET_SETTINGS });
      try {
        const configPath = path.join(dir, 'ferry-mysql.yaml');
        await writeFile(configPath, configText(mariadb.url(DB, 'replication'), ferryTarget.url(), 'bench', parallel));
        const name = `ferry init (copy.parallel ${parallel})`;
        let ferryInit: Timed | undefined;
        try {
          ferryInit = await timeCommand(FERRY, ['init', '-c', configPath], mariadbCpu(mariadb), ferryTarget);
          console.log(`  ${name}: ${ferryInit.seconds.toFixed(2)} s`);
          await checkCopy(mariadb, ferryTarget, DB, 'ferry');
          ferryCopyRow = { name, run: ferryInit, note: '' };
        } catch (err) {
          // The other measurements still run; this one gives no number.
          console.log(`  ${name} FAILED: ${(err as Error).message}`);
          ferryCopyRow = { name, run: undefined, note: 'failed (see above); no binlog catch-up' };
          ferryInit = undefined;
        }
        if (ferryInit) {
          // The catch-up: the backlog is committed while no ferry run is running.
          await settlePostgres(ferryTarget);
          const started = Date.now();
          await mariadb.query(MYSQL_CHURN);
          await mariadb.query(`CALL ${DB}.churn(?, ?)`, [transactions, rows]);
          console.log(`  MariaDB: ${changes.toLocaleString('en')} row changes committed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
          await settleMariaDb(mariadb);
          binlog = await timeCatchUp(configPath, mariadbCpu(mariadb), undefined, ferryTarget);
          console.log(`  ferry run, binlog: caught up in ${binlog.seconds.toFixed(2)} s`);
          await checkCatchUp(await mysqlSums(mariadb), ferryTarget, 'binlog');
        }
      } finally {
        await ferryTarget.stop();
      }
    } finally {
      await mariadb.stop();
    }

    // ---- PostgreSQL: the same table, rows and changes, read from the WAL.
    const [source, target] = await Promise.all([startCluster({ major: 18 }), startCluster({ major: 18, settings: TARGET_SETTINGS })]);
    try {
      await fillPostgres(source, rows);
      const configPath = path.join(dir, 'ferry-wal.yaml');
      await writeFile(configPath, configText(source.url(), target.url(), 'bench_wal', parallel));
      const init = await timeCommand(FERRY, ['init', '-c', configPath], undefined, target);
      console.log(`  ferry init from PostgreSQL (for reference): ${init.seconds.toFixed(2)} s`);
      await settlePostgres(target);
      const started = Date.now();
      await source.query(PG_CHURN);
      await source.query(`CALL ${DB}.churn($1, $2)`, [transactions, rows]);
      console.log(`  PostgreSQL: ${changes.toLocaleString('en')} row changes committed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      await settlePostgres(source);
      wal = await timeCatchUp(configPath, undefined, source, target);
      console.log(`  ferry run, WAL: caught up in ${wal.seconds.toFixed(2)} s`);
      await checkCatchUp(await pgSums(source), target, 'WAL');
    } finally {
      await Promise.all([source.stop(), target.stop()]);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const copies = [ferryCopyRow, pgloaderRow].filter((r) => r !== undefined);
  const ferryCopy = ferryCopyRow?.run;
  const pgloader = pgloaderRow?.run;
  console.log(`\n${formatTable(['MySQL → PostgreSQL copy', 'rows', 'wall s', 'rows/s', 'speed vs pgloader', 'process CPU s', 'mariadbd CPU s', 'target CPU s', 'note'],
    copies.map(({ name, run, note }) => run === undefined
      ? [name, rows.toLocaleString('en'), '', '', '', '', '', '', note]
      : [name, rows.toLocaleString('en'), run.seconds.toFixed(2), rate(rows, run.seconds),
        pgloader && ferryCopy ? `${(pgloader.seconds / run.seconds).toFixed(2)}×` : '',
        run.processCpu.toFixed(2), run.sourceCpu.toFixed(2), run.targetCpu.toFixed(2), note]))}`);
  if (ferryCopy && pgloader) console.log(`  goal: ferry init ≥ 2× pgloader's speed: ${pgloader.seconds / ferryCopy.seconds >= 2 ? 'met' : 'not met'}`);
  const catchUps: [string, Timed | undefined][] = [['binlog (MariaDB)', binlog], ['WAL (PostgreSQL 18)', wal]];
  console.log(`\n${formatTable(['ferry run catch-up', 'row changes', 'wall s', 'rows/s', 'binlog/WAL speed', 'ferry process CPU s', 'source reader CPU s',
    'target CPU s'],
  catchUps.map(([name, run]) => run === undefined
    ? [name, changes.toLocaleString('en'), 'not run', '', '', '', '', '']
    : [name, changes.toLocaleString('en'), run.seconds.toFixed(2), rate(changes, run.seconds),
      run === binlog && wal ? `${(wal.seconds / binlog.seconds).toFixed(2)}×` : '', run.processCpu.toFixed(2), run.sourceCpu.toFixed(2), run.targetCpu.toFixed(2)]))}`);
  console.log('  source reader CPU: the whole mariadbd (its binlog dump thread), or the walsender.');
  if (binlog && wal) console.log(`  goal: binlog ≥ 0.7× WAL's rows/s: ${wal.seconds / binlog.seconds >= 0.7 ? 'met' : 'not met'}`);
}

function rate(rows: number, seconds: number): string {
  return Math.round(rows / seconds).toLocaleString('en');
}

function configText(sourceUrl: string, targetUrl: string, group: string, parallel: number): string {
  return `source:\n  url: ${sourceUrl}\ntarget:\n  url: ${targetUrl}\ngroups:\n  - name: ${group}\n    tables: [${DB}.${TABLE}]\n` +
    `copy:\n  parallel: ${parallel}\nlog:\n  level: warn\n`;
}

async function fillMariaDb(mariadb: MariaDb, rows: number): Promise<void> {
  const started = Date.now();
  await mariadb.query(MYSQL_SCHEMA);
  // Not in the binlog: the copy reads these rows, the stream starts after them.
  for (let from = 1; from <= rows; from += LOAD_BATCH) {
    const to = Math.min(rows, from + LOAD_BATCH - 1);
    await mariadb.query(`SET sql_log_bin = 0; INSERT INTO ${DB}.${TABLE} SELECT ${mysqlRow('seq')} FROM seq_${from}_to_${to}`, undefined, DB);
  }
  await mariadb.query(`SET sql_log_bin = 0; ${MYSQL_INDEXES}; ANALYZE TABLE ${DB}.${TABLE}`);
  await settleMariaDb(mariadb);
  const [size] = await mariadb.query<{ mb: string }[]>(`SELECT round((data_length + index_length) / 1048576) AS mb FROM information_schema.tables
    WHERE table_schema = ? AND table_name = ?`, [DB, TABLE]);
  console.log(`  MariaDB filled in ${((Date.now() - started) / 1000).toFixed(1)} s (${size?.mb ?? '?'} MB of table and indexes)`);
}

async function fillPostgres(source: Cluster, rows: number): Promise<void> {
  const started = Date.now();
  await source.query(PG_SCHEMA);
  for (let from = 1; from <= rows; from += LOAD_BATCH) {
    const to = Math.min(rows, from + LOAD_BATCH - 1);
    await source.query(`INSERT INTO ${DB}.${TABLE} SELECT ${pgRow('v')} FROM generate_series(${from}::bigint, ${to}) v`);
  }
  await source.query(PG_INDEXES);
  await settlePostgres(source);
  console.log(`  PostgreSQL source filled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** pgloader into a fresh PostgreSQL 18 database; without pgloader installed, says how to install it and gives no number. */
async function pgloaderCopy(mariadb: MariaDb, dir: string, settings: string): Promise<CopyRow> {
  const name = `pgloader (${settings})`;
  const version = spawnSync(PGLOADER, ['--version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) {
    console.log('  pgloader is not installed: skipped (Debian/Ubuntu: apt-get install pgloader; see https://pgloader.readthedocs.io)');
    return { name: 'pgloader', run: undefined, note: 'not installed: skipped' };
  }
  const target = await startCluster({ major: 18, settings: TARGET_SETTINGS });
  try {
    const loadFile = path.join(dir, 'bench.load');
    await writeFile(loadFile, `LOAD DATABASE
  FROM ${mariadb.url(DB)}
  INTO postgresql://postgres@127.0.0.1:${target.port}/postgres
WITH ${PGLOADER_CREATE},
     ${settings}
CAST ${PGLOADER_CAST}
INCLUDING ONLY TABLE NAMES MATCHING '${TABLE}';
`);
    const run = await timeCommand(PGLOADER, ['--root-dir', path.join(dir, 'pgloader'), loadFile], mariadbCpu(mariadb), target);
    console.log(`  pgloader ${version.stdout.split('\n')[0]?.replace(/^pgloader version /, '').replace(/"/g, '') ?? ''}: ${run.seconds.toFixed(2)} s`);
    const schema = (await target.query(`SELECT schemaname FROM pg_tables WHERE tablename = $1`, [TABLE])).rows[0]?.schemaname as string | undefined;
    if (schema === undefined) throw new Error(`pgloader left no table ${TABLE} on its target`);
    await checkCopy(mariadb, target, schema, 'pgloader');
    return { name, run, note: '' };
  } finally {
    await target.stop();
  }
}

/** Both copies: every row, the primary key and the three indexes; the column types are printed. */
async function checkCopy(mariadb: MariaDb, target: Cluster, schema: string, who: string): Promise<void> {
  const [source] = await mariadb.query<{ n: string; ids: string }[]>(`SELECT count(*) AS n, sum(id) AS ids FROM ${DB}.${TABLE}`);
  const copied = (await target.query(`SELECT count(*)::text AS n, sum(id)::text AS ids FROM ${schema}.${TABLE}`)).rows[0];
  if (String(source?.n) !== copied.n || String(source?.ids) !== copied.ids) {
    throw new Error(`${who}: the target has ${copied.n} rows (key sum ${copied.ids}), the source ${source?.n} (key sum ${source?.ids})`);
  }
  const table = `${schema}.${TABLE}`;
  const indexes = (await target.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE indisprimary)::int AS pk FROM pg_index WHERE indrelid = $1::regclass`,
    [table])).rows[0];
  const types = (await target.query(`SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) AS t
    FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, [table])).rows[0].t as string;
  console.log(`    ${who}: ${copied.n} rows as on the source; primary key ${indexes.pk === 1 ? 'yes' : 'NO'}, ${indexes.n - indexes.pk} other indexes; ${types}`);
  if (indexes.pk !== 1 || indexes.n !== 4) throw new Error(`${who}: the target table has ${indexes.n} indexes (primary key: ${indexes.pk}); expected the primary key and 3`);
}

/**
 * Waits until MariaDB has nothing left to do in the background that a timed
 * step would share the machine with: every dirty page of the buffer pool
 * written, and the undo of the changes purged.
 */
async function settleMariaDb(mariadb: MariaDb): Promise<void> {
  const [saved] = await mariadb.query<{ pct: string; lwm: string }[]>('SELECT @@innodb_max_dirty_pages_pct AS pct, @@innodb_max_dirty_pages_pct_lwm AS lwm');
  await mariadb.query('SET GLOBAL innodb_max_dirty_pages_pct_lwm = 0.001, GLOBAL innodb_max_dirty_pages_pct = 0');
  const started = Date.now();
  try {
    await waitFor(async () => {
      const status = await mariadb.query<{ Variable_name: string; Value: string }[]>(`SHOW GLOBAL STATUS
        WHERE Variable_name IN ('Innodb_buffer_pool_pages_dirty', 'Innodb_history_list_length')`);
      return status.every((v) => Number(v.Value) < 100);
    }, 500, 600_000);
  } finally {
    await mariadb.query(`SET GLOBAL innodb_max_dirty_pages_pct = ${Number(saved?.pct ?? 90)}, GLOBAL innodb_max_dirty_pages_pct_lwm = ${Number(saved?.lwm ?? 0)}`);
  }
  console.log(`    MariaDB settled (dirty pages written, undo purged) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** The same for PostgreSQL: the table vacuumed and analyzed (else autovacuum does it during the next step), and a checkpoint. */
async function settlePostgres(cluster: Cluster): Promise<void> {
  await cluster.query(`VACUUM ANALYZE ${DB}.${TABLE}`);
  await cluster.query('CHECKPOINT');
}

interface Sums { readonly n: string; readonly ids: string; readonly accounts: string; readonly amounts: string }

async function mysqlSums(mariadb: MariaDb): Promise<Sums> {
  const [row] = await mariadb.query<Sums[]>(`SELECT count(*) AS n, sum(id) AS ids, sum(account) AS accounts, sum(amount) AS amounts FROM ${DB}.${TABLE}`);
  if (!row) throw new Error('no sums');
  return { n: String(row.n), ids: String(row.ids), accounts: String(row.accounts), amounts: String(row.amounts) };
}

async function pgSums(cluster: Cluster): Promise<Sums> {
  return (await cluster.query(`SELECT count(*)::text AS n, sum(id)::text AS ids, sum(account)::text AS accounts, sum(amount)::text AS amounts
    FROM ${DB}.${TABLE}`)).rows[0] as Sums;
}

/** After a catch-up the target's row count and the sums of its key, int and decimal columns equal the source's. */
async function checkCatchUp(source: Sums, target: Cluster, who: string): Promise<void> {
  const copied = await pgSums(target);
  if (JSON.stringify(source) !== JSON.stringify(copied)) {
    throw new Error(`${who}: the target differs from the source after the catch-up: source ${JSON.stringify(source)}, target ${JSON.stringify(copied)}`);
  }
  console.log(`    ${who}: the target equals the source (${copied.n} rows; sums of id, account, amount)`);
}

/** The CPU seconds mariadbd has used so far, read from /proc (0 where it cannot be read). */
function mariadbCpu(mariadb: MariaDb): () => number {
  const pid = Number(readFileSync(path.join(path.dirname(mariadb.dataDir), 'mariadb.pid'), 'utf8').trim());
  return () => cpuSeconds(pid) ?? 0;
}

/** The target's backends other than the watcher's own and `ferry wait`'s. */
function watchTarget(target: Cluster): ReturnType<typeof watchCpu> {
  return watchCpu([{
    role: 'target', cluster: target,
    pids: `SELECT pid FROM pg_stat_activity WHERE backend_type IN ('client backend', 'parallel worker') AND pid <> pg_backend_pid()
      AND application_name IS DISTINCT FROM 'ferry:wait'`,
  }]);
}

/** Runs a command to its end (it must succeed); its CPU is polled from /proc while it runs. */
async function timeCommand(command: string, args: readonly string[], sourceCpu: (() => number) | undefined, target: Cluster): Promise<Timed> {
  const watch = watchTarget(target);
  const sourceBefore = sourceCpu?.() ?? 0;
  const started = process.hrtime.bigint();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => { output = (output + chunk.toString()).slice(-8000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let processCpu = 0;
  const poll = setInterval(() => { processCpu = cpuSeconds(child.pid as number) ?? processCpu; }, 50);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c) => resolve(c));
  }).finally(() => clearInterval(poll));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const sourceAfter = sourceCpu?.() ?? 0;
  const targetCpu = (await watch.stop()).get('target') ?? 0;
  if (code !== 0) throw new Error(`${path.basename(command)} ${args.join(' ')} exited with code ${code}:\n${output}`);
  return { seconds, processCpu, sourceCpu: sourceAfter - sourceBefore, targetCpu };
}

/**
 * From starting `ferry run` as its own process (the built command line)
 * until `ferry wait`'s check (run here, from the start) returns: every group
 * has applied what the source had committed, the whole backlog. The
 * process's start (loading modules, connecting, reading the catalog) counts.
 */
async function timeCatchUp(configPath: string, mariadbCpuNow: (() => number) | undefined, pgSource: Cluster | undefined, target: Cluster): Promise<Timed> {
  const config = await loadConfig(configPath);
  const walsender = pgSource
    ? watchCpu([{ role: 'walsender', cluster: pgSource, pids: `SELECT pid FROM pg_stat_replication WHERE application_name LIKE 'ferry:%'` }])
    : undefined;
  const watch = watchTarget(target);
  const sourceBefore = mariadbCpuNow?.() ?? 0;
  const started = process.hrtime.bigint();
  const child = spawnFerry(['run', '-c', configPath], ['ignore', 'ignore', 'pipe']);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-8000); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let processCpu = 0;
  const poll = setInterval(() => { processCpu = cpuSeconds(child.pid as number) ?? processCpu; }, 50);
  let seconds: number;
  const early = exited.then((code) => { throw new Error(`ferry run exited with code ${code} before catching up:\n${stderr}`); });
  early.catch(() => undefined);
  try {
    await Promise.race([waitForCatchUp(config, 3600), early]);
    seconds = Number(process.hrtime.bigint() - started) / 1e9;
    processCpu = cpuSeconds(child.pid as number) ?? processCpu;
  } finally {
    clearInterval(poll);
    child.kill('SIGTERM');
    await exited;
  }
  const sourceCpu = mariadbCpuNow ? mariadbCpuNow() - sourceBefore : (await walsender?.stop())?.get('walsender') ?? 0;
  const targetCpu = (await watch.stop()).get('target') ?? 0;
  return { seconds, processCpu, sourceCpu, targetCpu };
}
