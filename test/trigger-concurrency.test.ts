import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { assertSameRows, catchUp, cli, cliRun, init, run, startPair, targetPosition, triggerConfig, until, type Pair } from './support/harness.js';

const ACCOUNTS = 200;

const SCHEMA = `
  CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
  INSERT INTO accounts SELECT i, 0 FROM generate_series(1, ${ACCOUNTS}) i;
  -- No key: a transfer applied twice would leave a duplicate row behind.
  CREATE TABLE transfers (from_id int, to_id int, amount int, writer int, n int);`;

/**
 * One writer moving money between random accounts until `signal` aborts:
 * row by row, or both legs in one statement, some with a savepoint that is
 * rolled back. Conflicting rows make writers wait for each other (and
 * deadlock now and then: retried). The sum of balances is 0 after every
 * committed transaction.
 */
async function transfers(url: string, writer: number, signal: AbortSignal): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let committed = 0;
  try {
    for (let n = 0; !signal.aborted; n++) {
      const a = 1 + Math.floor(Math.random() * ACCOUNTS);
      // Any other account: a step of 1 to ACCOUNTS - 1 from a.
      const b = 1 + ((a + Math.floor(Math.random() * (ACCOUNTS - 1))) % ACCOUNTS);
      const amount = 1 + Math.floor(Math.random() * 100);
      const legs = n % 3 === 0
        ? `UPDATE accounts SET balance = balance + CASE WHEN id = ${a} THEN -${amount} ELSE ${amount} END WHERE id IN (${a}, ${b});`
        : `UPDATE accounts SET balance = balance - ${amount} WHERE id = ${a}; UPDATE accounts SET balance = balance + ${amount} WHERE id = ${b};`;
      const noise = n % 5 === 0 ? `SAVEPOINT s; UPDATE accounts SET balance = balance + 1000000 WHERE id = ${b}; ROLLBACK TO SAVEPOINT s;` : '';
      try {
        await client.query(`BEGIN; ${legs} ${noise} INSERT INTO transfers VALUES (${a}, ${b}, ${amount}, ${writer}, ${n}); COMMIT;`);
        committed++;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        if ((err as { code?: string }).code !== '40P01') throw err;
      }
    }
  } finally {
    await client.end();
  }
  return committed;
}

function startTransfers(pair: Pair, writers: number): { stop: () => Promise<number> } {
  const controller = new AbortController();
  const running = Promise.all(Array.from({ length: writers }, (_, i) => transfers(pair.source.url('app'), i, controller.signal)));
  return { stop: async () => { controller.abort(); return (await running).reduce((a, b) => a + b, 0); } };
}

/**
 * On the target, a deferred constraint trigger checks at every commit (so
 * after every applied batch) that the balances still sum to 0, and records
 * what it saw. ENABLE ALWAYS: it fires even in ferry's replica-role connection.
 */
const SUM_CHECK = `
  CREATE TABLE sum_checks (txid bigint PRIMARY KEY, total bigint NOT NULL);
  CREATE FUNCTION check_sum() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO sum_checks SELECT txid_current(), sum(balance) FROM accounts ON CONFLICT DO NOTHING;
    RETURN NULL;
  END $$;
  CREATE CONSTRAINT TRIGGER sum_is_zero AFTER INSERT OR UPDATE OR DELETE ON accounts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_sum();
  ALTER TABLE accounts ENABLE ALWAYS TRIGGER sum_is_zero;`;

describe('trigger capture under concurrent conflicting transactions (PostgreSQL 13 source → 18)', () => {
  let pair: Pair;
  let config: string;

  before(async () => {
    pair = await startPair({ sourceMajor: 13, sourceSettings: { wal_level: 'minimal', max_wal_senders: 0 } });
    await pair.sql('source', SCHEMA);
    config = await triggerConfig(pair, { money: ['public.accounts', 'public.transfers'] });
  });

  after(async () => {
    await pair?.stop();
  });

  test('money moved by many connections at once: the sum holds on the target after every applied batch, and the target ends equal to the source', async () => {
    // Writers start before init: the copy must line up exactly with the queue.
    const writers = startTransfers(pair, 8);
    await until('the writers to commit transfers', async () => (await pair.sql('source', 'SELECT count(*)::int AS n FROM transfers')).rows[0]?.n >= 20);
    await init(config);
    await pair.sql('target', SUM_CHECK);
    const ferry = await run(config);
    try {
      // Batch after batch applied while the writers keep conflicting, each checked by the trigger.
      await until('ferry to apply 50 batches while the writers run', async () =>
        (await pair.sql('target', 'SELECT count(*)::int AS n FROM sum_checks')).rows[0]?.n >= 50, 60_000);
      const committed = await writers.stop();
      assert.ok(committed > 200, `the writers committed ${committed} transfers`);
      await catchUp(config, 120);
      await assertSameRows(pair, 'accounts');
      const total = await pair.sql('source', 'SELECT count(*)::int AS n FROM transfers');
      assert.equal(await assertSameRows(pair, 'transfers', 'writer, n'), total.rows[0]?.n);
      const checks = await pair.sql('target', `SELECT count(*)::int AS batches, count(*) FILTER (WHERE total <> 0)::int AS broken FROM sum_checks`);
      assert.equal(checks.rows[0]?.broken, 0, `no applied batch (of ${checks.rows[0]?.batches}) left the balances summing to anything but 0`);
    } finally {
      assert.deepEqual(await ferry.stop(), []);
    }
  });
});

describe('trigger capture: kill -9 at any moment loses nothing and applies nothing twice (PostgreSQL 18)', () => {
  let pair: Pair;
  let config: string;

  before(async () => {
    pair = await startPair({ sourceSettings: { wal_level: 'replica' } });
    await pair.sql('source', `${SCHEMA}
      CREATE TABLE big (id int PRIMARY KEY, payload text);
      INSERT INTO big SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 200000) i;`);
    // Small chunks, so the killed copy leaves some done and some not.
    config = await triggerConfig(pair, { money: ['public.accounts', 'public.transfers'], bulk: ['public.big'] },
      { extra: 'copy:\n  chunk_size: 4MB\n  parallel: 2' });
  });

  after(async () => {
    await pair?.stop();
  });

  test('init killed during the copy, with writes going on, resumes and lines up with the queue', async () => {
    const stop = new AbortController();
    const churn = (async () => {
      const client = new pg.Client({ connectionString: pair.source.url('app') });
      await client.connect();
      for (let i = 0; !stop.signal.aborted; i++) {
        await client.query(`UPDATE big SET payload = 'changed ${i}' WHERE id = ${1 + ((i * 7919) % 200000)}`);
        if (i % 10 === 0) await client.query(`DELETE FROM big WHERE id = ${1 + ((i * 104729) % 200000)}`);
      }
      await client.end();
    })();
    const first = cli(['init', '-c', config, '--log-format', 'json']);
    await until('some chunks to be copied', async () => {
      const res = await pair.sql('target', `SELECT count(*) FILTER (WHERE copied_at IS NOT NULL)::int AS n FROM ferry.copy_chunks WHERE group_name = 'bulk'`)
        .catch(() => ({ rows: [{ n: 0 }] }));
      return (res.rows[0]?.n as number) > 0;
    });
    first.child.kill('SIGKILL');
    await first.result;
    const second = await cliRun(['init', '-c', config, '--log-format', 'json']);
    assert.equal(second.code, 0, `second init exits 0; stderr: ${second.stderr.slice(-2000)}`);
    assert.match(second.stderr, /resuming an interrupted copy/);
    stop.abort();
    await churn;
    const ferry = await run(config);
    try {
      await catchUp(config, 120);
      await assertSameRows(pair, 'big');
      await assertSameRows(pair, 'accounts');
    } finally {
      assert.deepEqual(await ferry.stop(), []);
    }
  });

  test('ferry run killed with SIGKILL again and again under load ends identical to the source', async () => {
    const writers = startTransfers(pair, 4);
    for (let round = 0; round < 6; round++) {
      const running = cli(['run', '-c', config, '--log-format', 'json']);
      // A random moment, on purpose: the kill must not line up with any one step.
      await new Promise((r) => setTimeout(r, 1200 + Math.floor(Math.random() * 1500)));
      running.child.kill('SIGKILL');
      await running.result;
    }
    const committed = await writers.stop();
    assert.ok(committed > 100, `the workload committed ${committed} transfers`);
    const final = cli(['run', '-c', config, '--log-format', 'json']);
    try {
      await catchUp(config, 120);
      await assertSameRows(pair, 'accounts');
      const total = await pair.sql('source', 'SELECT count(*)::int AS n FROM transfers');
      assert.equal(await assertSameRows(pair, 'transfers', 'writer, n'), total.rows[0]?.n);
      const sum = await pair.sql('target', 'SELECT sum(balance)::int AS s FROM accounts');
      assert.equal(sum.rows[0]?.s, 0, 'transfers keep the sum of balances at 0 on the target');
    } finally {
      final.child.kill('SIGTERM');
      const result = await final.result;
      assert.equal(result.code, 0, `SIGTERM stops ferry run with exit 0; stderr: ${result.stderr.slice(-2000)}`);
    }
  });

  test('after a graceful stop the queue knows what the target applied', async () => {
    const source = await pair.sql('source', `SELECT acked_tick::text AS t FROM ferry.queues WHERE group_name = 'money'`);
    assert.equal(await targetPosition(pair, 'money'), `tick ${source.rows[0]?.t}`, 'acked tick on the source is the target position');
  });
});
