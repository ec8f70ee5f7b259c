import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { assertSameRows, catchUp, cli, cliRun, init, run, startPair, triggerConfig, until, writeUntilAborted, type Pair } from './support/harness.js';

/**
 * A streaming group's table list changes without re-copying the rest: `ferry
 * init` after a table is added to the configuration copies only that table,
 * aligned with the group's stream, while `ferry run` applies the group and
 * writers keep writing every table; a table removed from the configuration
 * stops being replicated and keeps its rows; `ferry resync` copies a damaged
 * table again in place.
 */
for (const capture of ['wal', 'trigger'] as const) {
  describe(`tables join, leave and are copied again while the group streams (${capture} capture)`, () => {
    let pair: Pair;
    const configFor = (tables: string[]) => capture === 'wal' ? pair.config({ shop: tables }) : triggerConfig(pair, { shop: tables });

    before(async () => {
      pair = await startPair();
      await pair.sql('source', `
        CREATE TABLE orders (id bigserial PRIMARY KEY, qty int NOT NULL);
        CREATE TABLE items (id bigserial PRIMARY KEY, order_id bigint NOT NULL, note text);
        CREATE TABLE audit (id bigserial PRIMARY KEY, what text);
        INSERT INTO orders (qty) SELECT i FROM generate_series(1, 1000) i;
        INSERT INTO items (order_id, note) SELECT i % 1000 + 1, repeat('x', 200) FROM generate_series(1, 30000) i;
        INSERT INTO audit (what) SELECT 'before' FROM generate_series(1, 10) i;`);
    });

    after(async () => {
      await pair?.stop();
    });

    /** Writes orders and items in the same transactions (and audit) until aborted. */
    function writers(signal: AbortSignal): Promise<number> {
      return writeUntilAborted(pair.source.url('app'), signal, async (client, n) => {
        await client.query('BEGIN');
        const id = (await client.query(`INSERT INTO orders (qty) VALUES ($1) RETURNING id`, [n])).rows[0]?.id as string;
        await client.query(`INSERT INTO items (order_id, note) VALUES ($1, 'new'), ($1, 'new')`, [id]);
        await client.query(`UPDATE items SET note = 'touched ' || $1 WHERE id = $2`, [n, 1 + (n * 7919) % 30000]);
        if (n % 5 === 0) await client.query(`DELETE FROM items WHERE id = $1`, [1 + (n * 104729) % 30000]);
        await client.query(`INSERT INTO audit (what) VALUES ('during')`);
        await client.query('COMMIT');
      });
    }

    test('a table added to the configuration is copied by init while the group runs and writers write it; the others are not copied again', async () => {
      const first = await configFor(['public.orders', 'public.audit']);
      await init(first);
      const copiedAt = async () => (await pair.sql('target', `SELECT table_name, copied_at::text AS at FROM ferry.copy_chunks WHERE table_name <> 'public.items' ORDER BY 1, chunk`)).rows;
      const before = await copiedAt();
      const ferry = await run(first);
      const stop = new AbortController();
      const writing = writers(stop.signal);
      try {
        await new Promise((r) => setTimeout(r, 300)); // writes before the join, that the copy must hold
        const second = await configFor(['public.orders', 'public.audit', 'public.items']);
        await init(second);
        await new Promise((r) => setTimeout(r, 300)); // and writes after it, that the stream must carry
        stop.abort();
        assert.ok(await writing > 0);
        await catchUp(second);
      } finally {
        stop.abort();
        await writing.catch(() => undefined);
        assert.deepEqual(await ferry.stop(), []);
      }
      for (const table of ['orders', 'items', 'audit']) await assertSameRows(pair, table);
      assert.deepEqual(await copiedAt(), before, 'the tables already replicated were not copied again');
      const recorded = (await pair.sql('target', `SELECT tables FROM ferry.groups WHERE group_name = 'shop'`)).rows[0]?.tables as string[];
      assert.deepEqual([...recorded].sort(), ['public.audit', 'public.items', 'public.orders']);
    });

    test('ferry resync copies a table damaged on the target again, in place, while writers write it', async () => {
      const config = await configFor(['public.orders', 'public.audit', 'public.items']);
      // Damage the writers' own changes do not run into (they update and delete only the first 30,000 rows).
      await pair.sql('target', `DELETE FROM items WHERE id > 30000 AND id % 3 = 0; UPDATE items SET note = 'damaged' WHERE id % 3 = 1;
        INSERT INTO items (id, order_id) VALUES (999999, 1)`);
      const ferry = await run(config);
      const stop = new AbortController();
      const writing = writers(stop.signal);
      try {
        await new Promise((r) => setTimeout(r, 300));
        const result = await cliRun(['resync', '-c', config, '--table', 'public.items', '--json']);
        assert.equal(result.code, 0, result.stderr);
        const summary = JSON.parse(result.stdout) as { group: string; tables: string[]; rows: number }[];
        assert.equal(summary[0]?.group, 'shop');
        assert.deepEqual(summary[0]?.tables, ['public.items']);
        assert.ok((summary[0]?.rows ?? 0) > 29_000, `rows copied: ${summary[0]?.rows}`);
        await new Promise((r) => setTimeout(r, 300));
        stop.abort();
        await writing;
        await catchUp(config);
      } finally {
        stop.abort();
        await writing.catch(() => undefined);
        assert.deepEqual(await ferry.stop(), []);
      }
      for (const table of ['orders', 'items', 'audit']) await assertSameRows(pair, table);
    });

    test('a table removed from the configuration is no longer replicated; its target rows stay', async () => {
      const config = await configFor(['public.orders', 'public.items']);
      await init(config);
      await pair.sql('source', `INSERT INTO audit (what) VALUES ('after')`);
      const ferry = await run(config);
      try {
        await pair.sql('source', `INSERT INTO audit (what) VALUES ('after'); INSERT INTO orders (qty) VALUES (-1)`);
        await catchUp(config);
      } finally {
        assert.deepEqual(await ferry.stop(), []);
      }
      await assertSameRows(pair, 'orders');
      const audit = await pair.sql('target', `SELECT count(*)::int AS n, count(*) FILTER (WHERE what = 'after')::int AS later FROM audit`);
      assert.equal(audit.rows[0]?.later, 0, 'audit gets no change made after it left the group');
      assert.ok((audit.rows[0]?.n as number) >= 10, 'and keeps the rows it had');
      const recorded = (await pair.sql('target', `SELECT tables FROM ferry.groups WHERE group_name = 'shop'`)).rows[0]?.tables as string[];
      assert.deepEqual([...recorded].sort(), ['public.items', 'public.orders']);
    });

    test('while a joining table is copied, the group keeps applying its other tables and holds the joining table\'s changes until the copy is done', async () => {
      await pair.sql('source', `CREATE TABLE notes (id bigint PRIMARY KEY, body text);
        INSERT INTO notes SELECT i, 'before ' || i FROM generate_series(1, 500) i`);
      // The target's copy of notes waits, at its first row, for a lock this test holds.
      await pair.sql('target', `CREATE TABLE notes (id bigint PRIMARY KEY, body text);
        CREATE FUNCTION wait_for_test() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_lock(4242); PERFORM pg_advisory_unlock(4242); RETURN NULL; END $$;
        CREATE TRIGGER copy_waits BEFORE INSERT ON notes FOR EACH STATEMENT EXECUTE FUNCTION wait_for_test();
        ALTER TABLE notes ENABLE ALWAYS TRIGGER copy_waits`);
      const gate = new pg.Client({ connectionString: pair.target.url('app') });
      await gate.connect();
      await gate.query('SELECT pg_advisory_lock(4242)');
      const config = await configFor(['public.orders', 'public.items', 'public.notes']);
      let ferry = await run(config);
      let joined: Promise<unknown> | undefined;
      try {
        joined = init(config);
        joined.catch(() => undefined);
        await until('the copy of notes to wait for the lock',
          async () => (await pair.sql('target', `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'`)).rows.length > 0);
        // Changes after the copy's snapshot: notes' first, then the other tables' in later transactions.
        await pair.sql('source', `UPDATE notes SET body = 'during' WHERE id <= 10; INSERT INTO notes VALUES (501, 'new'); DELETE FROM notes WHERE id = 20`);
        await pair.sql('source', `INSERT INTO orders (qty) VALUES (-4242); UPDATE items SET note = 'while notes copied' WHERE id = 5`);
        await until('the orders row to arrive while notes is copied', async () => (await pair.sql('target', `SELECT 1 FROM orders WHERE qty = -4242`)).rows.length > 0);
        assert.equal((await pair.sql('target', `SELECT note FROM items WHERE id = 5`)).rows[0]?.note, 'while notes copied');
        const held = (await pair.sql('target', `SELECT count(*)::int AS n FROM ferry.held_changes WHERE table_name = 'public.notes'`)).rows[0]?.n as number;
        assert.ok(held >= 12, `notes' changes are held meanwhile (held: ${held})`);
        assert.equal((await pair.sql('target', `SELECT count(*)::int AS n FROM notes`)).rows[0]?.n, 0, 'and notes itself is not written yet');
        // A restart meanwhile keeps what is held and goes on holding.
        assert.deepEqual(await ferry.stop(), []);
        ferry = await run(config);
        await pair.sql('source', `UPDATE notes SET body = 'during, after a restart' WHERE id = 501; INSERT INTO orders (qty) VALUES (-4243)`);
        await until('the orders row after the restart', async () => (await pair.sql('target', `SELECT 1 FROM orders WHERE qty = -4243`)).rows.length > 0);
      } finally {
        await gate.end();
        await joined?.catch(() => undefined);
      }
      try {
        await joined;
        await pair.sql('source', `UPDATE notes SET body = 'after' WHERE id = 30`);
        await catchUp(config);
      } finally {
        assert.deepEqual(await ferry.stop(), []);
      }
      for (const table of ['orders', 'items', 'notes']) await assertSameRows(pair, table);
      assert.equal((await pair.sql('target', `SELECT count(*)::int AS n FROM ferry.held_changes`)).rows[0]?.n, 0, 'the held changes are applied and gone');
    });

    test('a copy killed half way (ferry resync, kill -9) is taken up again by ferry run, and its held changes applied', async () => {
      const config = await configFor(['public.orders', 'public.items', 'public.notes']);
      const gate = new pg.Client({ connectionString: pair.target.url('app') });
      await gate.connect();
      // The target's copy of notes (its trigger from the test above) waits for this lock.
      await gate.query('SELECT pg_advisory_lock(4242)');
      const ferry = await run(config);
      const resync = cli(['resync', '-c', config, '--table', 'public.notes']);
      try {
        await until('the copy of notes to wait for the lock',
          async () => (await pair.sql('target', `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'`)).rows.length > 0);
        await pair.sql('source', `UPDATE notes SET body = 'while the copy hangs' WHERE id <= 40; INSERT INTO notes VALUES (600, 'new')`);
        resync.child.kill('SIGKILL');
        assert.equal((await resync.result).code, null);
      } finally {
        await gate.end();
      }
      try {
        await until('ferry run to copy notes again', async () => (await pair.sql('target', `
          SELECT NOT EXISTS (SELECT 1 FROM ferry.copy_chunks WHERE table_name = 'public.notes' AND copied_at IS NULL)
             AND NOT EXISTS (SELECT 1 FROM ferry.held_changes) AS done`)).rows[0]?.done === true, 60_000);
        await pair.sql('source', `UPDATE notes SET body = 'after' WHERE id = 600`);
        await catchUp(config);
      } finally {
        assert.deepEqual(await ferry.stop(), []);
      }
      assert.ok(await assertSameRows(pair, 'notes') >= 500);
    });
  });
}

