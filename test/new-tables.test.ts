import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { assertSameRows, catchUp, init, run, startPair, triggerConfig, until, writeUntilAborted, type Pair } from './support/harness.js';

/**
 * A table created on the source that matches a group's pattern joins the
 * group while `ferry run` runs: created on the target, copied aligned with
 * the stream, and streamed from then on, while the group's other tables
 * keep streaming. No restart, no `ferry init`.
 */
for (const capture of ['wal', 'trigger'] as const) {
  describe(`new tables matching a group's pattern join it while it streams (${capture} capture)`, () => {
    let pair: Pair;

    before(async () => {
      pair = await startPair();
      await pair.sql('source', `
        CREATE TABLE product_a (id int PRIMARY KEY, name text);
        INSERT INTO product_a SELECT i, 'a' || i FROM generate_series(1, 100) i;`);
    });

    after(async () => {
      await pair?.stop();
    });

    test('a new product_* table is created on the target, copied and streamed; product_a keeps streaming meanwhile', async () => {
      const config = capture === 'wal' ? await pair.config({ shop: ['public.product_*'] }) : await triggerConfig(pair, { shop: ['public.product_*'] });
      await writeFile(config, (await readFile(config, 'utf8')).replace('apply:\n', 'apply:\n  new_table_check_ms: 300\n'));
      await init(config);
      const ferry = await run(config);
      const stop = new AbortController();
      const writing = writeUntilAborted(pair.source.url('app'), stop.signal, async (client, n) => {
        await client.query(`UPDATE product_a SET name = 'w' || $1 WHERE id = $2`, [n, 1 + (n % 100)]);
        await client.query(`INSERT INTO product_b VALUES ($1, 'b' || $1) ON CONFLICT (id) DO UPDATE SET name = 'again'`, [n % 700]).catch(() => undefined);
      });
      try {
        await pair.sql('source', `CREATE TABLE product_b (id int PRIMARY KEY, name text); INSERT INTO product_b SELECT i, 'first' FROM generate_series(1000, 1500) i`);
        await until('product_b to join the group', async () =>
          ((await pair.sql('target', `SELECT tables FROM ferry.groups WHERE group_name = 'shop'`)).rows[0]?.tables as string[]).includes('public.product_b'), 60_000);
        stop.abort();
        assert.ok(await writing > 0);
        await catchUp(config);
      } finally {
        stop.abort();
        await writing.catch(() => undefined);
        assert.deepEqual(await ferry.stop(), []);
      }
      assert.ok(await assertSameRows(pair, 'product_b') > 500);
      await assertSameRows(pair, 'product_a');
    });
  });
}
