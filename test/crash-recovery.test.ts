import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertSameRows, catchUp, cli, cliRun, type Pair, startPair, targetPosition, until, writeUntilAborted } from './support/harness.js';

/** Concurrent writer: transfers between accounts (sum stays 0) and appends to a keyless log. */
function workload(url: string, signal: AbortSignal): Promise<number> {
  return writeUntilAborted(url, signal, async (client, n) => {
    const a = 1 + (n * 31) % 100;
    const b = 1 + (n * 17) % 100;
    await client.query(`BEGIN;
      UPDATE accounts SET balance = balance - ${n % 7} WHERE id = ${a};
      UPDATE accounts SET balance = balance + ${n % 7} WHERE id = ${b};
      INSERT INTO events (account, note) VALUES (${a}, 'transfer ${n}');
      ${n % 50 === 0 ? `DELETE FROM events WHERE note = 'transfer ${n - 25}';` : ''}
      COMMIT;`);
  });
}

describe('crash recovery: kill -9 at any moment loses nothing and applies nothing twice', () => {
  let pair: Pair;
  let config: string;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
      INSERT INTO accounts SELECT i, 0 FROM generate_series(1, 100) i;
      -- No key: a transaction applied twice would leave duplicate rows behind.
      CREATE TABLE events (account int, note text);
      ALTER TABLE events REPLICA IDENTITY FULL;
      CREATE TABLE big (id int PRIMARY KEY, payload text);
      INSERT INTO big SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 200000) i;`);
    config = await pair.config({ money: ['public.accounts', 'public.events'], bulk: ['public.big'] });
  });

  after(async () => {
    await pair?.stop();
  });

  test('init killed during the copy is redone cleanly by the next init', async () => {
    const first = cli(['init', '-c', config, '--log-format', 'json']);
    await until('the copy to start', async () => {
      const res = await pair.sql('target', `SELECT to_regclass('ferry.groups') IS NOT NULL AND EXISTS (SELECT 1 FROM ferry.groups) AS started`).catch(() => ({ rows: [{ started: false }] }));
      return res.rows[0]?.started === true;
    });
    first.child.kill('SIGKILL');
    await first.result;
    const second = await cliRun(['init', '-c', config, '--log-format', 'json']);
    assert.equal(second.code, 0, `second init exits 0; stderr: ${second.stderr}`);
    assert.equal(await assertSameRows(pair, 'big'), 200000);
    await assertSameRows(pair, 'accounts');
    const again = await cliRun(['init', '-c', config, '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already initialised/, 'a third init changes nothing');
  });

  test('ferry run killed with SIGKILL again and again under load ends identical to the source', async () => {
    const stop = new AbortController();
    const writer = workload(pair.source.url('app'), stop.signal);
    for (let round = 0; round < 6; round++) {
      const running = cli(['run', '-c', config, '--log-format', 'json']);
      // A random moment, on purpose: the kill must not line up with any one step.
      await new Promise((r) => setTimeout(r, 1200 + Math.floor(Math.random() * 1500)));
      running.child.kill('SIGKILL');
      await running.result;
    }
    stop.abort();
    const transactions = await writer;
    assert.ok(transactions > 100, `the workload committed ${transactions} transactions`);
    const final = cli(['run', '-c', config, '--log-format', 'json']);
    try {
      await catchUp(config, 120);
      await assertSameRows(pair, 'accounts');
      assert.equal(await assertSameRows(pair, 'events', 'note'), transactions - Math.floor(transactions / 50));
      const sum = await pair.sql('target', 'SELECT sum(balance)::int AS s FROM accounts');
      assert.equal(sum.rows[0]?.s, 0, 'transfers keep the sum of balances at 0 on the target');
    } finally {
      final.child.kill('SIGTERM');
      const result = await final.result;
      assert.equal(result.code, 0, `SIGTERM stops ferry run with exit 0; stderr: ${result.stderr.slice(-2000)}`);
    }
  });

  // Not exactly the target's position: between transactions ferry also confirms the positions keepalives
  // report (so an idle group's slot does not hold WAL back), and the target stores only commit positions.
  // What is promised is that the slot covers what was applied and confirmed past it only WAL with no change
  // of the group, which a restart would otherwise never see again.
  test('after a graceful stop the slot has confirmed what the target applied, and past it no change of the group', async (t) => {
    const applied = await targetPosition(pair, 'money') as string;
    const slot = await pair.sql('source', `SELECT confirmed_flush_lsn::text AS c, confirmed_flush_lsn >= $1::pg_lsn AS covers
      FROM pg_replication_slots WHERE slot_name = 'ferry_money'`, [applied]);
    const confirmed = slot.rows[0]?.c as string;
    t.diagnostic(`target position ${applied}, slot confirmed ${confirmed}`);
    assert.equal(slot.rows[0]?.covers, true, `confirmed_flush_lsn of ferry_money (${confirmed}) is at or past the target position ${applied}`);
    if (confirmed === applied) return;
    // The writer stopped before the last run, so any row change in between would be one the target lacks.
    await pair.sql('source', 'CREATE EXTENSION IF NOT EXISTS pg_walinspect');
    const gap = await pair.sql('source', `
      SELECT count(*)::int AS n, string_agg(DISTINCT record_type, ', ') AS kinds
        FROM pg_get_wal_block_info($1::pg_lsn, $2::pg_lsn)
       WHERE relfilenode IN (pg_relation_filenode('accounts'), pg_relation_filenode('events'))
         AND resource_manager IN ('Heap', 'Heap2') AND record_type ~ '^(INSERT|MULTI_INSERT|UPDATE|HOT_UPDATE|DELETE)'`, [applied, confirmed]);
    assert.equal(gap.rows[0]?.n, 0, `WAL from ${applied} to ${confirmed} changes accounts or events (${gap.rows[0]?.kinds}), yet the slot confirmed it`);
  });
});
