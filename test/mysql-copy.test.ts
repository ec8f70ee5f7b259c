import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { TableRef } from '../src/config/schema.js';
import type { PlannedChunk } from '../src/copy/chunk-plan.js';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { startMariaDb, type MariaDb } from '../src/embedded/mariadb.js';
import { FerryError } from '../src/errors.js';
import { connectionOptions } from '../src/source/mysql-binlog/binlog-connection.js';
import { openConsistentSnapshot, type ConsistentSnapshot } from '../src/source/mysql-binlog/consistent-snapshot.js';
import { copySelectList } from '../src/source/mysql-binlog/copy-select.js';
import { relationIdOf, type GroupTable } from '../src/source/mysql-binlog/group-table.js';
import { mapRow } from '../src/source/mysql-binlog/map-row.js';
import { planMySqlChunks } from '../src/source/mysql-binlog/mysql-chunk-plan.js';
import { copyChunk, copyLine } from '../src/source/mysql-binlog/mysql-copy.js';
import { groupTables, resolveMySqlTables } from '../src/source/mysql-binlog/mysql-tables.js';
import type { RowValue } from '../src/source/mysql-binlog/row-values.js';
import { targetTable } from '../src/source/mysql-binlog/target-table.js';
import { DEFAULT_TYPE_MAP_OPTIONS } from '../src/source/mysql-binlog/type-map.js';

/*
 * The MySQL copy against a real MariaDB and a real PostgreSQL: tables are
 * resolved from the group's references, planned into chunks, and copied
 * chunk by chunk from workers of a consistent snapshot with COPY. What
 * arrives is compared with the same rows read by a plain SELECT, mapped,
 * and inserted with parameters (no COPY text in between), row by row.
 */

const OPTS = DEFAULT_TYPE_MAP_OPTIONS;
const ref = (schema: string, table: string): TableRef => ({ schema, table, pattern: schema.includes('*') || table.includes('*') });

let db: MariaDb;
let cluster: Cluster;
let conn: mysql.Connection;

async function pgClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: cluster.url() });
  await client.connect();
  await client.query("SET TimeZone = 'UTC'");
  return client;
}

function failure(err: unknown): FerryError {
  assert.ok(err instanceof FerryError, `expected a FerryError, got ${String(err)}`);
  return err;
}

/** Copies every chunk in its own target transaction, chunks spread over the snapshot's workers in parallel. */
async function copyAll(snapshot: ConsistentSnapshot, table: GroupTable, chunks: readonly PlannedChunk[]): Promise<{ rows: number; bytes: number; perChunk: number[] }> {
  const perChunk: number[] = new Array(chunks.length).fill(0);
  let bytes = 0;
  let next = 0;
  await Promise.all(snapshot.workers.map(async (worker) => {
    const target = await pgClient();
    try {
      while (next < chunks.length) {
        const i = next++;
        await target.query('BEGIN');
        const done = await copyChunk(worker.connection, table, (chunks[i] as PlannedChunk).plan, target, OPTS);
        await target.query('COMMIT');
        perChunk[i] = done.rows;
        bytes += done.bytes;
        assert.ok(done.rows === 0 || done.bytes > 0);
      }
    } finally {
      await target.end();
    }
  }));
  return { rows: perChunk.reduce((a, b) => a + b, 0), bytes, perChunk };
}

before(async () => {
  [db, cluster] = await Promise.all([startMariaDb(), startCluster({ major: 18 })]);
  await db.query('CREATE DATABASE app; CREATE DATABASE other');
  conn = await mysql.createConnection(connectionOptions(db.url('app')));
  await conn.query("SET time_zone = '+00:00'");
});

after(async () => {
  await conn?.end();
  await Promise.all([db?.stop(), cluster?.stop()]);
});

describe('resolving a group\'s tables', () => {
  before(async () => {
    await db.query(`CREATE TABLE app.log_2024 (id INT PRIMARY KEY); CREATE TABLE app.log_2025 (id INT PRIMARY KEY);
      CREATE TABLE app.logbook (id INT PRIMARY KEY); CREATE TABLE other.log_x (id INT PRIMARY KEY);
      CREATE VIEW app.log_view AS SELECT id FROM app.log_2024; CREATE TABLE \`app\`.\`Log_Upper\` (id INT PRIMARY KEY)`);
  });

  test('a pattern matches base tables by `*` (no views, no system databases), names exactly; unmatched references are reported', async () => {
    const { tables, unmatched } = await resolveMySqlTables(conn, [
      ref('app', 'log_*'), ref('*', 'log_x'), ref('app', 'log_2024'), ref('app', 'missing'), ref('*', 'db'), ref('app', 'log_upper'),
    ]);
    assert.deepEqual(tables.map((t) => `${t.database}.${t.name}`), ['app.log_2024', 'app.log_2025', 'other.log_x'],
      'each table once, ordered; log_view is a view, logbook has no `_`, Log_Upper differs in case');
    assert.deepEqual(unmatched.map((r) => `${r.schema}.${r.table}`), ['app.missing', '*.db', 'app.log_upper'], 'mysql.db is a system table');
    assert.deepEqual((await resolveMySqlTables(conn, [{ schema: 'app', table: 'Log_Upper', pattern: false }])).tables, [{ database: 'app', name: 'Log_Upper' }]);
  });

  test('groupTables: catalog, target table and relation id of each; a reference matching nothing is an error naming it', async () => {
    const tables = await groupTables(conn, [ref('app', 'log_202*')], OPTS, { app: 'copy_app' });
    assert.deepEqual(tables.map((t) => [t.source.name, t.target.schema, t.target.name, t.relationId]),
      [['log_2024', 'copy_app', 'log_2024', relationIdOf('app', 'log_2024')], ['log_2025', 'copy_app', 'log_2025', relationIdOf('app', 'log_2025')]]);
    const err = failure(await groupTables(conn, [ref('app', 'log_2024'), ref('app', 'nope_*')], OPTS).catch((e: unknown) => e));
    assert.equal(err.code, 'FERRY_MYSQL_TABLE_UNMATCHED');
    assert.match(err.message, /pattern app\.nope_\* matches no table/);
  });

  test('a table without a primary key or a unique NOT NULL key is refused, naming it and the fix', async () => {
    await db.query(`CREATE TABLE app.no_key (a INT, b TEXT); CREATE TABLE app.nullable_unique (a INT NULL, UNIQUE KEY (a));
      CREATE TABLE app.unique_not_null (a INT NOT NULL, UNIQUE KEY (a))`);
    for (const name of ['no_key', 'nullable_unique']) {
      const err = failure(await groupTables(conn, [ref('app', name)], OPTS).catch((e: unknown) => e));
      assert.equal(err.code, 'FERRY_MYSQL_NO_KEY', name);
      assert.equal(err.context.table, `app.${name}`);
      assert.match(err.describe(), new RegExp(`table app\\.${name} has neither a primary key nor a unique key over NOT NULL columns.* fix: add a primary key on the source \\(ALTER TABLE app\\.${name} ADD PRIMARY KEY`));
    }
    assert.equal((await groupTables(conn, [ref('app', 'unique_not_null')], OPTS)).length, 1, 'a unique key over NOT NULL columns identifies rows');
  });

  test('two tables whose relation ids collide are refused, naming both', async () => {
    // Names are cheap to hash: find two in `app` with the same 31-bit id.
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      const name = `c${i}`;
      const id = relationIdOf('app', name);
      const other = seen.get(id);
      if (other) pair = [other, name];
      seen.set(id, name);
    }
    await db.query(pair.map((n) => `CREATE TABLE app.${n} (id INT PRIMARY KEY)`).join('; '));
    const err = failure(await groupTables(conn, pair.map((n) => ref('app', n)), OPTS).catch((e: unknown) => e));
    assert.equal(err.code, 'FERRY_MYSQL_RELATION_ID_COLLISION');
    assert.match(err.message, new RegExp(`app\\.${pair[0]} and app\\.${pair[1]} hash to the same relation id`));
  });
});

/** Every mapped type, and text with what COPY's text format must escape. */
const TYPED = `CREATE TABLE app.typed (
  id INT PRIMARY KEY, c_tiny TINYINT, c_utiny TINYINT UNSIGNED, c_small SMALLINT, c_usmall SMALLINT UNSIGNED, c_medium MEDIUMINT,
  c_umedium MEDIUMINT UNSIGNED, c_int INT, c_uint INT UNSIGNED, c_big BIGINT, c_ubig BIGINT UNSIGNED, c_dec DECIMAL(65,30),
  c_float FLOAT, c_double DOUBLE, c_date DATE, c_dt DATETIME, c_dt6 DATETIME(6), c_ts TIMESTAMP(3) NULL, c_time TIME, c_time6 TIME(6),
  c_year YEAR, c_enum ENUM('a','b','c d'), c_set SET('x','y','z'), c_json JSON, c_bit BIT(12), c_binary BINARY(4), c_varbinary VARBINARY(50),
  c_blob BLOB, c_text MEDIUMTEXT CHARACTER SET utf8mb4, c_varchar VARCHAR(100) CHARACTER SET utf8mb4, c_latin1 VARCHAR(20) CHARACTER SET latin1,
  c_stored INT AS (id * 2) STORED, c_virtual VARCHAR(20) AS (CONCAT('v', id)) VIRTUAL)`;
const TYPED_COLUMNS = 'id, c_tiny, c_utiny, c_small, c_usmall, c_medium, c_umedium, c_int, c_uint, c_big, c_ubig, c_dec, c_float, c_double, '
  + 'c_date, c_dt, c_dt6, c_ts, c_time, c_time6, c_year, c_enum, c_set, c_json, c_bit, c_binary, c_varbinary, c_blob, c_text, c_varchar, c_latin1';
const TYPED_ROWS = [
  `(1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
    '99999999999999999999999999999999999.999999999999999999999999999999', 3.40282e38, 1.7976931348623157e308,
    '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999', '838:59:59', '-838:59:59.000000',
    2155, 'c d', 'x,y,z', '{"k": [1, 2.5, "s", null, true], "t": "tab\\\\there"}', b'101010101010', X'61', X'00FF00', X'DEADBEEF',
    'Grüße 🚀 emoji 👩‍👩‍👧', 'tab\\there\\nnew line\\rcr back\\\\slash \\\\N', '€ñ')`,
  `(2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
    '-0.000000000000000000000000000001', -1.1, 0.1, '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000001',
    '1970-01-01 00:00:01.5', '-00:00:01', '100:00:00.25', 1901, 'a', '', '[]', b'0', X'', X'', X'', '', '', '')`,
  `(3, ${Array.from({ length: TYPED_COLUMNS.split(',').length - 1 }, () => 'NULL').join(', ')})`,
  `(4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -0e0, -0e0, '2024-02-29', '2024-02-29 12:00:00', '2024-02-29 12:00:00.123456',
    '2024-02-29 12:00:00.123', '24:00:01', '-12:00:00.000001', 2024, 'b', 'y', '"just a string"', b'111111111111', X'0102', X'0A090D5C', X'00',
    '\\\\N', '\\\\', 'a\\tb')`,
];

describe('copying a table chunk by chunk', () => {
  let snapshot: ConsistentSnapshot;

  before(async () => {
    await db.query(TYPED);
    const more = Array.from({ length: 60 }, (_, i) => {
      const id = 10 + i * 7;
      return `(${id}, ${i % 100}, ${i}, ${-i}, ${i * 3}, ${i * 1000}, ${i}, ${i * 100000}, ${i}, ${-i * 1e12}, ${i * 1e12}, '${i}.${i}', ${i / 3}, ${i / 7},
        '2020-01-${String(1 + (i % 28)).padStart(2, '0')}', '2020-01-01 10:00:${String(i % 60).padStart(2, '0')}', '2020-01-01 10:00:00.${String(i).padStart(6, '0')}',
        '2020-06-01 12:00:00.${String(i % 1000).padStart(3, '0')}', '${i * 5}:00:00', '${i}:30:00.5', ${1901 + i}, '${['a', 'b', 'c d'][i % 3]}', '${['x', 'y,z', ''][i % 3]}',
        '{"i": ${i}, "s": "line\\\\n${i}"}', b'${(i % 4096).toString(2)}', X'${(i % 256).toString(16).padStart(2, '0')}', X'${'ab'.repeat(i % 20)}', REPEAT(X'00FF', ${i}),
        CONCAT('row ', ${i}, CHAR(9), '✓'), CONCAT('multi', CHAR(10), 'line ', ${i}, CHAR(13)), 'Ça va ${i}')`;
    });
    await db.query(`SET time_zone = '+00:00'; INSERT INTO app.typed (${TYPED_COLUMNS}) VALUES ${[...TYPED_ROWS, ...more].join(', ')}`);
    snapshot = await openConsistentSnapshot(db.url('app'), { workers: 2, tables: [{ database: 'app', name: 'typed' }] });
  });

  after(async () => {
    await snapshot?.close();
  });

  test('every mapped type arrives as the same rows a plain SELECT maps to, generated columns included', async () => {
    const [table] = await groupTables(conn, [ref('app', 'typed')], OPTS, { app: 'copied' });
    assert.ok(table);
    const chunks = await planMySqlChunks(snapshot.workers[0]?.connection as mysql.Connection, table, 1024);
    assert.ok(chunks.length > 3, `several chunks, got ${chunks.length}`);
    assert.ok(chunks.every((c) => c.plan.kind === 'key' && c.plan.schema === 'copied' && c.plan.relation === 'typed' && c.plan.column === 'id'));

    const client = await pgClient();
    try {
      // The expected rows: the same SELECT, mapped, inserted with parameters into a twin table.
      await client.query(`CREATE SCHEMA copied; CREATE SCHEMA expected; ${table.target.ddl}; ${targetTable(table.source, OPTS, { app: 'expected' }).ddl}`);
      const [rows] = await conn.query({ sql: `SELECT ${copySelectList(table.source.columns)} FROM app.typed`, rowsAsArray: true });
      const placeholders = table.target.columns.map((_, i) => `$${i + 1}`).join(', ');
      for (const image of rows as RowValue[][]) {
        await client.query(`INSERT INTO expected.typed VALUES (${placeholders})`, mapRow(table.source, table.target, image, OPTS));
      }

      const copied = await copyAll(snapshot, table, chunks);
      assert.equal(copied.rows, TYPED_ROWS.length + 60);

      const read = async (schema: string) => (await client.query<{ id: number; row: string }>(`SELECT id, t::text AS row FROM ${schema}.typed t ORDER BY id`)).rows;
      const [got, want] = [await read('copied'), await read('expected')];
      assert.equal(got.length, want.length);
      got.forEach((r, i) => assert.equal(r.row, want[i]?.row, `row id=${r.id}`));

      const special = await client.query(`SELECT id, c_text, c_varchar, c_latin1, c_binary, c_time::text, c_stored, c_virtual, c_ubig::text, c_set::text, c_json->>'t' AS jt
        FROM copied.typed WHERE id IN (1, 2, 3, 4) ORDER BY id`);
      assert.deepEqual(special.rows[0], {
        id: 1, c_text: 'Grüße 🚀 emoji 👩‍👩‍👧', c_varchar: 'tab\there\nnew line\rcr back\\slash \\N', c_latin1: '€ñ', c_binary: Buffer.from('61000000', 'hex'),
        c_time: '838:59:59', c_stored: 2, c_virtual: 'v1', c_ubig: '18446744073709551615', c_set: '{x,y,z}', jt: 'tab\there',
      });
      assert.deepEqual(special.rows[1]?.c_binary, Buffer.alloc(4), 'BINARY keeps its padding');
      assert.equal(special.rows[1]?.c_set, '{}');
      assert.equal(special.rows[2]?.c_text, null);
      assert.equal(special.rows[2]?.c_stored, 6, 'generated columns are copied even when the others are NULL');
      assert.deepEqual([special.rows[3]?.c_text, special.rows[3]?.c_varchar, special.rows[3]?.c_latin1], ['\\N', '\\', 'a\tb'], 'a text `\\N` is not NULL');
    } finally {
      await client.end();
    }
  });

  test('a value that cannot be mapped fails the chunk naming table, key and column; the worker stays usable', async () => {
    await db.query("SET sql_mode = ''; CREATE TABLE app.zero (id INT PRIMARY KEY, d DATE); INSERT INTO app.zero VALUES (1, '2024-01-01'), (2, '0000-00-00')");
    const zeroSnapshot = await openConsistentSnapshot(db.url('app'), { workers: 1, tables: [{ database: 'app', name: 'zero' }] });
    const client = await pgClient();
    try {
      const [table] = await groupTables(conn, [ref('app', 'zero')], OPTS);
      assert.ok(table);
      await client.query(`CREATE SCHEMA app; ${table.target.ddl}`);
      const worker = zeroSnapshot.workers[0]?.connection as mysql.Connection;
      const [chunk] = await planMySqlChunks(worker, table, 1 << 30);
      assert.equal(chunk?.plan.kind, 'whole');
      await client.query('BEGIN');
      const err = failure(await copyChunk(worker, table, (chunk as PlannedChunk).plan, client, OPTS).catch((e: unknown) => e));
      await client.query('ROLLBACK');
      assert.equal(err.code, 'FERRY_MYSQL_ZERO_DATE');
      assert.match(err.message, /^app\.zero, row id=2, column d: zero date 0000-00-00/);
      const [again] = await worker.query('SELECT COUNT(*) AS n FROM app.zero');
      assert.equal(Number((again as { n: number }[])[0]?.n), 2);
      assert.equal((await client.query('SELECT count(*)::int AS n FROM app.zero')).rows[0]?.n, 0);
    } finally {
      await client.end();
      await zeroSnapshot.close();
    }
  });
});

describe('key-range chunks of a big table', () => {
  const ROWS = 20_000;
  /** Unsigned BIGINT keys above the signed range, with gaps: bounds must be exact integers. */
  const BASE = 18446744000000000000n;

  before(async () => {
    await db.query(`CREATE TABLE app.big (id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(100) NOT NULL);
      INSERT INTO app.big SELECT ${BASE} + seq * 1000003, CONCAT('value ', seq, ' ', REPEAT('x', seq % 50)) FROM seq_1_to_${ROWS};
      CREATE TABLE app.by_text (k VARCHAR(20) PRIMARY KEY, v VARCHAR(100) NOT NULL);
      INSERT INTO app.by_text SELECT CONCAT('k', seq), REPEAT('y', 80) FROM seq_1_to_2000;
      CREATE TABLE app.by_unique (k VARCHAR(20), n INT NOT NULL, UNIQUE KEY (n));
      INSERT INTO app.by_unique SELECT NULL, seq FROM seq_1_to_2000;
      ANALYZE TABLE app.big, app.by_text, app.by_unique`, [], 'app');
  });

  test('several ranges, contiguous and open at both ends, cover every row exactly once', async () => {
    const snapshot = await openConsistentSnapshot(db.url('app'), { workers: 3, tables: [{ database: 'app', name: 'big' }] });
    const client = await pgClient();
    try {
      const [table] = await groupTables(conn, [ref('app', 'big')], OPTS, { app: 'chunked' });
      assert.ok(table);
      const chunks = await planMySqlChunks(snapshot.workers[0]?.connection as mysql.Connection, table, 128 * 1024);
      assert.ok(chunks.length >= 4, `a ${ROWS}-row table in 128 kB chunks has several, got ${chunks.length}`);
      const plans = chunks.map((c) => c.plan);
      for (const [i, p] of plans.entries()) {
        assert.ok(p.kind === 'key');
        assert.deepEqual([p.schema, p.relation, p.column], ['chunked', 'big', 'id'], 'target names');
        assert.equal(p.from === null, i === 0, 'only the first range is open below');
        assert.equal(p.to === null, i === plans.length - 1, 'only the last range is open above');
        const prev = plans[i - 1];
        if (prev?.kind === 'key') assert.equal(p.from, prev.to, 'each range starts where the one before ends');
        if (p.from !== null && p.to !== null) assert.ok(BigInt(p.from) < BigInt(p.to));
      }
      assert.ok(chunks.every((c) => c.estimatedBytes > 0));

      await client.query(`CREATE SCHEMA chunked; ${table.target.ddl}`);
      // Rows written after the snapshot are not in it, whichever chunk they fall in.
      await db.query(`INSERT INTO app.big VALUES (1, 'below every range'), (18446744073709551615, 'above every range')`);
      const copied = await copyAll(snapshot, table, chunks);
      assert.equal(copied.rows, ROWS);
      assert.ok(copied.perChunk.every((n) => n > 0 && n < ROWS), `every chunk has some rows: ${copied.perChunk.join(', ')}`);
      const check = await client.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct_ids, min(id)::text AS lo, max(id)::text AS hi,
        sum(id - ${BASE})::text AS sum, bool_and(v = 'value ' || div(id - ${BASE}, 1000003)::text || ' ' || repeat('x', (div(id - ${BASE}, 1000003) % 50)::int)) AS values_ok
        FROM chunked.big`);
      const n = BigInt(ROWS);
      assert.deepEqual(check.rows[0], {
        n: ROWS, distinct_ids: ROWS, lo: String(BASE + 1000003n), hi: String(BASE + n * 1000003n),
        sum: String((n * (n + 1n) / 2n) * 1000003n), values_ok: true,
      });
      // Each chunk's rows are exactly those its range holds.
      for (const [i, p] of plans.entries()) {
        if (p.kind !== 'key') continue;
        const conds = [p.from === null ? 'true' : `id >= ${p.from}`, p.to === null ? 'true' : `id < ${p.to}`];
        const inRange = await client.query(`SELECT count(*)::int AS n FROM chunked.big WHERE ${conds.join(' AND ')}`);
        assert.equal(inRange.rows[0]?.n, copied.perChunk[i], `chunk ${i}`);
      }
    } finally {
      await client.end();
      await snapshot.close();
      await db.query('DELETE FROM app.big WHERE id IN (1, 18446744073709551615)');
    }
  });

  test('a table keyed by text is one whole chunk; a unique NOT NULL integer key is ranged when there is no primary key', async () => {
    const tables = await groupTables(conn, [ref('app', 'by_*')], OPTS);
    const byName = new Map(tables.map((t) => [t.source.name, t]));
    const text = await planMySqlChunks(conn, byName.get('by_text') as GroupTable, 8 * 1024);
    assert.deepEqual(text.map((c) => c.plan), [{ kind: 'whole', schema: 'app', relation: 'by_text', only: true }]);
    const unique = await planMySqlChunks(conn, byName.get('by_unique') as GroupTable, 8 * 1024);
    assert.ok(unique.length > 1 && unique.every((c) => c.plan.kind === 'key' && c.plan.column === 'n'), JSON.stringify(unique.map((c) => c.plan)));
    const one = await planMySqlChunks(conn, byName.get('by_unique') as GroupTable, 1 << 30);
    assert.deepEqual(one.map((c) => c.plan.kind), ['whole'], 'a table smaller than a chunk is one chunk');
  });
});

test('COPY text format: tabs separate values, NULL is \\N, backslash, tab, newline and CR are escaped', () => {
  assert.equal(copyLine(['a', null, 'b\\c\td\ne\rf', '', '\\N']), 'a\t\\N\tb\\\\c\\td\\ne\\rf\t\t\\\\N\n');
});
