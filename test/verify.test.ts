import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { recordText } from '../src/verify/row-text.js';
import { catchUp, cliRun, init, type Pair, run, startPair, writeUntilAborted } from './support/harness.js';
import { tableOf, verifyJson } from './support/verify-json.js';

const BIG_ROWS = 200_000;

const SCHEMA = `
  CREATE TABLE items (id int PRIMARY KEY, name text, note text, amount numeric, qty int,
                      doubled int GENERATED ALWAYS AS (qty * 2) STORED);
  INSERT INTO items (id, name, note, amount, qty)
    SELECT i, 'item ' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'note ' || i END, i * 1.5, i FROM generate_series(1, 1000) i;
  CREATE TABLE tags (code text PRIMARY KEY, label text);
  INSERT INTO tags VALUES ('a', 'first'), ('b', 'second'), ('c', 'third'), ('d,"odd" key', 'quoted');
  CREATE TABLE events (kind text, payload text);
  ALTER TABLE events REPLICA IDENTITY FULL;
  INSERT INTO events VALUES ('a', 'x'), ('a', 'x'), ('a', 'x'), ('b', NULL), ('c', '');
  CREATE TABLE big (id bigint PRIMARY KEY, v text);
  INSERT INTO big SELECT i, md5(i::text) FROM generate_series(1, ${BIG_ROWS}) i;
  CREATE TABLE clean (id int PRIMARY KEY, v text);
  INSERT INTO clean SELECT i, 'v' || i FROM generate_series(1, 100) i;
  CREATE TABLE readings (id int, at date, v numeric, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
  CREATE TABLE readings_2024 PARTITION OF readings FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
  CREATE TABLE readings_2025 PARTITION OF readings FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
  INSERT INTO readings SELECT i, date '2024-06-01' + (i % 400), i / 7.0 FROM generate_series(1, 2000) i;
  CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, doc text);
  ALTER TABLE accounts ALTER COLUMN doc SET STORAGE EXTERNAL;
  INSERT INTO accounts SELECT i, 0, CASE WHEN i % 10 = 0 THEN repeat(md5(i::text), 200) END FROM generate_series(1, 200) i;
  CREATE TABLE ledger (account int, amount int);
  ALTER TABLE ledger REPLICA IDENTITY FULL;`;

describe('ferry verify (PostgreSQL 18 source, 13 target)', () => {
  let pair: Pair;
  let config: string;

  before(async () => {
    pair = await startPair({ targetMajor: 13 });
    await pair.sql('source', SCHEMA);
    config = await pair.config({
      shop: ['public.items', 'public.tags', 'public.events', 'public.readings'],
      bulk: ['public.big', 'public.clean'],
      live: ['public.accounts', 'public.ledger'],
    });
    await init(config);
  });

  after(async () => {
    await pair?.stop();
  });

  test('row texts built from column texts are the ones PostgreSQL prints', async () => {
    const values = ['plain', '', null, 'a b', 'q"uote', 'back\\slash', '(x,y)', 'tab\there', 'zażółć', 'new\nline'];
    const params = values.map((_, i) => `$${i + 1}::text`).join(', ');
    const printed = (await pair.sql('source', `SELECT ROW(${params})::text AS r`, values)).rows[0].r;
    assert.equal(recordText(values), printed);
  });

  test('equal tables: exit 0, every table equal, generated columns left out', async () => {
    const { res, report } = await verifyJson(config);
    assert.equal(res.code, 0, res.stdout);
    assert.equal(report.equal, true);
    assert.equal(report.method, 'snapshot');
    assert.deepEqual(report.tables.map((t) => t.table).sort(),
      ['public.accounts', 'public.big', 'public.clean', 'public.events', 'public.items', 'public.ledger', 'public.readings', 'public.tags']);
    for (const t of report.tables) assert.ok(t.equal, `${t.table} reported different: ${JSON.stringify(t)}`);
    const items = tableOf(report, 'public.items');
    assert.equal(items.sourceRows, 1000);
    assert.equal(items.targetRows, 1000);
    assert.deepEqual(items.skippedColumns, ['doubled']);
    assert.equal(tableOf(report, 'public.events').key, null);
    const text = await cliRun(['verify', '-c', config]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Source and target are equal\./);
  });

  test('a deleted, an added and changed target rows are reported by key with exit 1 (NULL vs empty, numeric scale, text and composite keys, duplicates, partitions)', async () => {
    await pair.sql('target', `
      DELETE FROM items WHERE id = 3;
      INSERT INTO items (id, name, note, amount, qty) VALUES (1001, 'intruder', NULL, 1, 1);
      UPDATE items SET note = '' WHERE id = 6;           -- NULL on the source
      UPDATE items SET amount = 10.50 WHERE id = 7;      -- 10.5 on the source
      UPDATE tags SET label = 'SECOND' WHERE code = 'b';
      DELETE FROM tags WHERE code = 'd,"odd" key';
      DELETE FROM events WHERE ctid = (SELECT min(ctid) FROM events WHERE kind = 'a');
      UPDATE readings SET v = v + 1 WHERE id = 700;`);
    try {
      const { res, report } = await verifyJson(config, '--tables', 'public.items,public.tags,public.events,public.clean,public.readings');
      assert.equal(res.code, 1, res.stdout);
      assert.equal(report.equal, false);
      const items = tableOf(report, 'public.items');
      assert.deepEqual(items.missing, { count: 1, keys: [{ id: '3' }], rows: [] });
      assert.deepEqual(items.extra, { count: 1, keys: [{ id: '1001' }], rows: [] });
      assert.equal(items.differing.count, 2);
      assert.deepEqual(items.differing.keys.map((k) => k.id).sort(), ['6', '7']);
      assert.equal(items.sourceRows, 1000);
      assert.equal(items.targetRows, 1000);
      const tags = tableOf(report, 'public.tags');
      assert.deepEqual(tags.differing.keys, [{ code: 'b' }]);
      assert.deepEqual(tags.missing.keys, [{ code: 'd,"odd" key' }]);
      const events = tableOf(report, 'public.events');
      assert.deepEqual(events.missing, { count: 1, keys: [], rows: [{ row: '(a,x)', count: 1 }] });
      assert.equal(events.extra.count, 0);
      assert.equal(tableOf(report, 'public.clean').equal, true);
      assert.deepEqual(tableOf(report, 'public.readings').differing.keys, [{ id: '700', at: '2025-03-28' }]);

      const text = await cliRun(['verify', '-c', config, '--tables', 'public.items', '--limit', '1']);
      assert.equal(text.code, 1, text.stderr);
      assert.match(text.stdout, /public\.items: 1 missing on the target: id=3/);
      assert.match(text.stdout, /public\.items: 2 differing: id=\d, … 1 more/);
      assert.match(text.stdout, /1 of 1 tables differ/);
    } finally {
      await pair.sql('target', `
        INSERT INTO items (id, name, note, amount, qty) SELECT 3, 'item 3', NULL, 4.5, 3;
        DELETE FROM items WHERE id = 1001;
        UPDATE items SET note = NULL WHERE id = 6;
        UPDATE items SET amount = 10.5 WHERE id = 7;
        UPDATE tags SET label = 'second' WHERE code = 'b';
        INSERT INTO tags VALUES ('d,"odd" key', 'quoted');
        INSERT INTO events VALUES ('a', 'x');
        UPDATE readings SET v = v - 1 WHERE id = 700;`);
    }
    const { res } = await verifyJson(config, '--tables', 'public.items,public.tags,public.events,public.readings');
    assert.equal(res.code, 0, `repaired tables still differ: ${res.stdout}`);
  });

  test(`one changed row among ${BIG_ROWS} is found by drilling into its chunk only`, async () => {
    await pair.sql('target', `UPDATE big SET v = 'changed' WHERE id = 123456`);
    try {
      const started = Date.now();
      const { res, report } = await verifyJson(config, '--tables', 'public.big');
      const seconds = (Date.now() - started) / 1000;
      assert.equal(res.code, 1, res.stdout);
      const big = tableOf(report, 'public.big');
      assert.deepEqual(big.differing.keys, [{ id: '123456' }]);
      assert.equal(big.missing.count + big.extra.count, 0);
      assert.equal(big.sourceRows, BIG_ROWS);
      assert.ok(big.chunks >= 1024, `only ${big.chunks} chunks`);
      assert.equal(big.chunksDrilled, 1);
      assert.ok(big.rowsFetched < BIG_ROWS / 200, `${big.rowsFetched} rows fetched to find one row among ${BIG_ROWS}`);
      console.log(`verify of ${BIG_ROWS} rows: ${report.seconds.toFixed(2)} s (${seconds.toFixed(1)} s with process start), ${big.chunks} chunks, ${big.rowsFetched} rows fetched`);
    } finally {
      await pair.sql('target', `UPDATE big SET v = md5('123456') WHERE id = 123456`);
    }
  });

  test('while ferry run applies a live workload, verify reports no difference, and the changes made meanwhile are reconciled', async () => {
    const ferry = await run(config);
    const stop = new AbortController();
    const workload = liveWorkload(pair.source.url('app'), stop.signal);
    try {
      let reconciled = 0;
      for (let i = 0; i < 4; i++) {
        const { res, report } = await verifyJson(config, '--tables', 'public.accounts,public.ledger');
        assert.equal(res.code, 0, `false difference while replicating: ${res.stdout}`);
        assert.equal(report.method, 'slot');
        assert.ok(report.groups.every((g) => g.running && g.caughtUp), JSON.stringify(report.groups));
        reconciled += report.tables.reduce((a, t) => a + t.changesReconciled, 0);
      }
      assert.ok(reconciled > 0, 'no source change fell between the source snapshot and the target position; the reconciliation went untested');
    } finally {
      stop.abort();
      const transactions = await workload;
      assert.ok(transactions > 50, `the workload committed only ${transactions} transactions`);
      await catchUp(config);
    }
    try {
      // Groups being applied with nothing to apply still reach the common point (a marker moves them), well within the timeout.
      const started = Date.now();
      const { res, report } = await verifyJson(config, '--tables', 'public.accounts,public.ledger', '--timeout', '20');
      assert.equal(res.code, 0, `verify of idle running groups: ${res.stdout}${res.stderr}`);
      assert.equal(report.method, 'slot');
      assert.ok(Date.now() - started < 15_000, `verify of idle running groups took ${Date.now() - started} ms`);
    } finally {
      assert.deepEqual(await ferry.stop(), []);
    }
    const { res, report } = await verifyJson(config);
    assert.equal(res.code, 0, res.stdout);
    assert.ok(tableOf(report, 'public.ledger').sourceRows > 0);
  });

  test('an unknown table, a malformed list or an unreachable server exits 2 and says why', async () => {
    const unknown = await cliRun(['verify', '-c', config, '--tables', 'public.items,public.nope']);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /table public\.nope is not replicated by any group/);
    assert.equal(unknown.stdout, '');
    const malformed = await cliRun(['verify', '-c', config, '--tables', 'items']);
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /must be schema-qualified/);
    const unreachable = path.join(pair.dir, 'unreachable.yaml');
    await writeFile(unreachable, (await readFile(config, 'utf8')).replace(`:${pair.target.port}/`, ':1/'));
    const down = await cliRun(['verify', '-c', unreachable]);
    assert.equal(down.code, 2, down.stderr);
    assert.match(down.stderr, /FERRY_CONNECT_TARGET/);
  });
});

/**
 * Small transactions until aborted: one hot row updated by every transaction,
 * balance updates that leave a large TOASTed column unchanged, key changes,
 * deletes and re-inserts, and a keyless table that gains and loses rows.
 */
function liveWorkload(url: string, signal: AbortSignal): Promise<number> {
  return writeUntilAborted(url, signal, async (client, n) => {
    const a = 1 + ((n * 37) % 200);
    await client.query('BEGIN');
    await client.query('UPDATE accounts SET balance = balance + 1 WHERE id = 1');
    await client.query('UPDATE accounts SET balance = balance - 1 WHERE id = $1', [a]);
    await client.query('INSERT INTO ledger VALUES ($1, $2), ($1, $2)', [a, n % 7]);
    if (n % 5 === 0) await client.query('DELETE FROM ledger WHERE ctid = (SELECT min(ctid) FROM ledger WHERE account = $1)', [a]);
    if (n % 11 === 0) await client.query('UPDATE accounts SET id = id + 1000 WHERE id = $1', [a]);
    if (n % 11 === 5) await client.query('UPDATE accounts SET id = id - 1000 WHERE id > 1000 AND id = $1 + 1000', [a]);
    if (n % 13 === 0) await client.query(`DELETE FROM accounts WHERE id = 500 + $1`, [n % 50]);
    if (n % 13 === 6) await client.query(`INSERT INTO accounts VALUES (500 + $1, $2, repeat('z', 3000)) ON CONFLICT (id) DO NOTHING`, [(n - 6) % 50, n]);
    await client.query('COMMIT');
    if (n % 10 === 0) await new Promise((r) => setTimeout(r, 2));
  });
}
