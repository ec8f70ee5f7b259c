import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFile, writeFile } from 'node:fs/promises';
import pg from 'pg';
import { loadConfig } from '../src/config/load.js';
import { collectStatus } from '../src/observe/status.js';
import { assertSameRows, catchUp, cli, init, run, startPair, until, type Pair } from './support/harness.js';

/**
 * Failures that another target session causes (a deadlock, a lock held too
 * long) are retried from the committed position; settings meant for
 * applications (a role's statement_timeout) do not reach Ferry's sessions.
 */
describe('transient conflicts on the target are retried, and Ferry sets its own timeouts', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TABLE big (id int PRIMARY KEY, payload text NOT NULL);
      INSERT INTO big SELECT i, repeat(md5(i::text), 8) FROM generate_series(1, 100000) i;
      CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
      INSERT INTO accounts SELECT i, 0 FROM generate_series(1, 10) i;
      CREATE TABLE audit (id int PRIMARY KEY, n int NOT NULL);
      INSERT INTO audit VALUES (1, 0);
      CREATE TABLE ledger (id int PRIMARY KEY, balance int NOT NULL);
      INSERT INTO ledger SELECT i, 0 FROM generate_series(1, 10) i;
      CREATE TABLE slots (id int PRIMARY KEY, code int NOT NULL UNIQUE);
      INSERT INTO slots VALUES (1, 1), (2, 2);
      CREATE TABLE toasted (id int PRIMARY KEY, big text);
      ALTER TABLE toasted ALTER COLUMN big SET STORAGE EXTERNAL;
      INSERT INTO toasted VALUES (1, repeat('t', 100000));`);
    // Meant for the applications on the target: every statement of this role dies after 100 ms.
    await pair.sql('target', `CREATE ROLE hasty LOGIN SUPERUSER; ALTER ROLE hasty SET statement_timeout = '100ms'`);
  });

  after(async () => {
    await pair?.stop();
  });

  test("a target role's statement_timeout of 100 ms breaks neither the initial copy nor a 100,000-row batch", async () => {
    const config = await pair.config({ bulk: ['public.big'] });
    await writeFile(config, (await readFile(config, 'utf8')).replace(`url: ${pair.target.url('app')}`, `url: postgres://hasty@127.0.0.1:${pair.target.port}/app`));
    const probe = new pg.Client({ connectionString: `postgres://hasty@127.0.0.1:${pair.target.port}/app` });
    await probe.connect();
    try {
      await assert.rejects(probe.query('SELECT pg_sleep(0.5)'), /statement timeout/, 'the role setting is in force for other sessions');
    } finally {
      await probe.end();
    }
    await init(config);
    const ferry = await run(config);
    try {
      await pair.sql('source', `UPDATE big SET payload = upper(payload); INSERT INTO big SELECT i, md5(i::text) FROM generate_series(100001, 200000) i`);
      await catchUp(config, 120);
    } finally {
      assert.deepEqual(await ferry.stop(), []);
    }
    assert.equal(await assertSameRows(pair, 'big'), 200_000);
  });

  test('a deadlock with a target session: the batch is retried from the committed position, not replayed, and the group keeps streaming', async () => {
    const config = await pair.config({ money: ['public.accounts', 'public.audit'] });
    await init(config);
    const ferry = await run(config);
    const blocker = new pg.Client({ connectionString: pair.target.url('app') });
    await blocker.connect();
    const deadlocks = async () => Number((await pair.sql('target', `SELECT deadlocks FROM pg_stat_database WHERE datname = 'app'`)).rows[0]?.deadlocks);
    const before = await deadlocks();
    try {
      // The blocker waits longest before checking for a deadlock, so Ferry's batch is the one PostgreSQL cancels.
      await blocker.query(`SET deadlock_timeout = '20s'`);
      await blocker.query('BEGIN');
      await blocker.query('UPDATE accounts SET balance = balance WHERE id = 1');
      // Ferry updates audit first (and holds that row), then waits for the blocker's row of accounts.
      await pair.sql('source', 'BEGIN; UPDATE audit SET n = n + 1 WHERE id = 1; UPDATE accounts SET balance = balance - 5 WHERE id = 1; COMMIT');
      await until("Ferry's batch to wait for the blocker's row lock", async () => {
        const res = await pair.sql('target', `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'ferry:money' AND wait_event_type = 'Lock'`);
        return res.rows[0]?.n === 1;
      });
      // Now the blocker wants the row Ferry holds: a deadlock, which Ferry's backend detects after deadlock_timeout (1 s).
      await blocker.query('UPDATE audit SET n = n WHERE id = 1');
      await blocker.query('COMMIT');
      await catchUp(config);
      assert.equal(await deadlocks(), before + 1, 'one deadlock happened on the target, and Ferry was its victim (the blocker committed)');
      const status = (await collectStatus(await loadConfig(config))).find((g) => g.group === 'money');
      assert.equal(status?.state, 'streaming');
      assert.equal(status?.lastError, null, 'the batch applied on retry cleared the recorded error');
      assert.deepEqual(status?.batches.inOrder, 0, 'retried as a whole, not replayed change by change');
    } finally {
      await blocker.end();
      assert.deepEqual(await ferry.stop(), []);
    }
    await assertSameRows(pair, 'accounts');
    await assertSameRows(pair, 'audit');
  });

  test('a lock held past apply.lock_timeout_ms is retried until it is released; held for ever, the group stops naming the cause', async () => {
    const config = await pair.config({ held: ['public.ledger'] }, '  lock_timeout_ms: 200\n  retry_attempts: 4\n');
    await init(config);
    const locker = new pg.Client({ connectionString: pair.target.url('app') });
    await locker.connect();
    const ferry = await run(config);
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE');
      await pair.sql('source', 'UPDATE ledger SET balance = balance + 1 WHERE id = 3');
      await until('a lock timeout to be recorded', async () =>
        /lock timeout/.test(String((await pair.sql('target', `SELECT last_error FROM ferry.groups WHERE group_name = 'held'`)).rows[0]?.last_error)));
      await locker.query('COMMIT');
      await catchUp(config);
      await assertSameRows(pair, 'ledger');

      await locker.query('BEGIN');
      await locker.query('LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE');
      await pair.sql('source', 'UPDATE ledger SET balance = balance + 1 WHERE id = 4');
      const cfg = await loadConfig(config);
      await until('the group to stop after 4 lock timeouts in a row', async () => (await collectStatus(cfg))[0]?.state === 'failed');
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
      const errors = await ferry.stop();
      assert.equal(errors.length, 1);
      assert.match(errors[0]?.describe() ?? '', /lock timeout.*\(the same failure 4 times in a row at this position\) \(group held, table public\.ledger, position [0-9A-F]+\/[0-9A-F]+\) — fix: find the target session/);
    }
    const again = await run(config);
    try {
      await catchUp(config);
    } finally {
      assert.deepEqual(await again.stop(), []);
    }
    await assertSameRows(pair, 'ledger');
  });

  test('a batch that set-based apply cannot take is logged with its table and reason, and counted in status', async () => {
    const config = await pair.config({ swaps: ['public.slots', 'public.toasted'] });
    await init(config);
    const ferry = cli(['run', '-c', config, '--log-format', 'json']);
    try {
      await pair.sql('source', 'UPDATE slots SET code = code + 10');
      await catchUp(config);
      // The codes trade places (through a free value, as the source's UNIQUE index demands): as set-based updates they collide.
      await pair.sql('source', 'BEGIN; UPDATE slots SET code = 0 WHERE id = 1; UPDATE slots SET code = 11 WHERE id = 2; UPDATE slots SET code = 12 WHERE id = 1; COMMIT');
      await catchUp(config);
      await assertSameRows(pair, 'slots');
      // A key change that leaves a TOASTed value unchanged: compaction cannot say what the new row holds.
      await pair.sql('source', 'UPDATE toasted SET id = 2 WHERE id = 1');
      await catchUp(config);
      await assertSameRows(pair, 'toasted');
      const status = (await collectStatus(await loadConfig(config))).find((g) => g.group === 'swaps');
      assert.ok((status?.batches.setBased ?? 0) >= 1, `set-based batches counted: ${JSON.stringify(status?.batches)}`);
      assert.equal(status?.batches.inOrder, 2, 'the swap and the key change were each applied in order, once');
    } finally {
      ferry.child.kill('SIGTERM');
      const result = await ferry.result;
      assert.equal(result.code, 0, result.stderr.slice(-2000));
      const entries = result.stderr.split('\n').filter((l) => l.includes('batch applied in source order'))
        .map((l) => JSON.parse(l) as { level: number; table?: string; reason?: string; group?: string });
      assert.equal(entries.length, 2, `each fallback is logged: ${result.stderr.slice(-2000)}`);
      for (const entry of entries) {
        assert.equal(entry.level, 30, 'at info');
        assert.equal(entry.group, 'swaps');
      }
      assert.equal(entries[0]?.table, 'public.slots');
      assert.match(String(entries[0]?.reason), /duplicate key value violates unique constraint|touched/);
      assert.equal(entries[1]?.table, 'public.toasted');
      assert.equal(entries[1]?.reason, 'key change with unchanged TOAST values');
    }
  });
});
