import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../src/config/load.js';
import type { FerryError } from '../src/errors.js';
import { collectStatus } from '../src/observe/status.js';
import { waitForCatchUp } from '../src/run/wait.js';
import { assertSameRows, catchUp, cli, init, run, startPair, triggerConfig, until, writeUntilAborted, type Pair } from './support/harness.js';
import { verifyJson } from './support/verify-json.js';

const GROUP = 'bank';

/**
 * Money moves between accounts: every source transaction keeps the sum of
 * the balances at 0 and adds one row to `transfers`. Accounts are locked in
 * id order, so concurrent transfers wait for each other instead of
 * deadlocking, and their queued events interleave.
 */
const SCHEMA = `
  CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
  INSERT INTO accounts SELECT i, 0 FROM generate_series(1, 20) i;
  CREATE TABLE transfers (id bigserial PRIMARY KEY, from_id int NOT NULL, to_id int NOT NULL, amount int NOT NULL);`;

/** A trigger group's position on the target (g.position): the tick, and the key of a part of the batch after it, 8 bytes each. */
const TICK = `('x' || encode(substr(g.position, 1, 8), 'hex'))::bit(64)::bigint`;
const PART = `CASE WHEN length(g.position) > 8 THEN ('x' || encode(substr(g.position, 9, 8), 'hex'))::bit(64)::bigint END`;

/**
 * On the target: every commit that touches `accounts` records, at its
 * COMMIT, the sum of the balances, the number of transfers and the position
 * stored with it, and takes `delayMs` (so a test can watch a backlog being
 * applied). ENABLE ALWAYS: the applier runs as a replica.
 */
function commitLog(delayMs: number): string {
  return `
  CREATE TABLE commit_log (xid bigint PRIMARY KEY, total bigint, transfers bigint, position text, part bigint);
  CREATE FUNCTION log_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    IF NOT EXISTS (SELECT FROM commit_log WHERE xid = txid_current()) THEN
      INSERT INTO commit_log SELECT txid_current(), (SELECT sum(balance) FROM accounts), (SELECT count(*) FROM transfers), ${TICK}::text, ${PART}
        FROM ferry.groups g WHERE group_name = '${GROUP}';
      PERFORM pg_sleep(${delayMs / 1000});
    END IF;
    RETURN NULL;
  END $$;
  CREATE CONSTRAINT TRIGGER log_commit AFTER INSERT OR UPDATE OR DELETE ON accounts DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION log_commit();
  ALTER TABLE accounts ENABLE ALWAYS TRIGGER log_commit;`;
}

/** The `i`th transfer of session `c`. */
async function transfer(client: pg.Client, c: number, i: number): Promise<void> {
  const a = 1 + ((c * 7 + i * 3) % 20);
  const b = 1 + ((a + 1 + (i % 18)) % 20);
  const amount = 1 + ((i * 31 + c) % 97);
  const [low, high] = a < b ? [a, b] : [b, a];
  const sign = low === a ? -1 : 1;
  await client.query(`BEGIN;
    UPDATE accounts SET balance = balance + ${sign * amount} WHERE id = ${low};
    UPDATE accounts SET balance = balance - ${sign * amount} WHERE id = ${high};
    INSERT INTO transfers (from_id, to_id, amount) VALUES (${a}, ${b}, ${amount});
    COMMIT;`);
}

/** `count` transfers from each of `clients` concurrent sessions; returns how many were made. */
async function transfers(url: string, clients: number, count: number): Promise<number> {
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (let i = 0; i < count; i++) await transfer(client, c, i);
    } finally {
      await client.end();
    }
  }));
  return clients * count;
}

interface Logged { total: string; transfers: string; position: string; part: string | null }

async function commits(pair: Pair): Promise<Logged[]> {
  return (await pair.sql('target', 'SELECT total::text, transfers::text, position, part::text FROM commit_log ORDER BY xid')).rows as Logged[];
}

async function targetPart(pair: Pair): Promise<string | null> {
  return ((await pair.sql('target', `SELECT ${PART}::text AS part FROM ferry.groups g WHERE group_name = '${GROUP}'`)).rows[0]?.part as string | null) ?? null;
}

async function transferCount(pair: Pair, side: 'source' | 'target'): Promise<number> {
  return Number((await pair.sql(side, 'SELECT count(*) AS n FROM transfers')).rows[0]?.n);
}

/** A trigger config whose target transactions hold about `rows` rows. */
async function partsConfig(pair: Pair, rows: number): Promise<string> {
  const file = await triggerConfig(pair, { [GROUP]: ['public.accounts', 'public.transfers'] });
  await writeFile(file, (await readFile(file, 'utf8')).replace('apply:\n', `apply:\n  batch_max_rows: ${rows}\n`));
  return file;
}

describe('trigger capture: a backlog queued while ferry run was stopped is applied in parts', () => {
  let pair: Pair;
  let config: string;

  before(async () => {
    pair = await startPair({ sourceSettings: { wal_level: 'replica' } });
    await pair.sql('source', SCHEMA);
    config = await partsConfig(pair, 30);
    await init(config);
  });

  after(async () => {
    await pair?.stop();
  });

  test('the backlog arrives in several target commits, each holding whole source transactions, and ends identical', async () => {
    await pair.sql('target', commitLog(10));
    const ferry = await run(config);
    await transfers(pair.source.url('app'), 2, 5);
    await catchUp(config);
    assert.deepEqual(await ferry.stop(), []);

    // Nothing ticks while ferry run is stopped: all of this becomes one batch.
    const made = 10 + await transfers(pair.source.url('app'), 4, 100);
    await pair.sql('target', 'TRUNCATE commit_log');
    const again = await run(config);
    try {
      await until('the backlog on the target', async () => await transferCount(pair, 'target') === made && await targetPart(pair) === null);
      await catchUp(config);
    } finally {
      assert.deepEqual(await again.stop(), []);
    }
    await assertSameRows(pair, 'accounts');
    await assertSameRows(pair, 'transfers');

    const logged = await commits(pair);
    for (const c of logged) assert.equal(c.total, '0', `a target commit saw the balances sum to ${c.total} (${JSON.stringify(c)}): half a source transaction`);
    const parts = logged.filter((c) => c.part !== null);
    // 400 transfers of 3 rows in target transactions of about 30 rows.
    assert.ok(parts.length >= 10, `the backlog came in ${parts.length} parts: ${JSON.stringify(logged)}`);
    // Parts stand at the tick before the backlog's batch, in order, each further in.
    const ticks = new Set(parts.map((c) => c.position));
    assert.equal(ticks.size, 1, `parts of one batch stand at one tick: ${[...ticks].join(', ')}`);
    for (let i = 1; i < parts.length; i++) {
      assert.ok(BigInt(parts[i]?.part ?? 0) > BigInt(parts[i - 1]?.part ?? 0), 'each part is further into the batch');
      assert.ok(Number(parts[i]?.transfers) > Number(parts[i - 1]?.transfers), 'each part adds transfers');
    }
    assert.ok(Number(parts[0]?.transfers) < made, 'the first part holds only some of the backlog');
    const last = logged[logged.length - 1];
    assert.equal(last?.part, null, 'the batch ends at a whole tick');
  });

  test('kill -9 inside a batch applied in parts resumes with nothing lost or applied twice; status shows the progress, wait does not call it caught up', async () => {
    await pair.sql('target', 'TRUNCATE commit_log');
    const before = await transferCount(pair, 'source');
    const made = before + await transfers(pair.source.url('app'), 4, 600);
    const loaded = await loadConfig(config);

    const first = cli(['run', '-c', config, '--log-format', 'json']);
    let status;
    try {
      await until('the first parts of the backlog on the target', async () => await targetPart(pair) !== null, 60_000);
      status = (await collectStatus(loaded)).find((g) => g.group === GROUP);
      // A position inside a batch is not a whole tick: wait must not report it as caught up.
      await assert.rejects(waitForCatchUp(loaded, 0), (err: FerryError) => err.code === 'FERRY_WAIT_TIMEOUT');
    } finally {
      first.child.kill('SIGKILL');
      await first.result;
    }
    assert.ok(status?.batchInParts, `status shows the batch being applied in parts: ${JSON.stringify(status)}`);
    assert.ok(status.batchInParts.eventsApplied > 0 && status.batchInParts.eventsApplied < status.batchInParts.events,
      `progress through the batch: ${JSON.stringify(status.batchInParts)}`);
    assert.equal(status.batchInParts.events, (made - before) * 3);
    assert.equal(status.appliedPosition, `tick ${status.batchInParts.toTick - 1}`);
    assert.ok((status.queue?.lagTicks ?? 0) >= 1, 'the batch being applied counts as lag');

    const killedAt = await transferCount(pair, 'target');
    assert.ok(killedAt > before && killedAt < made, `killed inside the batch: ${killedAt} of ${made} transfers applied`);
    assert.equal((await pair.sql('target', 'SELECT sum(balance)::text AS s FROM accounts')).rows[0]?.s, '0');
    assert.notEqual(await targetPart(pair), null);

    // transfers' primary key fails any transfer applied twice; the run would then stop on the error.
    const resumed = await run(config);
    try {
      await until('the rest of the backlog on the target', async () => await transferCount(pair, 'target') === made && await targetPart(pair) === null, 120_000);
      await catchUp(config);
    } finally {
      assert.deepEqual(await resumed.stop(), []);
    }
    await assertSameRows(pair, 'accounts');
    await assertSameRows(pair, 'transfers');
    const logged = await commits(pair);
    for (const c of logged) assert.equal(c.total, '0', `a target commit saw the balances sum to ${c.total}: ${JSON.stringify(c)}`);
    const error = (await pair.sql('target', `SELECT last_error FROM ferry.groups WHERE group_name = '${GROUP}'`)).rows[0]?.last_error as string | null;
    assert.equal(error, null);
  });

  test('verify while batches are applied in parts reports no difference, at a whole tick or at the part the target stands at', async (t) => {
    // At full speed: the applier keeps up with the writers.
    await pair.sql('target', 'DROP TRIGGER log_commit ON accounts');
    const ferry = await run(config);
    // Four sessions keep moving money: every batch between two ticks holds tens of transfers, applied in parts of about 30 rows.
    const stop = new AbortController();
    const work = Promise.all([0, 1, 2, 3].map((c) => writeUntilAborted(pair.source.url('app'), stop.signal, (client, i) => transfer(client, c, i))));
    const positions: string[] = [];
    try {
      for (let i = 0; i < 3 && !positions.some((p) => p.includes('part')); i++) {
        const { res, report } = await verifyJson(config, '--timeout', '60');
        assert.equal(res.code, 0, `false difference while applying in parts: ${res.stdout}${res.stderr}`);
        assert.equal(report.method, 'tick');
        positions.push(...report.groups.map((g) => g.position ?? ''));
      }
      // Whether a run lands inside a batch is up to timing: say so rather than fail.
      const inside = positions.filter((p) => /^tick \d+, part \d+$/.test(p)).length;
      t.diagnostic(`verify while applying in parts: ${inside} of ${positions.length} runs compared inside a batch`);
      assert.ok(positions.every((p) => /^tick \d+(, part \d+)?$/.test(p)), positions.join('; '));
    } finally {
      stop.abort();
      await work;
      await catchUp(config, 120);
      assert.deepEqual(await ferry.stop(), []);
    }
    await assertSameRows(pair, 'accounts');
    await assertSameRows(pair, 'transfers');
  });
});
