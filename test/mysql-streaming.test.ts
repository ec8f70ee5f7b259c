import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { startMariaDb, type MariaDb } from '../src/embedded/mariadb.js';
import { cli, cliRun, until, type CliResult } from './support/harness.js';

/*
 * A MariaDB 10.11 source replicated into PostgreSQL 18 the way a user does
 * it, with the built CLI: `ferry init` copies, `ferry run` streams the
 * binlog, `ferry wait` and `ferry status` see the group catch up. The
 * run is killed (-9) while a writer keeps changing rows, and so is an init
 * in the middle of its copy; the binlog rotates and the server restarts
 * under a running group. At the end each table's rows on the target equal
 * the source's: nothing lost, nothing twice.
 */

let db: MariaDb;
let target: Cluster;
let dir: string;
let configs = 0;

before(async () => {
  // Long recursive CTEs make the tables' rows.
  [db, target] = await Promise.all([startMariaDb({ settings: { 'max-recursive-iterations': 10_000_000 } }), startCluster({ major: 18 })]);
  dir = await mkdtemp(path.join(tmpdir(), 'ferry-mysql-'));
});

after(async () => {
  await Promise.all([db?.stop(), target?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function config(database: string, tables: string[], extra = ''): Promise<string> {
  await target.query(`CREATE DATABASE ${database}`);
  const file = path.join(dir, `ferry-${++configs}.yaml`);
  await writeFile(file, [
    'source:', `  url: ${db.url(database, 'replication')}`,
    'target:', `  url: ${target.url(database)}`,
    'groups:', `  - name: ${database}`, `    tables: [${tables.join(', ')}]`,
    'apply:', '  retry_initial_ms: 200', '  retry_max_ms: 1000',
    extra, '',
  ].join('\n'));
  return file;
}

function ok(result: CliResult, what: string): CliResult {
  assert.equal(result.code, 0, `${what} exits 0:\n${result.stderr.slice(-4000)}`);
  return result;
}

/** Runs `step` (given its count) on its own connection until stopped; `stop` says how many steps it did. */
function writer(database: string, step: (c: mysql.Connection, n: number) => Promise<void>): { stop(): Promise<number> } {
  let stopping = false;
  const done = (async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: 'root', database });
    let n = 0;
    try {
      while (!stopping) {
        try {
          await step(c, n);
          n++;
        } catch (err) {
          // The server restarting under the writer: wait for it, then go on.
          if (!/closed state|ECONNREFUSED|shutdown|Connection lost/i.test((err as Error).message)) throw err;
          return n;
        }
      }
      return n;
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  return { async stop() { stopping = true; return done; } };
}

/** Each row of `table` on both sides, as text the two render alike, sorted by key. */
async function assertSameRows(database: string, table: string, mysqlColumns: string, pgColumns: string): Promise<number> {
  const source = (await db.query<{ r: string }[]>(`SELECT CONCAT_WS('|', ${mysqlColumns}) AS r FROM ${database}.${table} ORDER BY id`)).map((x) => x.r);
  const rows = (await target.query(`SELECT concat_ws('|', ${pgColumns}) AS r FROM ${database}.${table} ORDER BY id`, [], database)).rows.map((x) => x.r as string);
  assert.equal(rows.length, source.length, `${table}: ${rows.length} rows on the target, ${source.length} on the source`);
  const first = source.findIndex((r, i) => rows[i] !== r);
  assert.equal(first, -1, `${table}: first difference at row ${first}: source ${source[first]}, target ${rows[first]}`);
  return rows.length;
}

/** 1…n as rows of column `seq`. */
const numbers = (n: number) => `(WITH RECURSIVE s(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < ${n}) SELECT seq FROM s) AS numbers`;

/** A column of each mapped kind, and rows of values at their edges (NULLs included). */
const TYPED: readonly (readonly [string, string])[] = [
  ['c_tiny', 'TINYINT'], ['c_utiny', 'TINYINT UNSIGNED'], ['c_bool', 'TINYINT(1)'], ['c_usmall', 'SMALLINT UNSIGNED'],
  ['c_medium', 'MEDIUMINT'], ['c_uint', 'INT UNSIGNED'], ['c_big', 'BIGINT'], ['c_ubig', 'BIGINT UNSIGNED'],
  ['c_dec', 'DECIMAL(30,10)'], ['c_float', 'FLOAT'], ['c_double', 'DOUBLE'], ['c_date', 'DATE'], ['c_dt6', 'DATETIME(6)'],
  ['c_ts3', 'TIMESTAMP(3) NULL'], ['c_time6', 'TIME(6)'], ['c_year', 'YEAR'], ['c_bit', 'BIT(10)'], ['c_enum', "ENUM('a','b','c d')"],
  ['c_set', "SET('x','y','z')"], ['c_latin1', 'VARCHAR(20) CHARACTER SET latin1'], ['c_text', 'TEXT CHARACTER SET utf8mb4'],
  ['c_binary', 'BINARY(4)'], ['c_blob', 'BLOB'], ['c_json', 'JSON'], ['c_uuid', 'UUID'], ['c_inet6', 'INET6'],
];
const TYPED_ROWS: readonly (readonly unknown[])[] = [
  [-128, 255, 1, 65535, -8388608, 4294967295, '-9223372036854775808', '18446744073709551615', '-12345678901234567890.0123456789', 3.14159,
    -2.2250738585072014e-308, '1000-01-01', '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01.000', '-838:59:59.000000', 1901, 0b1010101010,
    'c d', 'x,z', 'café', 'tab\tnew\nline \\ 😀', Buffer.from([1, 0, 0, 0]), Buffer.from([0, 255, 10, 13, 92]), '{"b": 1, "a": [true, null, "x"]}',
    '123e4567-e89b-12d3-a456-426614174000', '::ffff:10.0.0.1'],
  [127, 0, 0, 0, 8388607, 0, '9223372036854775807', '0', '0.0000000001', -0.0, 1e308, '2024-02-29', '2024-02-29 12:00:00.000001',
    '2038-01-19 03:14:07.499', '838:59:59.999999', 2155, 0, 'a', '', '', '', Buffer.from([0, 0, 0, 0]), Buffer.alloc(0), '[]',
    '00000000-0000-0000-0000-000000000000', '2001:db8::1'],
  TYPED.map(() => null),
];

const ORDERS_MYSQL = "id, customer, CAST(amount AS CHAR), IFNULL(note, 'NULL'), DATE_FORMAT(placed, '%Y-%m-%d %H:%i:%s.%f')";
const ORDERS_PG = "id, customer, amount::text, coalesce(note, 'NULL'), to_char(placed, 'YYYY-MM-DD HH24:MI:SS.US')";

describe('MariaDB source, with the CLI', () => {
  test('init copies, run streams, wait and status see it caught up; kill -9 while writing loses and repeats nothing', async () => {
    await db.query(`CREATE DATABASE shop;
      CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, customer INT NOT NULL, amount DECIMAL(12,2) NOT NULL, note VARCHAR(200), placed DATETIME(6) NOT NULL, KEY by_customer (customer));
      CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(200) UNIQUE)`);
    await db.query(`INSERT INTO shop.orders SELECT seq, seq % 100, seq * 1.25, IF(seq % 3 = 0, NULL, CONCAT('note ', seq)), '2026-01-02 03:04:05.123456' + INTERVAL seq SECOND FROM ${numbers(5000)}`);
    await db.query(`INSERT INTO shop.customers SELECT seq, CONCAT('c', seq), CONCAT(seq, '@example.com') FROM ${numbers(100)}`);
    const file = await config('shop', ['shop.orders', 'shop.customers']);

    const initOut = ok(await cliRun(['init', '-c', file, '--json']), 'ferry init');
    const summary = JSON.parse(initOut.stdout) as { group: string; rows: number; action: string }[];
    assert.deepEqual(summary.map((s) => [s.group, s.action, s.rows]), [['shop', 'initialised', 5100]]);
    assert.equal(Number((await target.query(`SELECT count(*) AS n FROM shop.orders`, [], 'shop')).rows[0]?.n), 5000);
    const indexes = (await target.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = 'shop' AND tablename = 'orders' ORDER BY 1`, [], 'shop')).rows.map((r) => r.indexdef as string);
    assert.ok(indexes.some((d) => /orders_pkey/.test(d)) && indexes.some((d) => /\(customer\)/.test(d)), `keys and indexes built: ${indexes.join('; ')}`);

    let ferry = cli(['run', '-c', file]);
    const writing = writer('shop', async (c, n) => {
      const id = 10_000 + n;
      await c.query('BEGIN');
      await c.query(`INSERT INTO orders VALUES (?, ?, ?, ?, NOW(6))`, [id, n % 100, n * 0.5, `w${n}`]);
      await c.query(`UPDATE orders SET amount = amount + 1, note = NULL WHERE id = ?`, [1 + (n * 7) % 5000]);
      await c.query(`UPDATE customers SET name = ? WHERE id = ?`, [`w${n}`, 1 + n % 100]);
      await c.query('COMMIT');
      if (n % 5 === 0) await c.query(`DELETE FROM orders WHERE id = ?`, [id - 3]);
      // A key change: the row moves to a new id.
      if (n % 11 === 0) await c.query(`UPDATE orders SET id = id + 1000000 WHERE id = ?`, [1 + (n * 13) % 5000]);
    });
    try {
      await until('rows to stream', async () => Number((await target.query(`SELECT count(*) AS n FROM shop.orders WHERE id >= 10000 AND id < 1000000`, [], 'shop')).rows[0]?.n) > 50);
      ferry.child.kill('SIGKILL');
      await ferry.result;
      await new Promise((r) => setTimeout(r, 300));
      ferry = cli(['run', '-c', file]);
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      assert.ok(await writing.stop() > 0);
    }
    try {
      ok(await cliRun(['wait', '-c', file, '--timeout', '60']), 'ferry wait');
      const status = JSON.parse(ok(await cliRun(['status', '-c', file, '--json']), 'ferry status').stdout) as { group: string; state: string; lagBytes: number; appliedPosition: string; sourcePosition: string }[];
      assert.equal(status[0]?.state, 'streaming');
      assert.equal(status[0]?.lagBytes, 0, `caught up: ${JSON.stringify(status)}`);
      assert.match(status[0]?.appliedPosition ?? '', /^\d{6}:\d+$/);
      await assertSameRows('shop', 'orders', ORDERS_MYSQL, ORDERS_PG);
      await assertSameRows('shop', 'customers', "id, name, IFNULL(email, 'NULL')", "id, name, coalesce(email, 'NULL')");
    } finally {
      ferry.child.kill('SIGTERM');
      const exit = await ferry.result;
      assert.equal(exit.code, 0, exit.stderr.slice(-3000));
    }
  });

  test('every mapped type arrives the same whether copied or streamed', async () => {
    // Each row is written twice: before init (copied) and after (streamed, inserted and then updated into it).
    await db.query(`CREATE DATABASE types; CREATE TABLE types.t (id INT PRIMARY KEY, ${TYPED.map(([name, ddl]) => `${name} ${ddl}`).join(', ')})`);
    const rows = TYPED_ROWS.map((values, i) => [i + 1, ...values]);
    const insert = (offset: number) => db.query(`INSERT INTO types.t VALUES ${rows.map((r) => `(${r.map(() => '?').join(', ')})`).join(', ')}`,
      rows.flatMap(([id, ...values]) => [Number(id) + offset, ...values]));
    await insert(0);
    const file = await config('types', ['types.t']);
    ok(await cliRun(['init', '-c', file]), 'ferry init');
    const ferry = cli(['run', '-c', file]);
    try {
      await insert(1000);
      // Through an update too: the streamed row's after-image.
      await insert(2000);
      await db.query(`UPDATE types.t SET id = id + 1000 WHERE id > 2000`);
      await db.query(`DELETE FROM types.t WHERE id > 1000 AND id <= 2000`);
      await db.query(`INSERT INTO types.t SELECT id - 2000, ${TYPED.map(([name]) => name).join(', ')} FROM types.t WHERE id > 3000`);
      ok(await cliRun(['wait', '-c', file, '--timeout', '60']), 'ferry wait');
    } finally {
      ferry.child.kill('SIGTERM');
      await ferry.result;
    }
    const text = async (range: string) => (await target.query(`SELECT t::text AS r FROM (SELECT ${TYPED.map(([name]) => name).join(', ')} FROM types.t WHERE ${range} ORDER BY id) t`, [], 'types')).rows.map((r) => r.r as string);
    const copied = await text('id <= 1000');
    assert.equal(copied.length, TYPED_ROWS.length);
    assert.deepEqual(await text('id > 1000 AND id <= 2000'), copied, 'inserted rows equal the copied ones');
    assert.deepEqual(await text('id > 3000'), copied, 'rows moved by an update equal the copied ones');
  });

  test('binlog rotation and a server restart under a running group', async () => {
    await db.query(`CREATE DATABASE ops; CREATE TABLE ops.events (id INT PRIMARY KEY, v VARCHAR(20))`);
    await db.query(`INSERT INTO ops.events SELECT seq, 'x' FROM ${numbers(100)}`);
    const file = await config('ops', ['ops.events']);
    ok(await cliRun(['init', '-c', file]), 'ferry init');
    const ferry = cli(['run', '-c', file]);
    try {
      let next = 1000;
      const insert = async (count: number) => {
        for (let i = 0; i < count; i++) await db.query(`INSERT INTO ops.events VALUES (${next++}, 'y')`);
      };
      const streamed = async (rows: number) => until(`${rows} rows on the target`, async () =>
        Number((await target.query(`SELECT count(*) AS n FROM ops.events`, [], 'ops')).rows[0]?.n) >= rows);
      await insert(20);
      await streamed(120);
      await db.query('FLUSH BINARY LOGS');
      await insert(20);
      await streamed(140);
      await db.restart();
      await insert(20);
      await db.query('FLUSH BINARY LOGS');
      await db.query(`UPDATE ops.events SET v = 'z' WHERE id <= 50`);
      ok(await cliRun(['wait', '-c', file, '--timeout', '60']), 'ferry wait');
      await assertSameRows('ops', 'events', 'id, v', 'id, v');
    } finally {
      ferry.child.kill('SIGTERM');
      const exit = await ferry.result;
      assert.equal(exit.code, 0, exit.stderr.slice(-3000));
      assert.match(exit.stderr, /reconnecting/, 'the restart was survived by reconnecting');
    }
  });

  test('init killed (-9) in the middle of its copy resumes (a table it had partly copied is copied again whole); writes during both are streamed once', async () => {
    await db.query(`CREATE DATABASE big; CREATE TABLE big.items (id INT PRIMARY KEY, qty INT NOT NULL, label VARCHAR(64) NOT NULL)`);
    await db.query(`INSERT INTO big.items SELECT seq, seq % 1000, REPEAT('l', 50) FROM ${numbers(200_000)}; ANALYZE TABLE big.items`);
    const file = await config('big', ['big.items'], 'copy:\n  parallel: 2\n  chunk_size: 512kB');
    const writing = writer('big', async (c, n) => {
      await c.query(`UPDATE items SET qty = qty + 1 WHERE id = ?`, [1 + (n * 7919) % 200000]);
      await c.query(`INSERT INTO items VALUES (?, ?, 'new')`, [300000 + n, n]);
      if (n % 3 === 0) await c.query(`DELETE FROM items WHERE id = ?`, [1 + (n * 104729) % 200000]);
    });
    try {
      const first = cli(['init', '-c', file]);
      await until('a chunk to be copied', async () => Number((await target.query(
        `SELECT count(*) FILTER (WHERE copied_at IS NOT NULL) AS n FROM ferry.copy_chunks WHERE group_name = 'big'`, [], 'big').catch(() => ({ rows: [{ n: 0 }] }))).rows[0]?.n) > 0, 60_000);
      first.child.kill('SIGKILL');
      await first.result;
      const chunks = (await target.query(`SELECT count(*) AS all, count(copied_at) AS done FROM ferry.copy_chunks WHERE group_name = 'big'`, [], 'big')).rows[0] as { all: string; done: string };
      assert.ok(Number(chunks.done) < Number(chunks.all), `the kill came before the copy finished (${chunks.done} of ${chunks.all} chunks)`);
      const second = ok(await cliRun(['init', '-c', file]), 'ferry init, resumed');
      assert.match(second.stderr, /resuming an interrupted copy/);
    } finally {
      await writing.stop();
    }
    const ferry = cli(['run', '-c', file]);
    try {
      ok(await cliRun(['wait', '-c', file, '--timeout', '90']), 'ferry wait');
      await assertSameRows('big', 'items', 'id, qty, label', 'id, qty, label');
    } finally {
      ferry.child.kill('SIGTERM');
      await ferry.result;
    }
  });

  test('a group whose next binlog file was purged: status says so, and run stops with the fix', async () => {
    await db.query(`CREATE DATABASE gone; CREATE TABLE gone.t (id INT PRIMARY KEY)`);
    const file = await config('gone', ['gone.t']);
    ok(await cliRun(['init', '-c', file]), 'ferry init');
    await db.query(`INSERT INTO gone.t VALUES (1)`);
    await db.query('FLUSH BINARY LOGS');
    const current = (await db.query<{ File: string }[]>('SHOW MASTER STATUS'))[0]?.File ?? '';
    // MariaDB keeps a file until its binlog checkpoint has moved on to the next one: purge until it is gone.
    await until('the group\'s binlog file to be purged', async () => {
      await db.query(`PURGE BINARY LOGS TO '${current}'`);
      return (await db.query<{ Log_name: string }[]>('SHOW BINARY LOGS')).every((f) => f.Log_name >= current);
    });
    const status = JSON.parse(ok(await cliRun(['status', '-c', file, '--json']), 'ferry status').stdout) as { binlog?: { purged: boolean; neededFile: string } }[];
    assert.equal(status[0]?.binlog?.purged, true, JSON.stringify(status));
    const run = await cliRun(['run', '-c', file]);
    assert.equal(run.code, 1, run.stderr.slice(-2000));
    assert.match(run.stderr, /FERRY_BINLOG_PURGED/);
    assert.match(run.stderr, /ferry drop/);
  });

  test('a schema change of a group table stops the group with the statement and the fix; once the target matches, it goes on', async () => {
    await db.query(`CREATE DATABASE ddl; CREATE TABLE ddl.t (id INT PRIMARY KEY, a VARCHAR(10))`);
    await db.query(`INSERT INTO ddl.t VALUES (1, 'a')`);
    const file = await config('ddl', ['ddl.t']);
    ok(await cliRun(['init', '-c', file]), 'ferry init');
    await db.query(`INSERT INTO ddl.t VALUES (2, 'b'); ALTER TABLE ddl.t ADD COLUMN b INT; INSERT INTO ddl.t VALUES (3, 'c', 3)`);
    const stopped = await cliRun(['run', '-c', file]);
    assert.equal(stopped.code, 1, stopped.stderr.slice(-2000));
    assert.match(stopped.stderr, /FERRY_SCHEMA_CHANGED/);
    assert.match(stopped.stderr, /ALTER TABLE ddl\.t ADD COLUMN b INT/);
    assert.deepEqual((await target.query(`SELECT id FROM ddl.t ORDER BY id`, [], 'ddl')).rows.map((r) => r.id), [1, 2], 'the change before the ALTER was applied, nothing after it');
    await target.query(`ALTER TABLE ddl.t ADD COLUMN b integer`, [], 'ddl');
    const ferry = cli(['run', '-c', file]);
    try {
      // The stopped run's error stays recorded until the group applies again: wait for the new run to hold the group first.
      await until('ferry run to hold the group', async () =>
        (JSON.parse((await cliRun(['status', '-c', file, '--json'])).stdout) as { state: string }[])[0]?.state === 'streaming');
      ok(await cliRun(['wait', '-c', file, '--timeout', '60']), 'ferry wait');
      await assertSameRows('ddl', 't', "id, a, IFNULL(b, 'NULL')", "id, a, coalesce(b::text, 'NULL')");
    } finally {
      ferry.child.kill('SIGTERM');
      await ferry.result;
    }
  });
});
