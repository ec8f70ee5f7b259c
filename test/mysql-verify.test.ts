import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { FerryConfig } from '../src/config/schema.js';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { startMariaDb, type MariaDb } from '../src/embedded/mariadb.js';
import { silentLogger } from '../src/observe/logger.js';
import { binlogPosition } from '../src/source/mysql-binlog/binlog-stream-position.js';
import { readMySqlTable } from '../src/source/mysql-binlog/mysql-catalog.js';
import { verifyMySql } from '../src/source/mysql-binlog/mysql-verify.js';
import { targetTable } from '../src/source/mysql-binlog/target-table.js';
import { DEFAULT_TYPE_MAP_OPTIONS } from '../src/source/mysql-binlog/type-map.js';
import { ensureControlSchema } from '../src/target/control-schema.js';
import { sql } from '../src/target/control-sql.js';
import { formatVerifyReport } from '../src/verify/verify-output.js';
import type { VerifyReport } from '../src/verify/verify-report.js';
import mysql from 'mysql2/promise';
import { connectionOptions } from '../src/source/mysql-binlog/binlog-connection.js';

/*
 * `ferry verify` of a MySQL source against a real MariaDB and PostgreSQL.
 * The target rows here are written by hand, each value in another text
 * than MySQL gives for it (1.5 for 1.50, JSON keys in another order, ISO
 * timestamps with a T and an offset …): verify must compare them as the
 * values they are. The group's position is recorded on the target by hand
 * too, and nothing applies it: that is the "not running" case, where the
 * source may be ahead of the target.
 */

let db: MariaDb;
let cluster: Cluster;
let target: pg.Client;

const SETTINGS = { typeMap: DEFAULT_TYPE_MAP_OPTIONS, schemas: {}, snapshotLock: 'auto' as const };

function config(chunkBytes = 64 * 1024 * 1024): FerryConfig {
  return {
    source: { url: db.url('app'), capture: 'binlog', ddl: 'off' },
    target: { url: cluster.url() },
    groups: [{ name: 'g', tables: [{ schema: 'app', table: '*', pattern: true }] }],
    copy: { parallel: 3, chunkBytes },
  } as unknown as FerryConfig;
}

async function verify(options: { tables?: { schema: string; table: string; pattern: boolean }[]; chunkBytes?: number } = {}): Promise<VerifyReport> {
  return verifyMySql(config(options.chunkBytes), { limit: 10, parallel: 3, timeoutSeconds: 10, ...(options.tables ? { tables: options.tables } : {}) },
    silentLogger(), SETTINGS);
}

/** The source binlog's end: recorded as the group's position, as a caught-up `ferry run` leaves it. */
async function binlogEnd(): Promise<string> {
  const rows = await db.query<{ File: string; Position: number }[]>('SHOW MASTER STATUS');
  const row = rows[0] as { File: string; Position: number };
  return binlogPosition({ file: row.File, offset: Number(row.Position) });
}

async function recordPosition(position: string): Promise<void> {
  await target.query(sql.recordStart, ['g', position]);
}

const table = (report: VerifyReport, name: string) => {
  const t = report.tables.find((x) => x.table === name);
  assert.ok(t, `no report for ${name}`);
  return t;
};

before(async () => {
  [db, cluster] = await Promise.all([startMariaDb(), startCluster({ major: 18 })]);
  await db.query('CREATE DATABASE app');
  await db.query(`CREATE TABLE app.kinds (
    id int PRIMARY KEY, amount decimal(10,2), ratio float, precise double, at datetime(6), stamp timestamp(3) NULL,
    doc json, mood enum('sad','ok','happy'), tags set('a','b','c'), flags bit(5), data blob, note varchar(100) CHARACTER SET utf8mb4)`, [], 'app');
  await db.query('CREATE TABLE app.words (word varchar(20) PRIMARY KEY, n int NOT NULL)', [], 'app');
  const values: string[] = [];
  for (let i = 1; i <= 40; i++) {
    values.push(`(${i}, ${i}.50, ${i}.25, 0.1 * ${i}, '2024-01-02 03:04:05.${String(i).padStart(6, '0')}', '2024-05-06 07:08:09.123',
      '{"b": ${i}, "a": [1, 2], "z": {"y": null, "x": "é"}}', 'ok', 'a,c', b'10101', x'00ff${i.toString(16).padStart(2, '0')}', 'ünïcødé 😀 ${i}')`);
  }
  await db.query(`SET time_zone = '+00:00'; INSERT INTO app.kinds VALUES ${values.join(', ')}`, [], 'app');
  await db.query("INSERT INTO app.words VALUES ('apple', 1), ('Banana', 2), ('cherry', 3)", [], 'app');

  target = new pg.Client({ connectionString: cluster.url() });
  await target.connect();
  await ensureControlSchema(target);
  await target.query('CREATE SCHEMA app');
  const c = await mysql.createConnection(connectionOptions(db.url('app')));
  try {
    for (const name of ['kinds', 'words']) await target.query(targetTable(await readMySqlTable(c, 'app', name), DEFAULT_TYPE_MAP_OPTIONS).ddl);
  } finally {
    await c.end();
  }
  // The same values as the source holds, each written otherwise than MySQL writes it.
  for (let i = 1; i <= 40; i++) {
    await target.query(`INSERT INTO app.kinds VALUES ($1, $2, $3, $4, $5, $6, $7, 'ok', '{a,c}', B'10101', $8, $9)`, [
      i, `${i}.5`, `${i + 0.25}`, `${Number((0.1 * i).toPrecision(15))}`, `2024-01-02T03:04:05.${String(i).padStart(6, '0')}`,
      '2024-05-06T09:08:09.123+02:00', `{"z": {"x": "é", "y": null}, "a": [1, 2], "b": ${i}.0}`,
      Buffer.from(`00ff${i.toString(16).padStart(2, '0')}`, 'hex'), `ünïcødé 😀 ${i}`,
    ]);
  }
  await target.query("INSERT INTO app.words VALUES ('apple', 1), ('Banana', 2), ('cherry', 3)");
  await target.query(sql.insertGroup, ['g', 'binlog', null, null, ['app.kinds', 'app.words']]);
  await target.query(sql.startStreaming, ['g']);
  await recordPosition(await binlogEnd());
});

after(async () => {
  await target?.end();
  await Promise.all([db?.stop(), cluster?.stop()]);
});

describe('ferry verify, MySQL source', () => {
  test('values equal as PostgreSQL values are equal, whatever their text; several key ranges in parallel', async () => {
    const report = await verify({ chunkBytes: 1024 });
    assert.equal(report.equal, true, formatVerifyReport(report));
    assert.equal(report.method, 'snapshot');
    const kinds = table(report, 'app.kinds');
    assert.deepEqual([kinds.sourceRows, kinds.targetRows], [40, 40]);
    assert.ok(kinds.chunks > 1, `key ranges: ${kinds.chunks}`);
    assert.equal(table(report, 'app.words').sourceRows, 3);
    assert.equal(report.groups[0]?.caughtUp, true);
  });

  test('rows changed on the target behind Ferry\'s back are reported by kind, table and key', async () => {
    await target.query("UPDATE app.kinds SET doc = '{\"b\": 7}' WHERE id = 7");
    await target.query('DELETE FROM app.kinds WHERE id = 12');
    await target.query("INSERT INTO app.kinds (id, amount) VALUES (99, 1)");
    await target.query("UPDATE app.words SET n = 20 WHERE word = 'Banana'");
    try {
      const report = await verify({ chunkBytes: 1024 });
      assert.equal(report.equal, false);
      const kinds = table(report, 'app.kinds');
      assert.deepEqual(kinds.differing.keys, [{ id: '7' }]);
      assert.deepEqual(kinds.missing.keys, [{ id: '12' }]);
      assert.deepEqual(kinds.extra.keys, [{ id: '99' }]);
      assert.deepEqual(table(report, 'app.words').differing.keys, [{ word: 'Banana' }]);
      const text = formatVerifyReport(report);
      assert.match(text, /app\.kinds: 1 missing on the target: id=12/);
      assert.match(text, /app\.kinds: 1 extra on the target: id=99/);
      assert.match(text, /app\.words: 1 differing: word=Banana/);

      const only = await verify({ tables: [{ schema: 'app', table: 'words', pattern: false }] });
      assert.deepEqual(only.tables.map((t) => t.table), ['app.words']);
    } finally {
      await target.query("UPDATE app.kinds SET doc = '{\"b\": 7, \"a\": [1, 2], \"z\": {\"y\": null, \"x\": \"é\"}}' WHERE id = 7");
      await target.query(`INSERT INTO app.kinds SELECT 12, 12.5, 12.25, 1.2, '2024-01-02 03:04:05.000012', '2024-05-06 07:08:09.123+00',
        '{"b": 12, "a": [1, 2], "z": {"y": null, "x": "é"}}', 'ok', '{a,c}', B'10101', '\\x00ff0c', 'ünïcødé 😀 12'`);
      await target.query('DELETE FROM app.kinds WHERE id = 99');
      await target.query("UPDATE app.words SET n = 2 WHERE word = 'Banana'");
    }
    assert.equal((await verify()).equal, true);
  });

  test('a group behind the source: keys changed since its position are not compared, other differences still count', async () => {
    const behind = await binlogEnd();
    await db.query('UPDATE app.kinds SET amount = 0 WHERE id = 5', [], 'app');
    await db.query("INSERT INTO app.words VALUES ('date', 4)", [], 'app');
    await target.query('UPDATE app.kinds SET amount = 1 WHERE id = 6');
    try {
      const report = await verify();
      const kinds = table(report, 'app.kinds');
      assert.deepEqual(kinds.notCompared?.keys, [{ id: '5' }]);
      assert.deepEqual(kinds.differing.keys, [{ id: '6' }]);
      assert.deepEqual(table(report, 'app.words').notCompared?.keys, [{ word: 'date' }]);
      assert.equal(table(report, 'app.words').equal, true);
      assert.equal(report.groups[0]?.caughtUp, false);
      assert.match(formatVerifyReport(report), /app\.kinds: 1 changed on the source while verifying, not compared: id=5/);
    } finally {
      await target.query('UPDATE app.kinds SET amount = 6.5 WHERE id = 6');
      await target.query('UPDATE app.kinds SET amount = 0 WHERE id = 5');
      await target.query("INSERT INTO app.words VALUES ('date', 4)");
    }
    assert.ok(behind < await binlogEnd());
    await recordPosition(await binlogEnd());
    const report = await verify();
    assert.equal(report.equal, true, formatVerifyReport(report));
    assert.equal(table(report, 'app.kinds').notCompared?.count, 0);
  });
});
