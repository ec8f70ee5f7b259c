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
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectionOptions } from '../src/source/mysql-binlog/binlog-connection.js';
import { cli, cliRun, until, type CliResult } from './support/harness.js';

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
  if (dir) await rm(dir, { recursive: true, force: true });
});

let dir: string | undefined;

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

describe('ferry verify, MySQL source, while the group is applied', () => {
  /*
   * A stand-in for `ferry run`: this session holds the group's lock, and the
   * test applies a source change to the target by hand and records the
   * binlog's end as the group's position, while verify waits for it.
   */
  test('a key changed during the comparison is compared again once applied: equal when applied right, a difference when not', async () => {
    const holder = new pg.Client({ connectionString: cluster.url() });
    await holder.connect();
    try {
      assert.equal((await holder.query(sql.tryLockGroup, ['g'])).rows[0]?.locked, true);
      await db.query('CREATE DATABASE other; CREATE TABLE other.noise (id int PRIMARY KEY AUTO_INCREMENT)');
      for (const wrong of [false, true]) {
        await recordPosition(await binlogEnd());
        // The source moves past the group's position, so verify waits for the group after taking its snapshot.
        await db.query('INSERT INTO other.noise VALUES ()');
        const running = verify();
        await until('verify holds its source snapshot', async () =>
          Number((await db.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX WHERE trx_is_read_only = 1'))[0]?.n) >= 3);
        await db.query('UPDATE app.kinds SET amount = amount + 1 WHERE id = 5', [], 'app');
        await target.query(`UPDATE app.kinds SET amount = amount + ${wrong ? 2 : 1} WHERE id = 5`);
        await recordPosition(await binlogEnd());
        const report = await running;
        const kinds = table(report, 'app.kinds');
        assert.equal(report.method, 'binlog');
        assert.equal(kinds.notCompared?.count, 0, formatVerifyReport(report));
        if (wrong) {
          assert.deepEqual(kinds.differing.keys, [{ id: '5' }], formatVerifyReport(report));
          await target.query('UPDATE app.kinds SET amount = amount - 1 WHERE id = 5');
        } else {
          assert.equal(report.equal, true, formatVerifyReport(report));
          assert.equal(kinds.changesReconciled, 1);
        }
      }
    } finally {
      await holder.end();
    }
  });
});

/*
 * The same with the built CLI, as a user runs it: `ferry init` copies,
 * `ferry run` streams, and verify compares, also while a writer keeps
 * changing rows and the run applies them.
 */
describe('ferry verify, MySQL source, with the CLI', () => {
  const verifyCli = async (file: string, ...args: string[]): Promise<{ result: CliResult; report: VerifyReport }> => {
    const result = await cliRun(['verify', '-c', file, '--json', '--timeout', '60', ...args]);
    assert.ok(result.code === 0 || result.code === 1, `verify exits 0 or 1, not ${result.code}:\n${result.stderr.slice(-4000)}`);
    return { result, report: JSON.parse(result.stdout) as VerifyReport };
  };

  test('after init and run: equal (exit 0), also while writing; rows changed on the target behind Ferry\'s back: exit 1 naming them', async () => {
    await db.query(`CREATE DATABASE shop;
      CREATE TABLE shop.items (id BIGINT PRIMARY KEY, price DECIMAL(12,2) NOT NULL, weight FLOAT, score DOUBLE, made DATETIME(6),
        seen TIMESTAMP(6) NULL, attrs JSON, size ENUM('s','m','l'), tags SET('red','green','blue'), mask BIT(12), photo BLOB,
        title VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL);
      CREATE TABLE shop.codes (code VARCHAR(20) PRIMARY KEY, n INT NOT NULL)`);
    await db.query(`SET time_zone = '+00:00'; SET max_recursive_iterations = 100000;
      INSERT INTO shop.items SELECT seq, seq * 1.10, seq / 3, seq / 7, '2026-01-02 03:04:05.123456' + INTERVAL seq SECOND,
        '2026-02-03 04:05:06.5' + INTERVAL seq MINUTE, JSON_OBJECT('z', seq, 'a', 'x', 'm', JSON_ARRAY(1, 2.50, NULL)),
        ELT(1 + seq % 3, 's', 'm', 'l'), 'red,blue', seq % 4096, UNHEX(LPAD(HEX(seq), 8, '0')), CONCAT('ß 😀 ', seq)
        FROM (WITH RECURSIVE s(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < 3000) SELECT seq FROM s) AS numbers;
      INSERT INTO shop.codes VALUES ('a1', 1), ('B2', 2), ('c3', 3)`);
    await cluster.query('CREATE DATABASE shop');
    dir = await mkdtemp(path.join(tmpdir(), 'ferry-mysql-verify-'));
    const file = path.join(dir, 'ferry.yaml');
    await writeFile(file, ['source:', `  url: ${db.url('shop', 'replication')}`, 'target:', `  url: ${cluster.url('shop')}`,
      'groups:', '  - name: shop', '    tables: [shop.items, shop.codes]', 'copy:', '  parallel: 3', '  chunk_size: 64kB', ''].join('\n'));
    const init = await cliRun(['init', '-c', file]);
    assert.equal(init.code, 0, init.stderr.slice(-4000));
    const ferry = cli(['run', '-c', file]);
    try {
      const waited = await cliRun(['wait', '-c', file, '--timeout', '60']);
      assert.equal(waited.code, 0, waited.stderr.slice(-4000));
      let { result, report } = await verifyCli(file);
      assert.equal(result.code, 0, result.stdout);
      assert.equal(report.method, 'binlog');
      assert.deepEqual(report.tables.map((t) => [t.table, t.sourceRows, t.targetRows, t.equal]), [['shop.codes', 3, 3, true], ['shop.items', 3000, 3000, true]]);

      // A writer keeps changing rows (the same rows again and again, and new ones) while run applies them and verify compares.
      let stopping = false;
      const writing = (async () => {
        const c = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: 'root', database: 'shop' });
        let n = 0;
        try {
          while (!stopping) {
            await c.query('BEGIN');
            await c.query('UPDATE items SET price = price + 1, attrs = JSON_SET(attrs, \'$.n\', ?) WHERE id = ?', [n, 1 + (n % 50)]);
            await c.query("INSERT INTO items (id, price, title) VALUES (?, 1, 'new')", [10_000 + n]);
            if (n % 3 === 0) await c.query('DELETE FROM items WHERE id = ?', [2000 + n]);
            await c.query('COMMIT');
            n++;
          }
        } finally {
          await c.end();
        }
        return n;
      })();
      try {
        for (let i = 0; i < 3; i++) {
          ({ result, report } = await verifyCli(file, '--parallel', '2'));
          assert.equal(result.code, 0, result.stdout);
          // Only keys the writer changes can have changed between the two sides' points.
          const items = report.tables.find((t) => t.table === 'shop.items');
          for (const k of items?.notCompared?.keys ?? []) assert.ok(Number(k.id) <= 50 || Number(k.id) >= 2000, `not compared: ${k.id}`);
        }
      } finally {
        stopping = true;
        assert.ok(await writing > 0);
      }

      // Behind Ferry's back, rows the writer never touches.
      await cluster.query(`UPDATE shop.items SET price = price + 0.01 WHERE id = 1700;
        DELETE FROM shop.items WHERE id = 1500; INSERT INTO shop.items (id, price, title) VALUES (99999, 1, 'x');
        UPDATE shop.codes SET n = 20 WHERE code = 'B2'`, [], 'shop');
      ({ result, report } = await verifyCli(file));
      assert.equal(result.code, 1, result.stdout);
      const items = report.tables.find((t) => t.table === 'shop.items');
      assert.deepEqual([items?.differing.keys, items?.missing.keys, items?.extra.keys], [[{ id: '1700' }], [{ id: '1500' }], [{ id: '99999' }]]);
      assert.deepEqual(report.tables.find((t) => t.table === 'shop.codes')?.differing.keys, [{ code: 'B2' }]);
      const text = await cliRun(['verify', '-c', file, '--tables', 'shop.items']);
      assert.equal(text.code, 1);
      assert.match(text.stdout, /shop\.items: 1 missing on the target: id=1500/);
      assert.match(text.stdout, /shop\.items: 1 differing: id=1700/);
    } finally {
      ferry.child.kill('SIGTERM');
      await ferry.result;
    }
    // Nothing applies the group now: compared at plain snapshots, the differences still found.
    const { result, report } = await verifyCli(file);
    assert.equal(result.code, 1);
    assert.equal(report.method, 'snapshot');
    assert.equal(report.tables.find((t) => t.table === 'shop.items')?.missing.count, 1);
    const unknown = await cliRun(['verify', '-c', file, '--tables', 'shop.nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /FERRY_VERIFY_TABLES/);
  });
});
