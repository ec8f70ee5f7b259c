import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BinaryValue } from '../src/change/change.js';
import { arrayText, binaryArray } from '../src/pg/binary-format.js';
import { assertSameRows, catchUp, init, run, startPair, until, type Pair, type Running } from './support/harness.js';
import { binaryTypesRow, binaryTypesTable } from './support/semantic-cases.js';

/** The options each group's walsender was started with, from its START_REPLICATION command. */
async function startedBinary(pair: Pair, group: string): Promise<boolean | undefined> {
  const res = await pair.sql('source', `SELECT query FROM pg_stat_activity WHERE backend_type = 'walsender' AND application_name = $1`, [`ferry:${group}`]);
  const query = res.rows[0]?.query as string | undefined;
  return query === undefined ? undefined : query.includes(`binary 'true'`);
}

describe('binary transfer (PostgreSQL 18 → 18)', () => {
  let pair: Pair;
  let config: string;
  let ferry: Running;

  before(async () => {
    pair = await startPair({ sourceSettings: { logical_decoding_work_mem: "'64kB'" } });
    const moods = `CREATE TYPE mood AS ENUM ('sad', 'happy');`;
    await pair.sql('target', moods);
    await pair.sql('source', `${moods}
      ${binaryTypesTable};
      INSERT INTO btypes VALUES ${binaryTypesRow(1)}, ${binaryTypesRow(2)}, (3, 0${', NULL'.repeat(42)});
      CREATE TABLE toasty (id int PRIMARY KEY, big text, n int);
      ALTER TABLE toasty ALTER COLUMN big SET STORAGE EXTERNAL;
      CREATE TABLE no_key (a int, b text, j jsonb, f float8);
      ALTER TABLE no_key REPLICA IDENTITY FULL;
      CREATE TABLE ident_full (id int GENERATED ALWAYS AS IDENTITY, v text);
      ALTER TABLE ident_full REPLICA IDENTITY FULL;
      CREATE TABLE swap (id int PRIMARY KEY, code text NOT NULL UNIQUE);
      CREATE TABLE feelings (id int PRIMARY KEY, m mood);
      INSERT INTO swap VALUES (1, 'a'), (2, 'b');
    `);
    config = await pair.config({
      main: ['public.btypes', 'public.toasty', 'public.no_key', 'public.ident_full', 'public.swap'],
      other: ['public.feelings'],
    });
    await init(config);
    ferry = await run(config);
  });

  after(async () => {
    await ferry?.stop();
    await pair?.stop();
  });

  test('a group streams in binary where every column allows it, in text otherwise', async () => {
    await until('both walsenders', async () => (await startedBinary(pair, 'main')) !== undefined && (await startedBinary(pair, 'other')) !== undefined);
    assert.equal(await startedBinary(pair, 'main'), true, 'main has built-in types only');
    assert.equal(await startedBinary(pair, 'other'), false, 'other has an enum column');
    await pair.sql('source', `INSERT INTO feelings VALUES (1, 'happy')`);
    await catchUp(config);
    await assertSameRows(pair, 'feelings');
  });

  test('streamed inserts, updates, key changes and deletes reproduce every type exactly', async () => {
    await assertSameRows(pair, 'btypes');
    await pair.sql('source', `INSERT INTO btypes VALUES ${binaryTypesRow(4)}, ${binaryTypesRow(5)}`);
    // Set-based updates: arrays travel as text, scalars as binary arrays; keys of two columns.
    await pair.sql('source', `UPDATE btypes SET ta = '{"x y",NULL,"NULL"}', ia = '{}', na = '{1.10,-0.5}', fa = '{-0}', ba = '{"\\\\x01"}',
      ca = '{"z"}', lb = '[-2:-1]={5,6}', ma = '{{9}}', n = 'Infinity', f4 = 'NaN', tstz = 'infinity', jb = '{"z": 1}' WHERE id = 1`);
    await pair.sql('source', `UPDATE btypes SET t = E'a\\tb', by = '\\x', u = NULL WHERE id IN (2, 4)`);
    await pair.sql('source', `UPDATE btypes SET id = 40, k = -1.000 WHERE id = 4`);
    await pair.sql('source', `DELETE FROM btypes WHERE id = 5`);
    // Inserted and updated in one batch: the merged row is written by COPY from its values.
    await pair.sql('source', `BEGIN; INSERT INTO btypes VALUES ${binaryTypesRow(6)}; UPDATE btypes SET ta = '{q}', n = 5 WHERE id = 6; COMMIT`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'btypes'), 5);
  });

  test('an update leaves an unchanged TOASTed value alone', async () => {
    await pair.sql('source', `INSERT INTO toasty SELECT 1, string_agg(md5(i::text), '') FROM generate_series(1, 3000) i`);
    await pair.sql('source', `UPDATE toasty SET n = 7 WHERE id = 1`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'toasty'), 1);
    const res = await pair.sql('target', 'SELECT length(big) AS len, n FROM toasty');
    assert.deepEqual(res.rows, [{ len: 96000, n: 7 }]);
  });

  test('a table without a key is matched on its whole old row', async () => {
    await pair.sql('source', `INSERT INTO no_key VALUES (1, 'dup', '{"x": 1}', -0), (1, 'dup', '{"x": 1}', -0), (2, NULL, NULL, 'NaN')`);
    await pair.sql('source', `UPDATE no_key SET b = 'changed' WHERE ctid = (SELECT ctid FROM no_key WHERE b = 'dup' LIMIT 1)`);
    await pair.sql('source', `DELETE FROM no_key WHERE a = 2`);
    // An identity column that did not change is not SET (the target refuses to SET a GENERATED ALWAYS column).
    await pair.sql('source', `INSERT INTO ident_full (v) VALUES ('a'), ('b'); UPDATE ident_full SET v = 'c' WHERE v = 'a'`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'no_key'), 2);
    assert.equal(await assertSameRows(pair, 'ident_full'), 2);
  });

  test('a batch a unique index objects to is replayed in order with binary parameters', async () => {
    await pair.sql('source', `BEGIN; UPDATE swap SET code = 'tmp' WHERE id = 1; UPDATE swap SET code = 'a' WHERE id = 2; UPDATE swap SET code = 'b' WHERE id = 1; COMMIT`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'swap'), 2);
  });

  test('a transaction streamed while in progress is applied from its spool', async () => {
    await pair.sql('source', `BEGIN;
      INSERT INTO btypes SELECT i, 0.5, true, i % 1000, i, i * 1.25, NULL, i / 3.0, i / 7.0, NULL, md5(i::text) FROM generate_series(100, 3099) i;
      UPDATE btypes SET ta = ARRAY[md5(id::text), NULL], n = n + 1 WHERE id BETWEEN 100 AND 1099;
      DELETE FROM btypes WHERE id BETWEEN 2000 AND 2099;
      COMMIT`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'btypes'), 5 + 2900);
  });

  test('a column binary transfer cannot carry, added while streaming, switches the group to text', async () => {
    await pair.sql('target', `ALTER TABLE swap ADD COLUMN m mood`);
    await pair.sql('source', `ALTER TABLE swap ADD COLUMN m mood; INSERT INTO swap VALUES (3, 'c', 'sad'); UPDATE swap SET m = 'happy' WHERE id = 1`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'swap'), 3);
    assert.equal(await startedBinary(pair, 'main'), false);
  });
});

describe('binary values as text', () => {
  let pair: Pair;
  before(async () => { pair = await startPair(); });
  after(async () => { await pair?.stop(); });

  test('arrays sent in binary read back as the same arrays from the text ferry writes', async () => {
    const arrays = [
      `'{}'::text[]`, `'{"a b","",NULL,"NULL","q\\"u","c,d","{x}","b\\\\s"," t","\\t"}'::text[]`, `'[0:1][2:3]={{1,2},{3,NULL}}'::int[]`,
      `'{-32768,32767}'::int2[]`, `'{-9223372036854775808,0}'::int8[]`, `'{t,f,NULL}'::bool[]`, `'{4294967295,0}'::oid[]`,
      `'{0,0.0001,-12.5,NaN,Infinity,-Infinity,10000,99990000.00010,123456789012345678901234567890.123456789}'::numeric[]`,
      `'{-0,NaN,Infinity,-Infinity,1e-300,1.7976931348623157e308,0.1}'::float8[]`, `'{-0,1e-40,3.4028235e38,0.1}'::float4[]`,
      `ARRAY['\\x'::bytea, '\\x00ff5c22', NULL]`, `'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'::uuid[]`,
      `'{"a  ",b}'::char(3)[]`, `'{"x,y",z}'::varchar(5)[]`, `'{pg_catalog}'::name[]`,
    ];
    for (const literal of arrays) {
      const sent = (await pair.sql('source', `SELECT array_send(${literal}) AS b, pg_typeof(${literal})::text AS type`)).rows[0];
      const text = arrayText(sent.b as Buffer);
      const same = (await pair.sql('source', `SELECT $1::${sent.type} IS NOT DISTINCT FROM ${literal} AS same, $1::${sent.type}::text AS back`, [text])).rows[0];
      assert.equal(same.same, true, `${literal} came back as ${same.back} from ${text}`);
    }
  });

  test('a binary array parameter holds the values it was built from', async () => {
    const values = (await pair.sql('source', `SELECT numeric_send(x) AS b FROM unnest('{1.5,-0.001,NaN}'::numeric[]) x`)).rows.map((r) => new BinaryValue((r.b as Buffer).toString('latin1')));
    const res = await pair.sql('source', `SELECT $1::numeric[]::text AS t`, [binaryArray(1700, [...values, null])]);
    assert.equal(res.rows[0].t, '{1.5,-0.001,NaN,NULL}');
  });
});
