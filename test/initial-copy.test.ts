import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { assertSameRows, catchUp, cli, cliRun, init, run, startPair, until, type Pair } from './support/harness.js';

const SMALL_CHUNKS = 'copy:\n  chunk_size: 256kB\n  parallel: 3';

describe('initial copy in chunks', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair();
    await pair.sql('target', `CREATE TYPE color AS ENUM ('red', 'green')`);
    await pair.sql('source', `
      CREATE TYPE color AS ENUM ('red', 'green');
      CREATE TABLE by_key (id bigint PRIMARY KEY, v text, n numeric, at timestamptz);
      INSERT INTO by_key SELECT i, md5(i::text), i / 3.0, '2020-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, 20000) i;
      CREATE TABLE by_pages (code text PRIMARY KEY, c color, v text);
      INSERT INTO by_pages SELECT 'k' || i, CASE WHEN i % 2 = 0 THEN 'red'::color ELSE 'green' END, repeat('x', 50) FROM generate_series(1, 15000) i;
      CREATE TABLE parted (id int, region int, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
      CREATE TABLE parted_1 PARTITION OF parted FOR VALUES IN (1);
      CREATE TABLE parted_2 PARTITION OF parted FOR VALUES IN (2);
      INSERT INTO parted SELECT i, 1 + i % 2, md5(i::text) FROM generate_series(1, 5000) i;`);
    await pair.sql('target', `CREATE TABLE parted (id int, region int, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
      CREATE TABLE parted_1 PARTITION OF parted FOR VALUES IN (1);
      CREATE TABLE parted_2 PARTITION OF parted FOR VALUES IN (2);`);
  });

  after(async () => {
    await pair?.stop();
  });

  test('large tables are cut by key range, by pages, or by partition, copied binary where types match, and arrive whole', async () => {
    const config = await pair.config({ chunks: ['public.by_key', 'public.by_pages', 'public.parted'] }, SMALL_CHUNKS);
    await init(config);
    const chunks = await pair.sql('target', `SELECT table_name, plan->>'kind' AS kind, count(*)::int AS n, min(format) AS format, sum(rows)::int AS rows
      FROM ferry.copy_chunks GROUP BY 1, 2 ORDER BY 1`);
    assert.deepEqual(chunks.rows.map((r) => [r.table_name, r.kind, r.n > 1, r.format, r.rows]), [
      ['public.by_key', 'key', true, 'binary', 20000],
      ['public.by_pages', 'pages', true, 'text', 15000],
      ['public.parted', 'whole', true, 'binary', 5000],
    ]);
    assert.equal(await assertSameRows(pair, 'by_key'), 20000);
    assert.equal(await assertSameRows(pair, 'by_pages'), 15000);
    assert.equal(await assertSameRows(pair, 'parted'), 5000);
    const status = await cliRun(['status', '-c', config, '--json']);
    const [group] = JSON.parse(status.stdout) as { copy: { chunks: number; chunksDone: number; rows: number } }[];
    assert.equal(group?.copy.chunksDone, group?.copy.chunks, 'status reports every chunk done');
    assert.equal(group?.copy.rows, 40000);
    assert.equal((await cliRun(['drop', '-c', config])).code, 0);
  });
});

describe('an interrupted copy resumes without copying finished chunks again', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TABLE ledger (id bigint PRIMARY KEY, account int, amount bigint, note text);
      INSERT INTO ledger SELECT i, i % 100, 0, repeat(md5(i::text), 3) FROM generate_series(1, 150000) i;
      CREATE TABLE tags (name text PRIMARY KEY, hits int);
      INSERT INTO tags SELECT 'tag' || i, 0 FROM generate_series(1, 30000) i;`);
  });

  after(async () => {
    await pair?.stop();
  });

  test('kill -9 during the copy, changes on the source meanwhile (key moves between chunks included), resume: identical', async () => {
    const config = await pair.config({ resumable: ['public.ledger', 'public.tags'] }, 'copy:\n  chunk_size: 256kB\n  parallel: 1');
    const first = cli(['init', '-c', config, '--log-format', 'json']);
    await until('some chunks to finish', async () => {
      const res = await pair.sql('target', `SELECT count(copied_at)::int AS done, count(*)::int AS n FROM ferry.copy_chunks`).catch(() => undefined);
      return (res?.rows[0]?.done ?? 0) >= 5;
    });
    first.child.kill('SIGKILL');
    await first.result;
    const before = await pair.sql('target', `SELECT table_name, chunk, copied_at FROM ferry.copy_chunks WHERE copied_at IS NOT NULL ORDER BY 1, 2`);
    const total = (await pair.sql('target', 'SELECT count(*)::int AS n FROM ferry.copy_chunks')).rows[0]?.n as number;
    assert.ok(before.rows.length < total, `killed with ${before.rows.length} of ${total} chunks done`);

    // While nothing runs: updates, deletes, inserts, and keys moving from early chunks to late ones and back.
    const writer = new pg.Client({ connectionString: pair.source.url('app') });
    await writer.connect();
    writer.on('error', () => undefined);
    after(() => writer.end());
    await writer.query(`
      UPDATE ledger SET amount = amount + 5 WHERE id % 97 = 0;
      UPDATE ledger SET id = id + 1000000 WHERE id BETWEEN 1 AND 50;
      UPDATE ledger SET id = -id WHERE id BETWEEN 149990 AND 150000;
      DELETE FROM ledger WHERE id % 1001 = 0;
      INSERT INTO ledger SELECT i, 1, 1, 'new' FROM generate_series(2000000, 2000100) i;
      UPDATE tags SET hits = hits + 1 WHERE name LIKE 'tag1%';
      DELETE FROM tags WHERE name LIKE 'tag2%';`);

    const second = await cliRun(['init', '-c', config, '--log-format', 'json']);
    assert.equal(second.code, 0, second.stderr.slice(-3000));
    assert.match(second.stderr, /resuming an interrupted copy/);
    const kept = await pair.sql('target', `SELECT table_name, chunk, copied_at FROM ferry.copy_chunks WHERE table_name = 'public.ledger' AND copied_at IS NOT NULL ORDER BY 1, 2`);
    for (const row of before.rows.filter((r) => r.table_name === 'public.ledger')) {
      const now = kept.rows.find((k) => k.chunk === row.chunk);
      assert.deepEqual(now?.copied_at, row.copied_at, `ledger chunk ${row.chunk} was not copied again`);
    }

    await writer.query(`UPDATE ledger SET amount = amount - 1 WHERE id % 89 = 0; UPDATE ledger SET id = id + 5000000 WHERE id BETWEEN 60 AND 70;`);
    const ferry = await run(config);
    try {
      await catchUp(config);
      assert.equal(await assertSameRows(pair, 'ledger'), Number((await pair.sql('source', 'SELECT count(*) AS n FROM ledger')).rows[0]?.n));
      await assertSameRows(pair, 'tags');
    } finally {
      assert.deepEqual(await ferry.stop(), []);
    }
  });
});
