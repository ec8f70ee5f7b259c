import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { collectStatus, type GroupStatus } from '../src/observe/status.js';
import { catchUp, init, run, startPair, until, type Pair } from './support/harness.js';
import { freePort, get, metric } from './support/observe.js';

/**
 * PostgreSQL 15+ sends no empty transactions: a group whose tables are quiet
 * while the rest of the source is busy gets no commit to store. Its position
 * must still move on (keepalives say how far the source is idle), so its lag
 * reads 0 rather than growing for ever.
 */
describe('a quiet group reads lag 0 while the rest of the source is busy', () => {
  let pair: Pair;
  let config: string;
  let metricsUrl: string;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TABLE quiet (id int PRIMARY KEY, v int NOT NULL);
      CREATE TABLE busy (id int PRIMARY KEY, v int NOT NULL);`);
    // Only `quiet` is replicated; `busy` stands for the rest of the application.
    // With the endpoint on, so that the lag Prometheus scrapes is checked as well as `ferry status`'s.
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    config = await pair.config({ calm: ['public.quiet'] }, `observe:\n  listen: 127.0.0.1:${port}\n  poll_interval_ms: 200`);
    await init(config);
  });

  after(async () => {
    await pair?.stop();
  });

  test('after writes elsewhere and an idle spell longer than the status interval: lag 0 bytes and 0 seconds', async () => {
    const ferry = await run(config);
    try {
      await pair.sql('source', 'INSERT INTO quiet SELECT i, i FROM generate_series(1, 10) i');
      await catchUp(config);
      const cfg = await loadConfig(config);
      const before = (await collectStatus(cfg))[0] as GroupStatus;
      // Writes the group does not replicate move the source's WAL on.
      for (let i = 1; i <= 50; i++) await pair.sql('source', `INSERT INTO busy VALUES (${i}, ${i})`);
      // The status interval is 500 ms here: after a few, the source has said it is idle past those writes.
      let status: GroupStatus | undefined;
      await until('the quiet group to read lag 0', async () => {
        status = (await collectStatus(cfg))[0];
        return status?.lagBytes === 0 && status.lagSeconds === 0;
      }, 15_000);
      assert.ok(status?.appliedPosition !== before.appliedPosition, 'the stored position moved on without a transaction of the group');
      assert.equal(status?.transactionsApplied, before.transactionsApplied, 'no transaction was applied for it');
      // And it stays 0 while the source is idle, longer than the status interval.
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const again = (await collectStatus(cfg))[0];
        assert.equal(again?.lagBytes, 0, `lag in bytes stays 0 (check ${i + 1})`);
        assert.equal(again?.lagSeconds, 0, `lag in seconds stays 0 (check ${i + 1})`);
        const scraped = (await get(metricsUrl)).body;
        assert.equal(metric(scraped, 'ferry_lag_seconds', { group: 'calm' }), 0, `/metrics: lag in seconds stays 0 (check ${i + 1})`);
        assert.equal(metric(scraped, 'ferry_lag_bytes', { group: 'calm' }), 0, `/metrics: lag in bytes stays 0 (check ${i + 1})`);
      }
    } finally {
      assert.deepEqual(await ferry.stop(), []);
    }
  });

  test('behind, the lag in seconds is counted on the source clock from when the target was last caught up', async () => {
    const cfg = await loadConfig(config);
    // ferry run is stopped: what the source commits now waits.
    const caughtUp = (await pair.sql('target', `SELECT source_commit_time AS t FROM ferry.groups WHERE group_name = 'calm'`)).rows[0]?.t as Date;
    await pair.sql('source', 'INSERT INTO quiet VALUES (11, 11)');
    // (The test servers commit asynchronously: the WAL writer writes the insert out within moments.)
    let status: GroupStatus | undefined;
    await until('the insert to count as waiting', async () => ((status = (await collectStatus(cfg))[0])?.lagBytes ?? 0) > 0);
    const sourceNow = (await pair.sql('source', 'SELECT clock_timestamp() AS t')).rows[0]?.t as Date;
    const expected = (sourceNow.getTime() - caughtUp.getTime()) / 1000;
    assert.ok(status?.lagSeconds !== null && Math.abs((status?.lagSeconds ?? 0) - expected) < 1,
      `lag ${status?.lagSeconds} s is the source's time since ${caughtUp.toISOString()} (${expected} s)`);
    const ferry = await run(config);
    try {
      await catchUp(config);
    } finally {
      assert.deepEqual(await ferry.stop(), []);
    }
  });
});
