import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { collectStatus } from '../src/observe/status.js';
import { loadConfig } from '../src/config/load.js';
import { assertSameRows, catchUp, init, run, startPair, until, writeUntilAborted, type Pair } from './support/harness.js';
import { tableDefinition } from './support/schema-fingerprint.js';

/**
 * Column changes on the source reach the target in stream order, inside the
 * apply transaction of the batch that first uses them, while writers keep
 * writing: added columns (existing rows get what the source's rows read),
 * renamed, retyped and dropped columns, and a renamed table. What the stream
 * cannot tell (values a volatile default gave existing rows) stops the group
 * with the fix; `schema_changes: stop` stops at any change.
 */

for (const sourceMajor of [18, 13] as const) {
  describe(`schema changes while streaming (WAL capture, PostgreSQL ${sourceMajor} source)`, () => {
    let pair: Pair;

    before(async () => {
      pair = await startPair({ sourceMajor });
      await pair.sql('source', `
        CREATE TABLE items (id bigint PRIMARY KEY, qty int NOT NULL, label varchar(10), note text);
        INSERT INTO items SELECT i, i, 'l' || i, 'n' || i FROM generate_series(1, 2000) i;
        CREATE TABLE other (id int PRIMARY KEY, v text);`);
    });

    after(async () => {
      await pair?.stop();
    });

    test('added, renamed, retyped and dropped columns and a renamed table are applied in stream order while writers write', async () => {
      const config = await pair.config({ shop: ['public.items', 'public.other'] });
      await init(config);
      const ferry = await run(config);
      const stop = new AbortController();
      // Writes the columns no change touches, in the same transactions as the other table.
      const writing = writeUntilAborted(pair.source.url('app'), stop.signal, async (client, n) => {
        await client.query('BEGIN');
        await client.query(`UPDATE ${n % 2 ? 'items' : 'goods'} SET qty = qty + 1 WHERE id = $1`, [1 + (n * 7) % 2000]).catch(() => undefined);
        await client.query('COMMIT').catch(() => client.query('ROLLBACK'));
        await client.query(`INSERT INTO other VALUES ($1, 'w') ON CONFLICT (id) DO UPDATE SET v = 'w' || $1`, [n % 500]);
      });
      const releases = [
        `ALTER TABLE items ADD COLUMN flag int NOT NULL DEFAULT 7`,
        `UPDATE items SET flag = 8 WHERE id % 3 = 0`,
        `ALTER TABLE items ADD COLUMN born timestamptz DEFAULT now()`,
        `INSERT INTO items (id, qty) VALUES (3001, 1)`,
        // Reached before the rewrite below: once the source table is rewritten its catalog no longer holds now()'s value.
        'wait',
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
          if (statement === 'wait') {
            await catchUp(config);
            continue;
          }
          await pair.sql('source', statement);
          await new Promise((r) => setTimeout(r, 50));
        }
        stop.abort();
        assert.ok(await writing > 0);
        await catchUp(config);
      } finally {
        stop.abort();
        await writing.catch(() => undefined);
        assert.deepEqual(await ferry.stop(), []);
      }
      assert.equal(await assertSameRows(pair, 'goods'), 2003);
      await assertSameRows(pair, 'other');
      const [source, target] = await Promise.all([tableDefinition(pair, 'source', 'public.goods'), tableDefinition(pair, 'target', 'public.goods')]);
      assert.ok(source.columns);
      assert.deepEqual(target, source, 'the target table has the source\'s columns (types, NOT NULL, defaults), indexes and constraints');
      const recorded = (await pair.sql('target', `SELECT statement FROM ferry.schema_changes ORDER BY id`)).rows.map((r) => r.statement as string);
      for (const expected of [/ADD COLUMN "flag" integer DEFAULT/, /ADD COLUMN "born"/, /ADD COLUMN "extra" text/, /RENAME COLUMN "note" TO "remark"/,
        /ALTER COLUMN "qty" TYPE bigint/, /ALTER COLUMN "label" TYPE text/, /DROP COLUMN "extra"/, /RENAME TO "goods"/]) {
        assert.ok(recorded.some((s) => expected.test(s)), `ferry.schema_changes records ${expected}: ${recorded.join('; ')}`);
      }
      const tables = (await pair.sql('target', `SELECT tables FROM ferry.groups WHERE group_name = 'shop'`)).rows[0]?.tables as string[];
      assert.deepEqual([...tables].sort(), ['public.goods', 'public.other']);
    });

    test('a column added with a volatile default has its table copied again, aligned with the stream; schema_changes: stop stops at any change', async () => {
      const config = await pair.config({ shop: ['public.goods', 'public.other'] });
      const cfg = await loadConfig(config);
      await pair.sql('source', `ALTER TABLE goods ADD COLUMN r float8 DEFAULT random(); UPDATE goods SET qty = 0 WHERE id = 1`);
      const ferry = await run(config);
      try {
        await until('goods to be copied again', async () => (await pair.sql('target', `
          SELECT EXISTS (SELECT 1 FROM ferry.copy_chunks c JOIN ferry.schema_changes s ON s.statement LIKE '%ADD COLUMN "r"%'
                          WHERE c.table_name = 'public.goods' AND c.copied_at > s.applied_at)
             AND NOT EXISTS (SELECT 1 FROM ferry.copy_chunks WHERE table_name = 'public.goods' AND copied_at IS NULL)
             AND NOT EXISTS (SELECT 1 FROM ferry.held_changes) AS done`)).rows[0]?.done === true, 60_000);
        await pair.sql('source', `UPDATE goods SET qty = 2 WHERE id = 2`);
        await catchUp(config);
        assert.equal((await collectStatus(cfg))[0]?.lastError, null);
      } finally {
        assert.deepEqual(await ferry.stop(), []);
      }
      assert.equal(await assertSameRows(pair, 'goods'), 2003, 'every row has the random value the source gave it');
      await pair.sql('source', `ALTER TABLE goods DROP COLUMN r; UPDATE goods SET qty = 1 WHERE id = 1`);
      const stopping = `${config}.stop.yaml`;
      await writeFile(stopping, (await readFile(config, 'utf8')).replace(/( {4}tables: .*\n)/, '$1    schema_changes: stop\n'));
      const strict = await run(stopping);
      try {
        await until('the group to stop at the next change', async () => (await collectStatus(cfg))[0]?.state === 'failed');
      } finally {
        const errors = await strict.stop();
        assert.deepEqual(errors.map((e) => e.code), ['FERRY_SCHEMA_CHANGED']);
        assert.match(errors[0]?.message ?? '', /ALTER TABLE public\.goods DROP COLUMN "r"/);
      }
      const again = await run(config);
      try {
        await pair.sql('source', `INSERT INTO goods (id, qty) VALUES (3004, 4)`);
        await catchUp(config);
      } finally {
        assert.deepEqual(await again.stop(), []);
      }
      await assertSameRows(pair, 'goods');
    });

    test('a type change whose values the target cannot convert as the source did has the table copied again', async () => {
      const config = await pair.config({ shop: ['public.goods', 'public.other'] });
      const cfg = await loadConfig(config);
      // The source converts with its own USING; the target's plain cast of 'l…' to integer fails, so the rows come from a new copy.
      await pair.sql('source', `UPDATE goods SET label = 'l' || id WHERE label IS NULL;
        ALTER TABLE goods ALTER COLUMN label TYPE int USING length(label); UPDATE goods SET qty = 7 WHERE id = 5`);
      const ferry = await run(config);
      try {
        await until('goods to be copied again', async () => (await pair.sql('target', `
          SELECT EXISTS (SELECT 1 FROM ferry.schema_changes WHERE statement LIKE '%TYPE integer USING NULL::integer%')
             AND NOT EXISTS (SELECT 1 FROM ferry.copy_chunks WHERE table_name = 'public.goods' AND copied_at IS NULL)
             AND NOT EXISTS (SELECT 1 FROM ferry.held_changes) AS done`)).rows[0]?.done === true, 60_000);
        await pair.sql('source', `UPDATE goods SET label = label + 100 WHERE id <= 3`);
        await catchUp(config);
        assert.equal((await collectStatus(cfg))[0]?.lastError, null);
      } finally {
        assert.deepEqual(await ferry.stop(), []);
      }
      assert.equal(await assertSameRows(pair, 'goods'), 2004, 'every row has the value the source\'s USING gave it');
      const label = (await pair.sql('target', `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'goods'::regclass AND attname = 'label'`)).rows[0]?.t;
      assert.equal(label, 'integer');
    });

    test('a column renamed before the group first changes its table is renamed on the target, from the description recorded at the copy', async () => {
      await pair.sql('source', `CREATE TABLE late (id int PRIMARY KEY, a text); INSERT INTO late SELECT i, 'v' || i FROM generate_series(1, 100) i`);
      const config = await pair.config({ shop: ['public.goods', 'public.other', 'public.late'] });
      await init(config);
      await pair.sql('source', `ALTER TABLE late RENAME COLUMN a TO b; INSERT INTO late VALUES (101, 'new')`);
      const ferry = await run(config);
      try {
        await catchUp(config);
      } finally {
        assert.deepEqual(await ferry.stop(), []);
      }
      assert.equal(await assertSameRows(pair, 'late'), 101);
      const columns = (await pair.sql('target', `SELECT string_agg(attname, ',' ORDER BY attnum) AS c FROM pg_attribute WHERE attrelid = 'late'::regclass AND attnum > 0 AND NOT attisdropped`)).rows[0]?.c;
      assert.equal(columns, 'id,b');
    });
  });
}
