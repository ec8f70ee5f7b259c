import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { collectStatus } from '../src/observe/status.js';
import { loadConfig } from '../src/config/load.js';
import { assertSameRows, catchUp, init, run, startPair, until, type Pair } from './support/harness.js';

describe('groups are independent streams', () => {
  let pair: Pair;
  let config: string;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TABLE a (id int PRIMARY KEY, v text);
      CREATE TABLE b (id int PRIMARY KEY, v text);
      INSERT INTO a VALUES (1, 'a1'); INSERT INTO b VALUES (1, 'b1');`);
    config = await pair.config({ ga: ['public.a'], gb: ['public.b'] });
    await init(config);
  });

  after(async () => {
    await pair?.stop();
  });

  test('one group failing stops only that group; its position stays before the failed change; fixed, it resumes without loss', async () => {
    const ferry = await run(config);
    try {
      await pair.sql('target', 'ALTER TABLE a RENAME COLUMN v TO w');
      await pair.sql('source', `INSERT INTO a VALUES (2, 'a2')`);
      await pair.sql('source', `INSERT INTO b VALUES (2, 'b2')`);
      const cfg = await loadConfig(config);
      await until('group ga to fail', async () => (await collectStatus(cfg)).find((g) => g.group === 'ga')?.state === 'failed');
      const status = await collectStatus(cfg);
      const ga = status.find((g) => g.group === 'ga');
      assert.match(ga?.lastError ?? '', /FERRY_TARGET_COLUMN_MISSING: column v of public\.a does not exist on the target/);
      await until('group gb to apply its row', async () => (await pair.sql('target', 'SELECT count(*)::int AS n FROM b')).rows[0]?.n === 2);
      await pair.sql('source', `INSERT INTO b VALUES (3, 'b3')`);
      await until('group gb to keep going', async () => (await pair.sql('target', 'SELECT count(*)::int AS n FROM b')).rows[0]?.n === 3);
    } finally {
      const errors = await ferry.stop();
      assert.deepEqual(errors.map((e) => e.code), ['FERRY_TARGET_COLUMN_MISSING']);
    }
    await pair.sql('target', 'ALTER TABLE a RENAME COLUMN w TO v');
    const again = await run(config);
    try {
      await catchUp(config);
      assert.equal(await assertSameRows(pair, 'a'), 2);
      assert.equal(await assertSameRows(pair, 'b'), 3);
    } finally {
      assert.deepEqual(await again.stop(), []);
    }
  });
});

describe('major-version upgrade path: PostgreSQL 13 source, 18 target (pgoutput protocol 1)', () => {
  let pair: Pair;
  let config: string;

  before(async () => {
    pair = await startPair({ sourceMajor: 13, targetMajor: 18 });
    await pair.sql('source', `
      CREATE TABLE orders (id bigserial PRIMARY KEY, amount numeric(12,2), tags text[], doc jsonb, at timestamptz DEFAULT now());
      CREATE TABLE notes (id int PRIMARY KEY, body text);
      ALTER TABLE notes ALTER COLUMN body SET STORAGE EXTERNAL;
      INSERT INTO orders (amount, tags, doc) SELECT i * 1.01, ARRAY['t' || i, NULL], jsonb_build_object('i', i) FROM generate_series(1, 2000) i;
      INSERT INTO notes SELECT 1, string_agg(md5(i::text), '') FROM generate_series(1, 1000) i;`);
    config = await pair.config({ shop: ['public.*'] });
    await init(config);
  });

  after(async () => {
    await pair?.stop();
  });

  test('copy and streaming from 13 into 18 leave identical tables', async () => {
    const ferry = await run(config);
    try {
      await pair.sql('source', `
        INSERT INTO orders (amount, tags, doc) SELECT i, '{}', '{"late": true}' FROM generate_series(1, 3000) i;
        UPDATE orders SET amount = amount + 1 WHERE id % 3 = 0;
        DELETE FROM orders WHERE id % 10 = 0;
        UPDATE notes SET id = 2;
        BEGIN; INSERT INTO orders (amount) SELECT 0 FROM generate_series(1, 20000); COMMIT;
        TRUNCATE notes;
        INSERT INTO notes VALUES (5, 'short');`);
      await catchUp(config);
      await assertSameRows(pair, 'orders');
      await assertSameRows(pair, 'notes');
    } finally {
      assert.deepEqual(await ferry.stop(), []);
    }
  });
});

describe('a slot that fell behind the target position', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', 'CREATE TABLE notes (id int PRIMARY KEY, body text)');
  });

  after(async () => {
    await pair?.stop();
  });

  test('applies nothing twice and keeps streaming (as after a source crash that lost the confirmed position)', async () => {
    const config = await pair.config({ g: ['public.notes'] });
    await init(config);
    // Keep a copy of the slot as it is now, to put it back later: as after a source crash
    // that lost the slot's confirmed position.
    await pair.sql('source', `SELECT pg_copy_logical_replication_slot('ferry_g', 'ferry_g_before')`);
    let ferry = await run(config);
    await pair.sql('source', `INSERT INTO notes VALUES (1, 'one'), (2, 'two')`);
    await catchUp(config);
    assert.deepEqual(await ferry.stop(), []);
    await pair.sql('source', `SELECT pg_drop_replication_slot('ferry_g')`);
    await pair.sql('source', `SELECT pg_copy_logical_replication_slot('ferry_g_before', 'ferry_g')`);
    await pair.sql('source', `SELECT pg_drop_replication_slot('ferry_g_before')`);
    await pair.sql('source', `UPDATE notes SET body = 'uno' WHERE id = 1`);
    ferry = await run(config);
    try {
      await catchUp(config);
      assert.equal(await assertSameRows(pair, 'notes'), 2);
    } finally {
      assert.deepEqual(await ferry.stop(), []);
    }
  });
});
