import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { assertSameRows, catchUp, cli, type CliResult, cliRun, init, type Pair, run, startPair, until, writeUntilAborted } from './support/harness.js';
import { startProxy, type TcpProxy } from './support/tcp-proxy.js';

const SCHEMA = `
  CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
  INSERT INTO accounts SELECT i, 0 FROM generate_series(1, 100) i;
  -- No key: a transaction applied twice would leave duplicate rows behind.
  CREATE TABLE events (seq bigint NOT NULL, account int, note text);
  ALTER TABLE events REPLICA IDENTITY FULL;
  CREATE SEQUENCE event_seq;
  CREATE TABLE bulk (id bigint PRIMARY KEY, payload text);`;

const GROUPS = { money: ['public.accounts', 'public.events'], bulk: ['public.bulk'] };

/** For pacing and deliberate gaps only: conditions are awaited with until(). */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A writer that keeps going through restarts and cut connections: transfers
 * between accounts (the balances sum to 0) and one keyless event per
 * transaction. Resolves with the transactions it saw commit.
 */
async function workload(url: string, signal: AbortSignal): Promise<number> {
  let committed = 0;
  while (!signal.aborted) {
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => undefined);
    try {
      await client.connect();
      while (!signal.aborted) {
        const n = committed + 1;
        const a = 1 + (n * 31) % 100;
        const b = 1 + (n * 17) % 100;
        await client.query(`BEGIN;
          UPDATE accounts SET balance = balance - ${n % 7} WHERE id = ${a};
          UPDATE accounts SET balance = balance + ${n % 7} WHERE id = ${b};
          INSERT INTO events VALUES (nextval('event_seq'), ${a}, 'transfer');
          ${n % 40 === 0 ? `DELETE FROM events WHERE seq = (SELECT min(seq) FROM events);` : ''}
          COMMIT;`);
        committed++;
        // Pacing: a steady stream of small transactions, not a flood that starves the servers.
        await sleep(2);
      }
    } catch {
      // The source is restarting or cut off: pause before the next attempt rather than spin.
      await sleep(100);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return committed;
}

/** Everything replicated is identical on both sides; the event log holds no duplicate. */
async function assertIdentical(pair: Pair): Promise<void> {
  await assertSameRows(pair, 'accounts');
  const events = await assertSameRows(pair, 'events', 'seq');
  assert.ok(events > 0, 'the workload wrote events');
  await assertSameRows(pair, 'bulk');
  const dup = await pair.sql('target', 'SELECT count(*)::int - count(DISTINCT seq)::int AS d FROM events');
  assert.equal(dup.rows[0]?.d, 0, 'no event is on the target twice');
  const sum = await pair.sql('target', 'SELECT sum(balance)::int AS s FROM accounts');
  assert.equal(sum.rows[0]?.s, 0, 'transfers keep the sum of balances at 0 on the target');
}

/** A config file like `direct`, with the source and/or target port replaced by a proxy's. */
async function viaProxies(pair: Pair, direct: string, proxies: { source?: TcpProxy; target?: TcpProxy }): Promise<string> {
  let text = await readFile(direct, 'utf8');
  if (proxies.source) text = text.replace(`127.0.0.1:${pair.source.port}/`, `127.0.0.1:${proxies.source.port}/`);
  if (proxies.target) text = text.replace(`127.0.0.1:${pair.target.port}/`, `127.0.0.1:${proxies.target.port}/`);
  const file = direct.replace(/\.yaml$/, `-proxied-${Date.now()}.yaml`);
  await writeFile(file, text);
  return file;
}

interface LogLine { readonly level: number; readonly msg: string; readonly group?: string; readonly code?: string; readonly retryInMs?: number; readonly err?: string }

function logLines(result: CliResult): LogLine[] {
  return result.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
}

/** `ferry run` as a child process; `stop` sends SIGTERM and expects a clean exit. */
function ferryRun(config: string): { stop(): Promise<LogLine[]> } {
  const running = cli(['run', '-c', config, '--log-format', 'json']);
  return {
    async stop() {
      running.child.kill('SIGTERM');
      const result = await running.result;
      assert.equal(result.code, 0, `SIGTERM stops ferry run with exit 0; stderr: ${result.stderr.slice(-3000)}`);
      return logLines(result);
    },
  };
}

/** The target backend holding a group's lock. */
async function lockHolder(pair: Pair, group: string): Promise<number> {
  const res = await pair.sql('target', `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid::int = hashtext($1)`, [group]);
  assert.equal(res.rows.length, 1, `one backend holds group ${group}`);
  return res.rows[0]?.pid as number;
}

async function targetCount(pair: Pair, table: string): Promise<number> {
  return Number((await pair.sql('target', `SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);
}

describe('faults while streaming: cut connections and restarts under a concurrent workload lose nothing and apply nothing twice', () => {
  let pair: Pair;
  let direct: string;
  let nextBulkId = 1;

  /** One source transaction of `rows` rows into bulk. */
  async function bigTransaction(rows: number): Promise<void> {
    const from = nextBulkId;
    nextBulkId += rows;
    await pair.sql('source', `INSERT INTO bulk SELECT i, repeat(md5(i::text), 3) FROM generate_series(${from}, ${from + rows - 1}) i`);
  }

  before(async () => {
    pair = await startPair();
    await pair.sql('source', SCHEMA);
    direct = await pair.config(GROUPS);
    await init(direct);
  });

  after(async () => {
    await pair?.stop();
  });

  test('the source connection cut mid-stream four times, then refused for 3 s: ferry reconnects with growing backoff', async (t) => {
    const proxy = await startProxy(pair.source.port);
    const stopWriter = new AbortController();
    const writer = workload(pair.source.url('app'), stopWriter.signal);
    const ferry = ferryRun(await viaProxies(pair, direct, { source: proxy }));
    let logs: LogLine[];
    try {
      for (let round = 0; round < 4; round++) {
        // A batch read before a cut may still commit after it: count progress from a new connection on.
        await until(`round ${round}: ferry to connect again`, async () => proxy.open >= 1);
        const seen = await targetCount(pair, 'events');
        await until(`round ${round}: events to arrive`, async () => (await targetCount(pair, 'events')) > seen + 20);
        if (round === 2) await bigTransaction(20_000);
        // The idle group bulk may be waiting out its backoff; money is streaming.
        assert.ok(proxy.cut() >= 1, `round ${round}: open source connections were cut`);
      }
      const seen = await targetCount(pair, 'events');
      await until('streaming again after the cuts', async () => (await targetCount(pair, 'events')) > seen + 20);
      proxy.refuse(3000);
      proxy.cut();
      const refusedAt = Date.now();
      // The whole refusal window, on purpose: the connection attempts within it are counted.
      await sleep(3000);
      const attempts = proxy.accepted.filter((at) => at >= refusedAt && at < refusedAt + 3000).length;
      t.diagnostic(`${attempts} connection attempts while the source refused connections for 3 s`);
      // Two groups plus the periodic sequence sync: a tight loop would make hundreds.
      assert.ok(attempts >= 4 && attempts <= 20, `${attempts} connection attempts in 3 s of refusal`);
      stopWriter.abort();
      assert.ok((await writer) > 200, 'the workload kept committing');
      await catchUp(direct, 120);
      await assertIdentical(pair);
    } finally {
      stopWriter.abort();
      await writer;
      try { logs = await ferry.stop(); } finally { await proxy.close(); }
    }
    const retries = logs.filter((l) => l.msg === 'connection lost; reconnecting' && l.group === 'money');
    assert.ok(retries.length >= 5, `group money reconnected after every cut (${retries.length} retries logged)`);
    const delays = retries.map((l) => l.retryInMs ?? 0);
    t.diagnostic(`retry delays of group money (ms): ${delays.join(', ')}`);
    assert.ok(delays.includes(200) && delays.includes(400) && delays.includes(800), `backoff doubles while the source refuses: ${delays.join(', ')}`);
    assert.ok(Math.max(...delays) <= 1000, `backoff stops at retry_max_ms: ${delays.join(', ')}`);
  });

  test('the target connection cut in the middle of a large transaction\'s apply, three times: the transaction is applied once, whole', async () => {
    const proxy = await startProxy(pair.target.port);
    const stopWriter = new AbortController();
    const writer = workload(pair.source.url('app'), stopWriter.signal);
    const ferry = ferryRun(await viaProxies(pair, direct, { target: proxy }));
    try {
      for (let round = 0; round < 3; round++) {
        const committedBefore = await targetCount(pair, 'bulk');
        await bigTransaction(150_000);
        // The applier has written rows of this transaction, not yet committed.
        await until(`round ${round}: the big transaction's apply to be under way`, async () => {
          const res = await pair.sql('target', `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'ferry:bulk' AND backend_xid IS NOT NULL`);
          return res.rows[0]?.n === 1;
        }, 60_000);
        assert.ok(proxy.cut() >= 2, `round ${round}: ferry's target connections were cut`);
        assert.equal(await targetCount(pair, 'bulk'), committedBefore, `round ${round}: nothing of the cut transaction is visible on the target`);
        await catchUp(direct, 120);
      }
      stopWriter.abort();
      await writer;
      await catchUp(direct, 120);
      await assertIdentical(pair);
    } finally {
      stopWriter.abort();
      await writer;
      try { await ferry.stop(); } finally { await proxy.close(); }
    }
  });

  test('both connections cut silently (the servers do not notice, as in a network partition): ferry gets its slot and its group back', async () => {
    const sourceProxy = await startProxy(pair.source.port);
    const targetProxy = await startProxy(pair.target.port);
    const stopWriter = new AbortController();
    const writer = workload(pair.source.url('app'), stopWriter.signal);
    const ferry = ferryRun(await viaProxies(pair, direct, { source: sourceProxy, target: targetProxy }));
    const orphans: number[] = [];
    let logs: LogLine[];
    try {
      for (let round = 0; round < 2; round++) {
        const seen = await targetCount(pair, 'events');
        await until(`round ${round}: events to arrive`, async () => (await targetCount(pair, 'events')) > seen + 20, 60_000);
        const bulkBefore = await targetCount(pair, 'bulk');
        await bigTransaction(50_000);
        // Cut while ferry is busy with it, or just after.
        await until(`round ${round}: the big transaction to be applied, or under way`, async () => {
          const res = await pair.sql('target', `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'ferry:bulk' AND backend_xid IS NOT NULL`);
          return res.rows[0]?.n === 1 || (await targetCount(pair, 'bulk')) >= bulkBefore + 50_000;
        }, 60_000);
        orphans.push(await lockHolder(pair, 'money'));
        sourceProxy.cut({ silently: true });
        targetProxy.cut({ silently: true });
      }
      stopWriter.abort();
      await writer;
      await catchUp(direct, 120);
      await assertIdentical(pair);
      const alive = await pair.sql('target', 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1)', [orphans]);
      assert.equal(alive.rows[0]?.n, 0, `the target backends left behind by the cuts (${orphans.join(', ')}) were ended`);
    } finally {
      stopWriter.abort();
      await writer;
      try { logs = await ferry.stop(); } finally { await Promise.all([sourceProxy.close(), targetProxy.close()]); }
    }
    assert.ok(logs.some((l) => l.code === 'FERRY_SLOT_ACTIVE'), 'the source still held the slot for the cut connection for a while, and ferry retried');
    assert.ok(logs.some((l) => l.msg === 'ended the target connection this process lost, which still held the group'), 'ferry ended its own orphaned target connection');
  });

  test('the target server restarted twice and the source server restarted twice under load', async () => {
    const stopWriter = new AbortController();
    const writer = workload(pair.source.url('app'), stopWriter.signal);
    const ferry = ferryRun(direct);
    try {
      for (const side of ['target', 'source', 'target', 'source'] as const) {
        const seen = await targetCount(pair, 'events');
        await until(`events to arrive before the ${side} restart`, async () => (await targetCount(pair, 'events')) > seen + 20, 60_000);
        await bigTransaction(30_000);
        await pair[side].restart();
      }
      stopWriter.abort();
      await writer;
      await catchUp(direct, 120);
      await assertIdentical(pair);
    } finally {
      stopWriter.abort();
      await writer;
      await ferry.stop();
    }
  });
});

/** Writes to the tables being copied: updates, inserts, deletes, keys moving between chunks, keyless journal rows. */
function copyWorkload(url: string, signal: AbortSignal): Promise<number> {
  return writeUntilAborted(url, signal, async (client, n) => {
    const id = 1 + (n * 7919) % 400_000;
    await client.query(`BEGIN;
      UPDATE ledger SET amount = amount + 1 WHERE id = ${id};
      INSERT INTO ledger VALUES (${1_000_000 + n}, ${n % 100}, ${n}, 'new');
      DELETE FROM ledger WHERE id = ${1 + (n * 104729) % 400_000};
      ${n % 10 === 0 ? `UPDATE ledger SET id = -id WHERE id = ${1 + (n * 15485863) % 400_000};` : ''}
      INSERT INTO journal VALUES (${n}, 'entry');
      COMMIT;`);
    // Pacing: the copy competes with the writer, not the writer with everything.
    await sleep(3);
  });
}

describe('kill -9 of ferry init at random moments, again and again, under a concurrent workload', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TABLE ledger (id bigint PRIMARY KEY, account int, amount bigint, note text);
      INSERT INTO ledger SELECT i, i % 100, 0, repeat(md5(i::text), 3) FROM generate_series(1, 400000) i;
      -- No key: copied by pages, and a row copied or applied twice would show as a duplicate.
      CREATE TABLE journal (n bigint NOT NULL, note text);
      ALTER TABLE journal REPLICA IDENTITY FULL;
      INSERT INTO journal SELECT -i, 'old' FROM generate_series(1, 50000) i;`);
  });

  after(async () => {
    await pair?.stop();
  });

  test('each killed init is resumed or redone by the next; run then ends identical to the source', async (t) => {
    const config = await pair.config({ ledger: ['public.ledger', 'public.journal'] }, 'copy:\n  chunk_size: 1MB\n  parallel: 2');
    const stopWriter = new AbortController();
    const writer = copyWorkload(pair.source.url('app'), stopWriter.signal);
    const kills: string[] = [];
    try {
      const progress = async () => (await pair.sql('target', `SELECT g.state, g.position IS NOT NULL AS has_slot,
          (SELECT count(copied_at) FROM ferry.copy_chunks)::int AS done, (SELECT count(*) FROM ferry.copy_chunks)::int AS chunks
        FROM ferry.groups g`).catch(() => ({ rows: [] }))).rows[0] as { state: string; has_slot: boolean; done: number; chunks: number } | undefined;
      for (let round = 0; round < 8; round++) {
        const doneBefore = (await progress())?.done ?? 0;
        const began = Date.now();
        const started = cli(['init', '-c', config, '--log-format', 'json']);
        if (round % 2 === 0) {
          // Any moment (a random time, on purpose): before the slot, during the copy, while indexes are built.
          await sleep(400 + Math.floor(Math.random() * 1600));
        } else {
          // Some moment inside the copy: after a random number of further chunks.
          const chunks = 1 + Math.floor(Math.random() * 8);
          await until('chunks to be copied, or init to end', async () => started.child.exitCode !== null || ((await progress())?.done ?? 0) >= doneBefore + chunks);
        }
        const row = await progress();
        const delay = Date.now() - began;
        started.child.kill('SIGKILL');
        const result = await started.result;
        kills.push(result.code === null
          ? `killed after ${delay} ms; target then: ${row ? `${row.state}, slot ${row.has_slot ? 'created' : 'not yet created'}, ${row.done}/${row.chunks} chunks` : 'before the group was recorded'}`
          : `init had already ended (exit ${result.code}) after ${delay} ms; dropped to start over`);
        if (result.code !== null) {
          // Finished before the kill: start over from nothing, so the next kill meets an init again.
          assert.equal((await cliRun(['drop', '-c', config])).code, 0);
          await pair.sql('target', 'DROP TABLE ledger, journal');
        }
      }
      t.diagnostic(kills.join('\n'));
      const killedWhileCopying = kills.filter((k) => k.includes('target then: copying, slot created')).length;
      assert.ok(killedWhileCopying >= 3, `at least 3 kills hit the copy:\n  ${kills.join('\n  ')}`);
      const last = await cliRun(['init', '-c', config, '--log-format', 'json']);
      assert.equal(last.code, 0, `the init after the kills finishes; stderr: ${last.stderr.slice(-3000)}`);
      const slots = await pair.sql('source', `SELECT slot_name FROM pg_replication_slots ORDER BY 1`);
      assert.deepEqual(slots.rows.map((r) => r.slot_name), ['ferry_ledger'], 'no slot of a killed init is left behind');
      const ferry = await run(config);
      try {
        // Streaming under the workload: a journal row written after ferry run started reaches the target.
        const before = Number((await pair.sql('source', 'SELECT max(n) AS n FROM journal')).rows[0]?.n);
        await until('ferry run to apply a journal row written while it runs', async () =>
          Number((await pair.sql('target', 'SELECT max(n) AS n FROM journal')).rows[0]?.n) > before, 60_000);
        stopWriter.abort();
        assert.ok((await writer) > 100, 'the workload kept committing during the inits');
        await catchUp(config, 120);
        await assertSameRows(pair, 'ledger');
        assert.equal(await assertSameRows(pair, 'journal', 'n'), Number((await pair.sql('source', 'SELECT count(*) AS n FROM journal')).rows[0]?.n));
        const dup = await pair.sql('target', 'SELECT count(*)::int - count(DISTINCT n)::int AS d FROM journal');
        assert.equal(dup.rows[0]?.d, 0, 'no journal row is on the target twice');
      } finally {
        assert.deepEqual(await ferry.stop(), []);
      }
    } finally {
      stopWriter.abort();
      await writer;
    }
  });
});
