import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../src/config/load.js';
import { initGroups } from '../src/init/init.js';
import type { Logger } from '../src/observe/logger.js';
import { collectStatus } from '../src/observe/status.js';
import { assertSameRows, catchUp, cliRun, init, run, startPair, triggerConfig, until, writeUntilAborted, type Pair } from './support/harness.js';
import { tableDefinition } from './support/schema-fingerprint.js';

/**
 * `source.ddl: capture`: an event trigger on the source records the
 * definition of a replicated table changed by plain DDL in its group's
 * stream, in the DDL's transaction, and the target reconciles its table to
 * it at that place: indexes, constraints, defaults, NOT NULL and columns
 * reach the target while writers write, without `ferry ddl`.
 */

async function sameDefinition(pair: Pair, table: string, targetOnly: string[] = []): Promise<void> {
  const [source, target] = await Promise.all([tableDefinition(pair, 'source', table), tableDefinition(pair, 'target', table, targetOnly)]);
  assert.deepEqual(target, source, `table ${table}: the target has the source's columns, indexes and constraints`);
}

/** The config with `source.ddl: capture` added. */
async function capturing(file: string): Promise<string> {
  await writeFile(file, (await readFile(file, 'utf8')).replace('source:\n', 'source:\n  ddl: capture\n'));
  return file;
}

const STATEMENTS = [
  'CREATE INDEX orders_customer ON orders (customer)',
  'CREATE UNIQUE INDEX orders_customer_id ON orders (customer, id) WHERE total > 100',
  'ALTER TABLE orders ADD CONSTRAINT total_not_negative CHECK (total >= 0)',
  'ALTER TABLE orders ALTER COLUMN total SET DEFAULT 0',
  `UPDATE orders SET customer = 'none' WHERE customer IS NULL; ALTER TABLE orders ALTER COLUMN customer SET NOT NULL`,
  'DROP INDEX orders_customer',
  // One query string: the index is on a column added by the statement before it, in the same transaction.
  'ALTER TABLE orders ADD COLUMN c int; CREATE INDEX orders_c ON orders (c)',
  // Renamed, not rebuilt.
  'ALTER INDEX orders_c RENAME TO orders_c_renamed',
  // DDL between DML of one transaction: the insert before it has the old columns, the update after it the new one.
  `BEGIN; INSERT INTO orders (id, customer, total) VALUES (9001, 'mixed', 5);
   ALTER TABLE orders ADD COLUMN note text NOT NULL DEFAULT 'n';
   UPDATE orders SET note = 'changed', c = 1 WHERE id = 9001; COMMIT`,
];

for (const [capture, sourceMajor] of [['wal', 18], ['trigger', 18], ['trigger', 13]] as const) {
  describe(`DDL captured by an event trigger (${capture} capture, PostgreSQL ${sourceMajor} source)`, () => {
    let pair: Pair;
    let config: string;

    before(async () => {
      pair = await startPair({ sourceMajor });
      await pair.sql('source', `
        CREATE TABLE orders (id bigint PRIMARY KEY, customer text, total numeric(10,2));
        INSERT INTO orders SELECT i, 'c' || (i % 50), i FROM generate_series(1, 1000) i;
        CREATE TABLE unrelated (id int PRIMARY KEY, v text);`);
      config = await capturing(capture === 'wal' ? await pair.config({ shop: ['public.orders'] }) : await triggerConfig(pair, { shop: ['public.orders'] }));
      await init(config);
    });

    after(async () => {
      await pair?.stop();
    });

    test('plain DDL on the source reaches the target at its place in the stream while writers write; a target-only index stays', async () => {
      await pair.sql('target', 'CREATE INDEX target_only ON orders (total)');
      const ferry = await run(config);
      const stop = new AbortController();
      const writing = writeUntilAborted(pair.source.url('app'), stop.signal, async (client, n) => {
        await client.query(`INSERT INTO orders (id, customer, total) VALUES ($1, 'w', 1) ON CONFLICT (id) DO UPDATE SET total = orders.total + 1`, [2000 + (n % 300)]);
      });
      try {
        for (const statement of STATEMENTS) await pair.sql('source', statement);
        stop.abort();
        assert.ok(await writing > 0);
        await catchUp(config);
      } finally {
        stop.abort();
        await writing.catch(() => undefined);
        assert.deepEqual(await ferry.stop(), []);
      }
      await assertSameRows(pair, 'orders');
      const source = await tableDefinition(pair, 'source', 'public.orders');
      assert.match(source?.indexes ?? '', /orders_customer_id .* WHERE \(total > \(100\)::numeric\)/);
      assert.doesNotMatch(source?.indexes ?? '', /orders_customer ON/);
      assert.match(source?.columns ?? '', /note text not null default 'n'::text/);
      await sameDefinition(pair, 'public.orders', ['target_only']);
      const kept = await pair.sql('target', `SELECT to_regclass('public.target_only') IS NOT NULL AS kept`);
      assert.equal(kept.rows[0]?.kept, true, 'an index created on the target alone is kept');
      const recorded = (await pair.sql('target', `SELECT table_name, statement FROM ferry.schema_changes ORDER BY id`)).rows
        .map((r) => `${r.table_name as string}: ${r.statement as string}`);
      assert.deepEqual(recorded, [
        'public.orders: CREATE INDEX orders_customer ON public.orders USING btree (customer)',
        'public.orders: CREATE UNIQUE INDEX orders_customer_id ON public.orders USING btree (customer, id) WHERE (total > (100)::numeric)',
        'public.orders: ALTER TABLE "public"."orders" ADD CONSTRAINT "total_not_negative" CHECK ((total >= (0)::numeric))',
        'public.orders: ALTER TABLE "public"."orders" ALTER COLUMN "total" SET DEFAULT 0',
        'public.orders: ALTER TABLE "public"."orders" ALTER COLUMN "customer" SET NOT NULL',
        'public.orders: DROP INDEX "public"."orders_customer"',
        'public.orders: ALTER TABLE public.orders ADD COLUMN "c" integer',
        'public.orders: CREATE INDEX orders_c ON public.orders USING btree (c)',
        'public.orders: ALTER INDEX "public"."orders_c" RENAME TO "orders_c_renamed"',
        `public.orders: ALTER TABLE public.orders ADD COLUMN "note" text DEFAULT ('{n}'::text[])[1] NOT NULL`,
        `public.orders: ALTER TABLE public.orders ALTER COLUMN "note" SET DEFAULT 'n'::text`,
      ]);
      const mixed = await pair.sql('target', `SELECT customer, note, c FROM orders WHERE id = 9001`);
      assert.deepEqual(mixed.rows[0], { customer: 'mixed', note: 'changed', c: 1 });
    });

    test('a restart after captured DDL does not apply it again', async () => {
      const count = async () => Number((await pair.sql('target', `SELECT count(*) AS n FROM ferry.schema_changes`)).rows[0]?.n);
      const before = await count();
      assert.ok(before > 0);
      const ferry = await run(config);
      try {
        await pair.sql('source', `INSERT INTO orders (id, customer, total) VALUES (9100, 'after restart', 3)`);
        await catchUp(config);
      } finally {
        assert.deepEqual(await ferry.stop(), []);
      }
      assert.equal(await count(), before);
      await assertSameRows(pair, 'orders');
    });

    test('a captured change the target cannot take stops the group with the statement; fixed, the group goes on', async () => {
      // A row on the target alone that the source's new constraint rejects.
      await pair.sql('target', `INSERT INTO orders (id, customer, total, note) VALUES (99999, 'target only', 5000, 'x')`);
      await pair.sql('source', 'ALTER TABLE orders ADD CONSTRAINT total_below CHECK (total < 4000)');
      const ferry = await run(config);
      let errors;
      try {
        await until('the group to stop', async () => (await pair.sql('target', `SELECT last_error_fatal AS f FROM ferry.groups`)).rows[0]?.f === true);
      } finally {
        errors = await ferry.stop();
      }
      assert.equal(errors.length, 1);
      const [error] = errors;
      assert.equal(error?.code, 'FERRY_DDL_CAPTURE_APPLY');
      assert.match(error?.message ?? '', /ADD CONSTRAINT "total_below" CHECK \(\(total < \(4000\)::numeric\)\)" \(from ALTER TABLE on the source\) failed on the target: .*violated/);
      assert.equal(error?.context.table, 'public.orders');
      assert.equal(error?.context.group, 'shop');
      assert.ok(error?.context.position);
      await pair.sql('target', 'DELETE FROM orders WHERE id = 99999');
      const again = await run(config);
      try {
        await catchUp(config);
      } finally {
        assert.deepEqual(await again.stop(), []);
      }
      await sameDefinition(pair, 'public.orders', ['target_only']);
    });

    test('DDL of a table Ferry does not replicate leaves nothing in the stream', async () => {
      const messages = await streamProbe(pair, capture);
      await pair.sql('source', `CREATE TABLE brand_new (id int PRIMARY KEY); CREATE INDEX ON unrelated (v); ALTER TABLE unrelated ADD COLUMN w int;
                                DROP INDEX unrelated_v_idx; ALTER TABLE unrelated ADD CONSTRAINT v_short CHECK (length(v) < 10)`);
      // Then one that is captured: once the probe sees it, it has seen everything before it.
      await pair.sql('source', 'CREATE INDEX orders_total ON orders (total)');
      await until('the captured CREATE INDEX in the stream', async () => await messages() > 0);
      assert.equal(await messages(), 1, 'one captured DDL message, none for the unrelated tables');
      const status = await collectStatus(await loadConfig(config));
      assert.equal(status[0]?.ddlCapture, true, 'status says DDL capture is on');
      if (capture === 'wal') await pair.sql('source', `SELECT pg_drop_replication_slot('probe')`);
    });

    test('the application\'s own role runs DDL without rights in ferry\'s schema; CREATE INDEX CONCURRENTLY is captured too', async () => {
      await pair.sql('source', `CREATE ROLE app LOGIN; ALTER TABLE orders OWNER TO app; GRANT CREATE ON SCHEMA public TO app`);
      const app = new pg.Client({ connectionString: `postgres://app@127.0.0.1:${pair.source.port}/app` });
      await app.connect();
      try {
        await app.query('CREATE TABLE app_own (id int)');
        await app.query('CREATE INDEX CONCURRENTLY orders_concurrently ON orders (customer, total)');
      } finally {
        await app.end();
      }
      const ferry = await run(config);
      try {
        await catchUp(config);
      } finally {
        assert.deepEqual(await ferry.stop(), []);
      }
      await sameDefinition(pair, 'public.orders', ['target_only']);
      assert.equal((await pair.sql('target', `SELECT to_regclass('public.orders_concurrently') IS NOT NULL AS built`)).rows[0]?.built, true);
    });

    test('drop removes the event triggers with the last group that uses them', async () => {
      const drop = await cliRun(['drop', '-c', config]);
      assert.equal(drop.code, 0, drop.stderr);
      const left = await pair.sql('source', `SELECT (SELECT count(*) FROM pg_event_trigger)::int AS triggers, to_regclass('ferry.ddl_tables') IS NULL AS gone,
                                                    to_regnamespace('ferry') IS NULL AS schema_gone`);
      assert.deepEqual(left.rows[0], { triggers: 0, gone: true, schema_gone: true });
      // DDL goes on as before.
      await pair.sql('source', 'CREATE INDEX orders_after_drop ON orders (customer)');
    });
  });
}

/**
 * Counts captured DDL messages written since it was made: with WAL capture
 * through a slot of its own (test_decoding shows every message), with trigger capture
 * in the group's queue.
 */
async function streamProbe(pair: Pair, capture: 'wal' | 'trigger'): Promise<() => Promise<number>> {
  if (capture === 'trigger') {
    const count = async () => Number((await pair.sql('source', `SELECT count(*) AS n FROM ferry.shop_events WHERE ev_op = 'M' AND ev_old = 'ferry.ddl_capture'`)).rows[0]?.n);
    const start = await count();
    return async () => (await count()) - start;
  }
  await pair.sql('source', `SELECT pg_create_logical_replication_slot('probe', 'test_decoding')`);
  return async () => Number((await pair.sql('source', `SELECT count(*) AS n FROM pg_logical_slot_peek_changes('probe', NULL, NULL)
                                                         WHERE data LIKE 'message: transactional: 1 prefix: ferry.ddl_capture,%'`)).rows[0]?.n);
}

/** A logger that keeps every line, to look for a warning. */
function recordingLogger(): { log: Logger; find(code: string): { level: number; msg: string } | undefined; text(): string } {
  const lines: string[] = [];
  return {
    log: pino<never>({ level: 'info' }, { write: (line: string) => { lines.push(line); } }),
    find: (code) => lines.map((l) => JSON.parse(l) as { level: number; code?: string; msg: string }).find((l) => l.code === code),
    text: () => lines.join(''),
  };
}

describe('DDL capture where the source does not allow it (PostgreSQL 13 source)', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair({ sourceMajor: 13 });
    await pair.sql('source', `
      CREATE ROLE plain LOGIN;
      GRANT CREATE ON DATABASE app TO plain;
      CREATE TABLE things (id int PRIMARY KEY, v text);
      ALTER TABLE things OWNER TO plain;
      INSERT INTO things VALUES (1, 'a');
      CREATE TABLE walled (id int PRIMARY KEY);`);
  });

  after(async () => {
    await pair?.stop();
  });

  test('a role that may not create event triggers: init warns with the fix and still initialises; changes stream; status says DDL capture is off', async () => {
    const config = await capturing(await triggerConfig(pair, { plain: ['public.things'] }, { user: 'plain' }));
    const logged = recordingLogger();
    await initGroups(await loadConfig(config), logged.log);
    const warning = logged.find('FERRY_DDL_CAPTURE_PRIVILEGE');
    assert.ok(warning, `a warning about the privilege, among:\n${logged.text()}`);
    assert.equal(warning.level, 40);
    assert.match(warning.msg, /superuser .*rds_superuser.*source\.ddl: off/);
    assert.equal((await pair.sql('source', `SELECT count(*)::int AS n FROM pg_event_trigger`)).rows[0]?.n, 0);
    const ferry = await run(config);
    try {
      await pair.sql('source', `INSERT INTO things VALUES (2, 'b'); UPDATE things SET v = 'z' WHERE id = 1`);
      await catchUp(config);
    } finally {
      assert.deepEqual(await ferry.stop(), []);
    }
    assert.equal(await assertSameRows(pair, 'things'), 2);
    const status = await collectStatus(await loadConfig(config));
    assert.equal(status[0]?.ddlCapture, false);
  });

  test('WAL capture from PostgreSQL 13, whose pgoutput sends no messages: init warns and installs nothing', async () => {
    const config = await capturing(await pair.config({ walled: ['public.walled'] }));
    const logged = recordingLogger();
    await initGroups(await loadConfig(config), logged.log);
    const warning = logged.find('FERRY_DDL_CAPTURE_UNAVAILABLE');
    assert.ok(warning, `a warning that WAL capture cannot carry it, among:\n${logged.text()}`);
    assert.match(warning.msg, /PostgreSQL 14 or later/);
    assert.equal((await pair.sql('source', `SELECT count(*)::int AS n FROM pg_event_trigger`)).rows[0]?.n, 0);
  });
});
