import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertSameRows, catchUp, init, run, startPair, until, type Pair, type Running } from './support/harness.js';

/**
 * REPLICA IDENTITY FULL tables, with an index on the target (rows are found
 * through it) and without one, with values streamed as text and in binary.
 */
const SCHEMA = `
  CREATE TABLE indexed (a int, n numeric, b text, j json, p point);
  CREATE INDEX indexed_a_n ON indexed (a, n);
  ALTER TABLE indexed REPLICA IDENTITY FULL;
  CREATE TABLE plain (a int, n numeric, b text, j json, p point);
  ALTER TABLE plain REPLICA IDENTITY FULL;
  CREATE TABLE toasty (a int, big text, n int);
  ALTER TABLE toasty ALTER COLUMN big SET STORAGE EXTERNAL;
  CREATE INDEX toasty_a ON toasty (a);
  ALTER TABLE toasty REPLICA IDENTITY FULL;
  CREATE TABLE altered (code int, v text);
  CREATE UNIQUE INDEX altered_code ON altered (code);
  ALTER TABLE altered REPLICA IDENTITY FULL;`;

for (const transfer of ['text', 'binary'] as const) {
  describe(`REPLICA IDENTITY FULL (values as ${transfer})`, () => {
    let pair: Pair;
    let config: string;
    let ferry: Running;

    before(async () => {
      pair = await startPair();
      await pair.sql('source', SCHEMA);
      config = await pair.config({ main: ['public.indexed', 'public.plain', 'public.toasty', 'public.altered'] },
        transfer === 'text' ? '  binary_transfer: false' : '');
      await init(config);
      ferry = await run(config);
    });

    after(async () => {
      await ferry?.stop();
      await pair?.stop();
    });

    /** Index scans of the target's index so far, as the statistics have them. */
    async function indexScans(index: string): Promise<number> {
      await pair.sql('target', 'SELECT pg_stat_force_next_flush()');
      const res = await pair.sql('target', `SELECT coalesce(sum(idx_scan), 0)::int AS n FROM pg_stat_user_indexes WHERE indexrelname = $1`, [index]);
      return res.rows[0]?.n as number;
    }

    for (const table of ['indexed', 'plain']) {
      test(`${table}: of identical rows only one is updated or deleted, also when one transaction changes several`, async () => {
        await pair.sql('source', `INSERT INTO ${table} VALUES (1, 1, 'dup', '{"x": 1}', '(1,2)'), (1, 1, 'dup', '{"x": 1}', '(1,2)'),
          (1, 1, 'dup', '{"x": 1}', '(1,2)'), (1, 1, 'dup', '{"x": 1}', '(1,2)'), (2, 2, 'two', '[]', '(0,0)')`);
        await catchUp(config);
        await pair.sql('source', `UPDATE ${table} SET b = 'changed' WHERE ctid = (SELECT ctid FROM ${table} WHERE b = 'dup' LIMIT 1)`);
        await pair.sql('source', `DELETE FROM ${table} WHERE ctid = (SELECT ctid FROM ${table} WHERE b = 'dup' LIMIT 1)`);
        // Two identical old rows in one transaction, and a row updated twice (the second update's old row is the first's new one).
        await pair.sql('source', `BEGIN;
          DELETE FROM ${table} WHERE b = 'dup';
          UPDATE ${table} SET b = 'once' WHERE a = 2;
          UPDATE ${table} SET b = 'twice' WHERE a = 2;
          INSERT INTO ${table} VALUES (3, 3, 'brief', NULL, NULL);
          DELETE FROM ${table} WHERE a = 3;
          COMMIT`);
        await catchUp(config);
        const res = await pair.sql('target', `SELECT b, count(*)::int AS n FROM ${table} WHERE a IN (1, 2, 3) GROUP BY b ORDER BY b`);
        assert.deepEqual(res.rows, [{ b: 'changed', n: 1 }, { b: 'twice', n: 1 }], `${table} on the target`);
        await assertSameRows(pair, table);
      });

      test(`${table}: NULLs (in indexed columns too) and values equal by = but not the same are matched exactly`, async () => {
        await pair.sql('source', `INSERT INTO ${table} VALUES (NULL, NULL, 'nulls', NULL, NULL), (NULL, NULL, 'nulls', NULL, NULL),
          (10, NULL, 'n null', '{}', NULL), (NULL, 10, 'a null', NULL, '(5,5)'), (11, 1.0, 'same', NULL, NULL), (11, 1.00, 'same', NULL, NULL),
          (12, 0, '', '{"k": [1, 2]}', '(1,1)'), (12, 0, NULL, '{"k": [1, 2]}', '(1,1)')`);
        await catchUp(config);
        await pair.sql('source', `UPDATE ${table} SET b = 'one of two' WHERE ctid = (SELECT ctid FROM ${table} WHERE b = 'nulls' LIMIT 1)`);
        await pair.sql('source', `UPDATE ${table} SET j = '[1]' WHERE a = 10`);
        await pair.sql('source', `DELETE FROM ${table} WHERE n = 10 AND a IS NULL`);
        // 1.0 = 1.00, but the source changed the row that reads 1.00.
        await pair.sql('source', `UPDATE ${table} SET b = 'two decimals' WHERE n::text = '1.00'`);
        // '' and NULL are different rows.
        await pair.sql('source', `BEGIN; UPDATE ${table} SET b = 'was empty' WHERE b = ''; DELETE FROM ${table} WHERE a = 12 AND b IS NULL; COMMIT`);
        await catchUp(config);
        await assertSameRows(pair, table);
        const res = await pair.sql('target', `SELECT n::text, b FROM ${table} WHERE a = 11 ORDER BY b`);
        assert.deepEqual(res.rows, [{ n: '1.0', b: 'same' }, { n: '1.00', b: 'two decimals' }]);
      });

      test(`${table}: a transaction of many updates and deletes, with repeats, reproduces the source`, async () => {
        await pair.sql('source', `INSERT INTO ${table} SELECT i % 300, i % 7, 'bulk', json_build_object('i', i % 300), point(i % 3, 0)
          FROM generate_series(1, 3000) i`);
        await catchUp(config);
        await pair.sql('source', `BEGIN;
          UPDATE ${table} SET b = 'bulk ' || (a % 5) WHERE b = 'bulk' AND a % 3 = 0;
          DELETE FROM ${table} WHERE b = 'bulk' AND a % 10 = 1;
          UPDATE ${table} SET n = n + 1 WHERE b LIKE 'bulk%' AND a % 4 = 0;
          DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE b = 'bulk 0' LIMIT 50);
          COMMIT`);
        await catchUp(config);
        await assertSameRows(pair, table);
      });
    }

    test('updates and deletes find their rows through the index on the target', async () => {
      const before = await indexScans('indexed_a_n');
      await pair.sql('source', `INSERT INTO indexed SELECT i, i, 'found', NULL, NULL FROM generate_series(1000, 1099) i`);
      await catchUp(config);
      for (let i = 1000; i < 1010; i++) await pair.sql('source', `UPDATE indexed SET b = 'updated' WHERE a = ${i}`);
      await pair.sql('source', `DELETE FROM indexed WHERE a BETWEEN 1050 AND 1059`);
      await catchUp(config);
      await assertSameRows(pair, 'indexed');
      // A backend reports its statistics at a commit at least a second after its last report (else only when idle for 10 s).
      await new Promise((r) => setTimeout(r, 1100));
      await pair.sql('source', `INSERT INTO indexed VALUES (-1, -1, 'report', NULL, NULL)`);
      await catchUp(config);
      await until('index scans on the target', async () => (await indexScans('indexed_a_n')) >= before + 20, 20_000);
    });

    test('an update leaves an unchanged TOASTed value alone', async () => {
      await pair.sql('source', `INSERT INTO toasty SELECT 1, string_agg(md5(i::text), ''), 0 FROM generate_series(1, 3000) i`);
      await pair.sql('source', `INSERT INTO toasty SELECT * FROM toasty`);
      await catchUp(config);
      await pair.sql('source', `UPDATE toasty SET n = 1 WHERE ctid = (SELECT ctid FROM toasty LIMIT 1)`);
      await pair.sql('source', `BEGIN; UPDATE toasty SET n = n + 10; UPDATE toasty SET n = n + 100 WHERE n = 11; COMMIT`);
      await catchUp(config);
      assert.equal(await assertSameRows(pair, 'toasty'), 2);
      const res = await pair.sql('target', 'SELECT length(big) AS len, n FROM toasty ORDER BY n');
      assert.deepEqual(res.rows, [{ len: 96000, n: 10 }, { len: 96000, n: 111 }]);
    });

    test('a batch in which a table changes shape is replayed row by row, with and without an index', async () => {
      await pair.sql('source', `INSERT INTO altered VALUES (1, 'one'), (2, 'two'), (3, NULL)`);
      await catchUp(config);
      await pair.sql('target', 'ALTER TABLE altered ADD COLUMN extra int; ALTER TABLE plain ADD COLUMN extra int');
      await pair.sql('source', `BEGIN;
        UPDATE altered SET v = 'uno' WHERE code = 1; UPDATE plain SET b = 'before' WHERE a = 2;
        ALTER TABLE altered ADD COLUMN extra int; ALTER TABLE plain ADD COLUMN extra int;
        UPDATE altered SET extra = 5 WHERE code = 2; DELETE FROM altered WHERE code = 3;
        UPDATE plain SET extra = 7 WHERE a = 2; DELETE FROM plain WHERE ctid = (SELECT ctid FROM plain WHERE a IS NULL LIMIT 1);
        COMMIT`);
      await catchUp(config);
      assert.equal(await assertSameRows(pair, 'altered'), 2);
      await assertSameRows(pair, 'plain');
    });
  });
}
