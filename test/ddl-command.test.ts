import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { runDdl } from '../src/ddl/run-ddl.js';
import { silentLogger } from '../src/observe/logger.js';
import { assertSameRows, catchUp, cliRun, init, run, startPair, triggerConfig, writeUntilAborted, type Pair } from './support/harness.js';
import { tableDefinition } from './support/schema-fingerprint.js';

/**
 * `ferry ddl` runs a statement on the source and records it in the group's
 * stream in the same transaction, so the target runs it at that place:
 * indexes, constraints, NOT NULL and defaults reach the target while
 * writers write, and the target ends with the source's definition.
 */

for (const capture of ['wal', 'trigger'] as const) {
  describe(`ferry ddl (${capture} capture)`, () => {
    let pair: Pair;
    let config: string;

    before(async () => {
      pair = await startPair();
      await pair.sql('source', `
        CREATE TABLE orders (id bigint PRIMARY KEY, customer text, total numeric(10,2));
        INSERT INTO orders SELECT i, 'c' || (i % 50), i FROM generate_series(1, 1000) i;`);
      config = capture === 'wal' ? await pair.config({ shop: ['public.orders'] }) : await triggerConfig(pair, { shop: ['public.orders'] });
      await init(config);
    });

    after(async () => {
      await pair?.stop();
    });

    test('indexes, constraints, NOT NULL and defaults reach the target at their place in the stream while writers write', async () => {
      const ferry = await run(config);
      const stop = new AbortController();
      const writing = writeUntilAborted(pair.source.url('app'), stop.signal, async (client, n) => {
        await client.query(`INSERT INTO orders (id, customer, total) VALUES ($1, 'w', 1) ON CONFLICT (id) DO UPDATE SET total = orders.total + 1`, [2000 + (n % 300)]);
      });
      try {
        for (const [i, statement] of [
          'CREATE INDEX orders_customer ON orders (customer)',
          'UPDATE orders SET customer = \'none\' WHERE customer IS NULL; ALTER TABLE orders ALTER COLUMN customer SET NOT NULL',
          'ALTER TABLE orders ADD CONSTRAINT total_not_negative CHECK (total >= 0)',
          'ALTER TABLE orders ALTER COLUMN total SET DEFAULT 0',
          'CREATE UNIQUE INDEX orders_customer_id ON orders (customer, id) WHERE total > 100',
        ].entries()) {
          // The first through the command line, as a user runs it; the rest in this process, which is quicker.
          if (i === 0) {
            const result = await cliRun(['ddl', '-c', config, statement]);
            assert.equal(result.code, 0, result.stderr);
            assert.match(result.stdout, /group shop runs it on the target at the same place in its stream/);
          } else {
            assert.deepEqual(await runDdl(await loadConfig(config), statement, silentLogger()), { groups: ['shop'], statement });
          }
        }
        stop.abort();
        assert.ok(await writing > 0);
        await catchUp(config);
      } finally {
        stop.abort();
        await writing.catch(() => undefined);
        assert.deepEqual(await ferry.stop(), []);
      }
      await assertSameRows(pair, 'orders');
      const [source, target] = await Promise.all([tableDefinition(pair, 'source', 'public.orders'), tableDefinition(pair, 'target', 'public.orders')]);
      assert.match(source.indexes ?? '', /orders_customer_id/);
      assert.deepEqual(target, source, 'the target has the source\'s columns, indexes and constraints');
      const recorded = (await pair.sql('target', `SELECT count(*)::int AS n FROM ferry.schema_changes`)).rows[0]?.n;
      assert.equal(recorded, 5);
    });

    test('a statement that fails on the source changes neither side; a configuration with several groups must name one', async () => {
      const failed = await cliRun(['ddl', '-c', config, 'ALTER TABLE orders ADD CONSTRAINT never CHECK (total < 0)']);
      assert.equal(failed.code, 2);
      assert.match(failed.stderr, /FERRY_DDL_FAILED: the statement failed on the source: check constraint "never" .* is violated/);
      const ferry = await run(config);
      try {
        await pair.sql('source', `INSERT INTO orders (id, customer) VALUES (5000, 'after')`);
        await catchUp(config);
      } finally {
        assert.deepEqual(await ferry.stop(), []);
      }
      assert.equal((await pair.sql('target', `SELECT count(*)::int AS n FROM pg_constraint WHERE conname = 'never'`)).rows[0]?.n, 0);
      const two = await pair.config({ shop: ['public.orders'], other: ['public.elsewhere'] });
      const ambiguous = await cliRun(['ddl', '-c', two, 'CREATE INDEX ON orders (total)']);
      assert.equal(ambiguous.code, 2);
      assert.match(ambiguous.stderr, /name the group whose tables the statement changes: --group <name>/);
    });
  });
}

describe('ferry ddl where the stream cannot carry it (WAL capture, PostgreSQL 13 source)', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair({ sourceMajor: 13 });
    await pair.sql('source', `CREATE TABLE orders (id bigint PRIMARY KEY, total numeric(10,2))`);
  });

  after(async () => {
    await pair?.stop();
  });

  test('refuses before running anything: the target would never see the statement', async () => {
    const config = await pair.config({ shop: ['public.orders'] });
    await init(config);
    const refused = await cliRun(['ddl', '-c', config, 'CREATE INDEX orders_total ON orders (total)']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /FERRY_DDL_UNSUPPORTED: .*pgoutput carries messages from PostgreSQL 14 on/);
    assert.match(refused.stderr, /nothing was run/);
    assert.equal((await pair.sql('source', `SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'orders_total'`)).rows[0]?.n, 0);
  });
});
