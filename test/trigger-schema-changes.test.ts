import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertSameRows, catchUp, init, run, startPair, triggerConfig, until, writeUntilAborted, type Pair, type Running } from './support/harness.js';
import { tableDefinition } from './support/schema-fingerprint.js';

/**
 * Trigger capture follows the source's column changes on the target in
 * stream order, as WAL capture does, while a writer keeps writing: each
 * queued row is read in the layout it was queued in (told from the
 * target's last recorded layout, the catalog with its dropped columns and
 * the row's number of values), also when `ferry run` was stopped while the
 * table changed. A row whose columns cannot be told is never written: its
 * table is copied again, aligned with the stream.
 */

/** Done: the table was copied again after the last schema change recorded for it, and nothing of it is held. */
const COPIED_AGAIN = `
  SELECT EXISTS (SELECT 1 FROM ferry.copy_chunks c
                  WHERE c.table_name = $1 AND c.copied_at > (SELECT max(applied_at) FROM ferry.schema_changes WHERE table_name = $1))
     AND NOT EXISTS (SELECT 1 FROM ferry.copy_chunks WHERE table_name = $1 AND copied_at IS NULL)
     AND NOT EXISTS (SELECT 1 FROM ferry.held_changes) AS done`;

for (const sourceMajor of [18, 13] as const) {
  describe(`schema changes while streaming (trigger capture, PostgreSQL ${sourceMajor} source)`, () => {
    let pair: Pair;
    let config: string;

    before(async () => {
      pair = await startPair({ sourceMajor, sourceSettings: { wal_level: 'replica' } });
      await pair.sql('source', `
        CREATE TABLE items (id bigint PRIMARY KEY, qty int NOT NULL, label varchar(10), note text);
        INSERT INTO items SELECT i, i, 'l' || i, 'n' || i FROM generate_series(1, 2000) i;
        CREATE TABLE other (id int PRIMARY KEY, v text);
        CREATE TABLE queued (id int PRIMARY KEY, a int, b text, c int);
        INSERT INTO queued SELECT i, i, 'b' || i, i FROM generate_series(1, 500) i;
        CREATE TABLE twin (id int PRIMARY KEY, a int, b text);
        INSERT INTO twin SELECT i, i, 'b' || i FROM generate_series(1, 500) i;`);
      config = await triggerConfig(pair, { shop: ['public.items', 'public.other', 'public.queued', 'public.twin'] });
      await init(config);
    });

    after(async () => {
      await pair?.stop();
    });

    /** Writes rows no column change touches, in the same transactions as other tables, until stopped. */
    const writer = (signal: AbortSignal) => writeUntilAborted(pair.source.url('app'), signal, async (client, n) => {
      await client.query('BEGIN');
      await client.query(`UPDATE ${n % 2 ? 'items' : 'goods'} SET qty = qty + 1 WHERE id = $1`, [1 + (n * 7) % 2000]).catch(() => undefined);
      await client.query('COMMIT').catch(() => client.query('ROLLBACK'));
      await client.query(`INSERT INTO other VALUES ($1, 'w') ON CONFLICT (id) DO UPDATE SET v = 'w' || $1`, [n % 500]);
    });

    const sameColumns = async (table: string) => {
      const [source, target] = await Promise.all([tableDefinition(pair, 'source', table), tableDefinition(pair, 'target', table)]);
      assert.ok(source.columns);
      assert.deepEqual(target, source, `the target table ${table} has the source's columns (types, NOT NULL, defaults), indexes and constraints`);
    };

    const stopped = async (ferry: Running) => assert.deepEqual((await ferry.stop()).map((e) => `${e.code}: ${e.message}`), []);

    test('added, renamed, retyped and dropped columns and a renamed table are applied in stream order while a writer writes', async () => {
      const ferry = await run(config);
      const stop = new AbortController();
      const writing = writer(stop.signal);
      const releases = [
        `ALTER TABLE items ADD COLUMN flag int NOT NULL DEFAULT 7`,
        `UPDATE items SET flag = 8 WHERE id % 3 = 0`,
        `ALTER TABLE items ADD COLUMN extra text`,
        `UPDATE items SET extra = 'x' || id WHERE id % 10 = 0`,
        `ALTER TABLE items RENAME COLUMN note TO remark`,
        `UPDATE items SET remark = 'renamed' WHERE id < 50`,
        `ALTER TABLE items ALTER COLUMN qty TYPE bigint`,
        `UPDATE items SET qty = 5000000000 WHERE id = 2`,
        `ALTER TABLE items ALTER COLUMN label TYPE text`,
        `UPDATE items SET label = repeat('long', 10) WHERE id = 3`,
        `ALTER TABLE items DROP COLUMN extra`,
        `INSERT INTO items (id, qty, label) VALUES (3002, 2, 'after drop')`,
        `ALTER TABLE items RENAME TO goods`,
        `INSERT INTO goods (id, qty) VALUES (3003, 3)`,
      ];
      try {
        for (const statement of releases) {
          await pair.sql('source', statement);
          await new Promise((r) => setTimeout(r, 50));
        }
        stop.abort();
        assert.ok(await writing > 0);
        await catchUp(config);
      } finally {
        stop.abort();
        await writing.catch(() => undefined);
        await stopped(ferry);
      }
      assert.equal(await assertSameRows(pair, 'goods'), 2002);
      await assertSameRows(pair, 'other');
      await sameColumns('public.goods');
      const recorded = (await pair.sql('target', `SELECT statement FROM ferry.schema_changes ORDER BY id`)).rows.map((r) => r.statement as string);
      for (const expected of [/ADD COLUMN "flag" integer DEFAULT/, /ADD COLUMN "extra" text/, /RENAME COLUMN "note" TO "remark"/,
        /ALTER COLUMN "qty" TYPE bigint/, /ALTER COLUMN "label" TYPE text/, /DROP COLUMN "extra"/, /RENAME TO "goods"/]) {
        assert.ok(recorded.some((s) => expected.test(s)), `ferry.schema_changes records ${expected}: ${recorded.join('; ')}`);
      }
      const tables = (await pair.sql('target', `SELECT tables FROM ferry.groups WHERE group_name = 'shop'`)).rows[0]?.tables as string[];
      assert.deepEqual([...tables].sort(), ['public.goods', 'public.other', 'public.queued', 'public.twin']);
      const copies = (await pair.sql('target', `SELECT count(*)::int AS n FROM ferry.copy_chunks WHERE table_name = 'public.goods' AND copied_at > (SELECT min(applied_at) FROM ferry.schema_changes)`)).rows[0]?.n;
      assert.equal(copies, 0, 'every change was read: the table was not copied again');
    });

    test('a column dropped while its table\'s changes are queued: rows on both sides of the drop land in their columns', async () => {
      // Stopped: the rows before and after the drop wait in the queue together.
      await pair.sql('source', `UPDATE queued SET b = 'before ' || id, c = -c WHERE id <= 100; INSERT INTO queued VALUES (501, 501, 'before', 501)`);
      await pair.sql('source', `ALTER TABLE queued DROP COLUMN b`);
      await pair.sql('source', `UPDATE queued SET c = c * 10 WHERE id BETWEEN 50 AND 150; INSERT INTO queued VALUES (502, 502, 502); DELETE FROM queued WHERE id = 7`);
      const ferry = await run(config);
      const stop = new AbortController();
      const writing = writer(stop.signal);
      try {
        await pair.sql('source', `UPDATE queued SET a = -a WHERE id % 2 = 0`);
        stop.abort();
        await writing;
        await catchUp(config);
      } finally {
        stop.abort();
        await writing.catch(() => undefined);
        await stopped(ferry);
      }
      assert.equal(await assertSameRows(pair, 'queued'), 501);
      await sameColumns('public.queued');
      const recorded = (await pair.sql('target', `SELECT statement FROM ferry.schema_changes WHERE table_name = 'public.queued'`)).rows.map((r) => r.statement as string);
      assert.deepEqual(recorded, ['ALTER TABLE public.queued DROP COLUMN "b"']);
    });

    test('a column added with a volatile default has its table copied again, aligned with the stream', async () => {
      const ferry = await run(config);
      try {
        await pair.sql('source', `ALTER TABLE other ADD COLUMN r float8 DEFAULT random(); UPDATE other SET v = 'after' WHERE id = 1`);
        await until('other to be copied again', async () => (await pair.sql('target', COPIED_AGAIN, ['public.other'])).rows[0]?.done === true, 60_000);
        await pair.sql('source', `UPDATE other SET v = 'later' WHERE id = 2`);
        await catchUp(config);
      } finally {
        await stopped(ferry);
      }
      await assertSameRows(pair, 'other');
      await sameColumns('public.other');
    });

    test('a column dropped and another of the same type added while changes are queued: its table is copied again, nothing written in a wrong column', async () => {
      await pair.sql('source', `UPDATE twin SET a = -a, b = 'before' WHERE id <= 100; INSERT INTO twin VALUES (501, 501, 'before')`);
      await pair.sql('source', `ALTER TABLE twin DROP COLUMN a`);
      await pair.sql('source', `ALTER TABLE twin ADD COLUMN z int`);
      // The same number of values as before: these rows cannot be told from those queued before the drop.
      await pair.sql('source', `UPDATE twin SET z = id * 1000 WHERE id BETWEEN 50 AND 150; INSERT INTO twin VALUES (502, 'after', 502000)`);
      const ferry = await run(config);
      const stop = new AbortController();
      const writing = writer(stop.signal);
      try {
        await until('twin to be copied again', async () => (await pair.sql('target', COPIED_AGAIN, ['public.twin'])).rows[0]?.done === true, 60_000);
        await pair.sql('source', `UPDATE twin SET z = -1 WHERE id = 1; INSERT INTO twin VALUES (503, 'copied', 503000)`);
        stop.abort();
        await writing;
        await catchUp(config);
      } finally {
        stop.abort();
        await writing.catch(() => undefined);
        await stopped(ferry);
      }
      assert.equal(await assertSameRows(pair, 'twin'), 503);
      await sameColumns('public.twin');
      const recorded = (await pair.sql('target', `SELECT statement FROM ferry.schema_changes WHERE table_name = 'public.twin' ORDER BY id`)).rows.map((r) => r.statement as string);
      assert.deepEqual(recorded, ['ALTER TABLE public.twin DROP COLUMN "a"', 'ALTER TABLE public.twin ADD COLUMN "z" integer']);
      // The target never held a value of the dropped column under the new one's name.
      const wrong = (await pair.sql('target', `SELECT count(*)::int AS n FROM twin WHERE z IS NOT NULL AND z <> id * 1000 AND z <> -1`)).rows[0]?.n;
      assert.equal(wrong, 0);
    });
  });
}
