import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { assertSameRows, catchUp, cli, cliRun, init, run, startPair, triggerConfig, until, writeUntilAborted, type Pair, type Running } from './support/harness.js';

interface Report {
  switchedOver: boolean;
  steps: { step: string; seconds: number }[];
  writeUnavailableSeconds: number;
  liftFence: string[];
  reverse: { config: string; groups: { group: string; position: string }[] } | null;
}

const appUrl = (port: number, role: string) => `postgres://${role}@127.0.0.1:${port}/app`;

/**
 * An application's writer: one customer and one order per transaction, as
 * role `role`, until its session is ended (the fence) or `count` commits.
 * Returns the ids of the customers whose transaction committed.
 */
async function writer(url: string, options: { count?: number; signal?: AbortSignal } = {}): Promise<number[]> {
  const committed: number[] = [];
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    while ((options.count === undefined || committed.length < options.count) && !options.signal?.aborted) {
      await client.query('BEGIN');
      const id = (await client.query<{ id: number }>(`INSERT INTO shop.customers (name) VALUES ('c') RETURNING id`)).rows[0]?.id as number;
      await client.query('INSERT INTO shop.orders (customer_id, amount) VALUES ($1, 10)', [id]);
      await client.query('COMMIT');
      committed.push(id);
    }
  } catch (err) {
    // The fence ends the session: what committed before it is what counts.
    if (options.count !== undefined) throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
  return committed;
}

async function canLogIn(port: number, role: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: appUrl(port, role) });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

async function assertHas(pair: Pair, side: 'source' | 'target', ids: readonly number[]): Promise<void> {
  const found = (await pair.sql(side, 'SELECT count(*)::int AS n FROM shop.customers WHERE id = ANY($1::int[])', [ids])).rows[0]?.n;
  assert.equal(found, ids.length, `${side}: every committed customer is there`);
}

describe('ferry switchover', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair();
    for (const side of ['source', 'target'] as const) {
      await pair.sql(side, `CREATE ROLE app LOGIN; CREATE ROLE app3 LOGIN; CREATE SCHEMA shop; CREATE SCHEMA k; CREATE SCHEMA c;
        GRANT USAGE ON SCHEMA shop, c TO app, app3; ALTER DEFAULT PRIVILEGES IN SCHEMA shop, c GRANT ALL ON TABLES TO app, app3;
        ALTER DEFAULT PRIVILEGES IN SCHEMA shop, c GRANT ALL ON SEQUENCES TO app, app3;`);
    }
    await pair.sql('source', `
      CREATE TABLE shop.customers (id serial PRIMARY KEY, name text NOT NULL);
      CREATE TABLE shop.orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES shop.customers, amount int);
      CREATE TABLE k.items (id serial PRIMARY KEY, v text);
      CREATE TABLE k.notes (id serial PRIMARY KEY, v text);
      CREATE TABLE k.undone (id serial PRIMARY KEY, v text);
      CREATE TABLE k.queued (id serial PRIMARY KEY, v text);
      CREATE TABLE c.items (id serial PRIMARY KEY, v text);`);
  });

  after(async () => {
    await pair?.stop();
  });

  /** The source database's fence (default_transaction_read_only) is up: 1, else 0. */
  const FENCED = `SELECT count(*)::int AS n FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
                   WHERE d.datname = 'app' AND s.setrole = 0 AND 'default_transaction_read_only=on' = ANY(s.setconfig)`;

  /**
   * A switchover killed with -9 once its fence is up, while its drain waits
   * for a change to `table`, which `blocker` keeps locked on the target (it
   * stays in its transaction).
   */
  async function killedWhileDraining(config: string, blocker: pg.Client, table: string): Promise<void> {
    await blocker.query('BEGIN');
    await blocker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    await pair.sql('source', `INSERT INTO ${table} (v) SELECT 'x' FROM generate_series(1, 10)`);
    const { child, result } = cli(['switchover', '-c', config, '--fence', 'database', '--yes', '--json', '--timeout', '60']);
    await until('the fence is up and the drain waits', async () => (await pair.sql('target',
      `SELECT count(*)::int AS n FROM ferry.switchovers WHERE status = 'running' AND steps @> '[{"step": "fence"}]'`)).rows[0]?.n === 1);
    child.kill('SIGKILL');
    await result;
  }

  test('under a running workload with --reverse: writers fenced, no row lost or duplicated, keys valid, sequences go on; writes on the new primary reach the old one; and back again', async () => {
    const config = await pair.config({ shop: ['shop.customers', 'shop.orders'] });
    await init(config);
    let forward: Running | undefined = await run(config);
    let backward: Running | undefined;
    try {
      assert.equal((await pair.sql('target', `SELECT count(*)::int AS n FROM pg_constraint WHERE conname = 'orders_customer_id_fkey'`)).rows[0]?.n, 0,
        'init skipped the foreign key');
      const onSource = writer(appUrl(pair.source.port, 'app'));
      await until('the workload writes', async () => (await pair.sql('source', 'SELECT count(*)::int AS n FROM shop.orders')).rows[0]?.n >= 50);

      const res = await cliRun(['switchover', '-c', config, '--fence', 'roles:app', '--reverse', '--yes', '--json', '--timeout', '60']);
      assert.equal(res.code, 0, res.stderr);
      const report = JSON.parse(res.stdout) as Report;
      assert.deepEqual(report.steps.map((s) => s.step), ['preflight', 'fence', 'drain', 'verify', 'pause', 'finish-target', 'reverse', 'commit']);
      assert.ok(report.writeUnavailableSeconds > 0 && report.writeUnavailableSeconds < 30, `write-unavailable ${report.writeUnavailableSeconds} s`);
      const committedOnSource = await onSource;
      assert.ok(committedOnSource.length >= 50);

      // The old primary: fenced, its forward slot gone. The new one: complete.
      assert.equal(await canLogIn(pair.source.port, 'app'), false, 'app may not log in to the old primary');
      assert.equal((await pair.sql('source', `SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = 'ferry_shop'`)).rows[0]?.n, 0);
      assert.equal((await pair.sql('target', `SELECT convalidated FROM pg_constraint WHERE conname = 'orders_customer_id_fkey'`)).rows[0]?.convalidated, true);
      for (const seq of ['shop.customers_id_seq', 'shop.orders_id_seq']) {
        const q = `SELECT last_value::text AS v FROM ${seq}`;
        assert.equal((await pair.sql('target', q)).rows[0]?.v, (await pair.sql('source', q)).rows[0]?.v, `${seq} exactly as on the source`);
      }
      assert.equal(await assertSameRows(pair, 'shop.customers'), await assertSameRows(pair, 'shop.orders'));
      await assertHas(pair, 'target', committedOnSource);
      assert.ok(report.reverse);
      await access(report.reverse.config);

      // The applications move to the new primary; the reverse stream brings their writes back.
      assert.deepEqual((await forward.stop()).map((e) => e.describe()), [], 'the old ferry run stops by itself, without an error');
      forward = undefined;
      backward = await run(report.reverse.config);
      const onTarget = await writer(appUrl(pair.target.port, 'app'), { count: 100 });
      await catchUp(report.reverse.config);
      await assertSameRows(pair, 'shop.customers');
      await assertSameRows(pair, 'shop.orders');
      await assertHas(pair, 'source', onTarget);
      assert.ok(Math.min(...onTarget) > Math.max(...committedOnSource), 'the sequence continues past every id the old primary handed out');

      // Rollback: one more switchover, the roles swapped.
      const back = await cliRun(['switchover', '-c', report.reverse.config, '--fence', 'roles:app', '--reverse', '--yes', '--json', '--timeout', '60']);
      assert.equal(back.code, 0, back.stderr);
      const backReport = JSON.parse(back.stdout) as Report;
      assert.equal(backReport.reverse?.config, config, 'the way back of the way back is the original configuration');
      assert.equal(await canLogIn(pair.target.port, 'app'), false, 'app is fenced on the primary it left');
      assert.equal(await canLogIn(pair.source.port, 'app'), true, 'the fence the first switchover left on the source is lifted');
      await backward.stop();
      backward = undefined;
      forward = await run(config);
      const again = await writer(appUrl(pair.source.port, 'app'), { count: 50 });
      await catchUp(config);
      await assertSameRows(pair, 'shop.customers');
      await assertSameRows(pair, 'shop.orders');
      await assertHas(pair, 'target', again);
      assert.ok(Math.min(...again) > Math.max(...onTarget), 'no id of the new primary is handed out again');
    } finally {
      await forward?.stop();
      await backward?.stop();
    }
  });

  test('kill -9 in the middle leaves the fence up; running it again completes', async () => {
    const config = await pair.config({ kg: ['k.items'] });
    await init(config);
    const forward = await run(config);
    const blocker = new pg.Client({ connectionString: pair.target.url('app') });
    await blocker.connect();
    try {
      await killedWhileDraining(config, blocker, 'k.items');
      assert.equal((await pair.sql('source', FENCED)).rows[0]?.n, 1, 'the source stays fenced after the crash');
      await blocker.query('ROLLBACK');

      const res = await cliRun(['switchover', '-c', config, '--fence', 'database', '--yes', '--json', '--timeout', '60']);
      assert.equal(res.code, 0, res.stderr);
      const report = JSON.parse(res.stdout) as Report;
      assert.equal(report.steps.filter((s) => s.step === 'fence').length, 2, 'the re-run put the fence up again and went on');
      assert.ok(report.steps.some((s) => s.step === 'commit'));
      await assertSameRows(pair, 'k.items');
      // The old primary stays fenced; the report says how to lift it by hand.
      for (const statement of report.liftFence) await pair.sql('source', statement);
      assert.equal((await pair.sql('source', FENCED)).rows[0]?.n, 0);
    } finally {
      await blocker.end().catch(() => undefined);
      await forward.stop();
    }
  });

  test('--abort after a kill -9 in the middle lifts the fence, and the standby streams on', async () => {
    const config = await pair.config({ ug: ['k.undone'] });
    await init(config);
    const forward = await run(config);
    const blocker = new pg.Client({ connectionString: pair.target.url('app') });
    await blocker.connect();
    try {
      await killedWhileDraining(config, blocker, 'k.undone');
      assert.equal((await pair.sql('source', FENCED)).rows[0]?.n, 1, 'the source stays fenced after the crash');
      await blocker.query('ROLLBACK');

      const undone = await cliRun(['switchover', '-c', config, '--abort', '--json']);
      assert.equal(undone.code, 0, undone.stderr);
      assert.equal((JSON.parse(undone.stdout) as { aborted: boolean }).aborted, true);
      assert.equal((await pair.sql('source', FENCED)).rows[0]?.n, 0, 'the fence is lifted');
      assert.equal((await pair.sql('target', `SELECT status FROM ferry.switchovers ORDER BY id DESC LIMIT 1`)).rows[0]?.status, 'aborted');
      // The source takes writes again, and the standby still follows it.
      await pair.sql('source', `INSERT INTO k.undone (v) VALUES ('after the abort')`);
      await catchUp(config);
      assert.equal(await assertSameRows(pair, 'k.undone'), 11);
    } finally {
      await blocker.end().catch(() => undefined);
      assert.deepEqual(await forward.stop(), []);
    }
  });

  test('from trigger capture with --reverse: the way back is a WAL stream from the new primary, and the trigger queue leaves the old one', async () => {
    const config = await triggerConfig(pair, { tq: ['k.queued'] });
    await init(config);
    const forward = await run(config);
    let backward: Running | undefined;
    try {
      await pair.sql('source', `INSERT INTO k.queued (v) SELECT 'before' FROM generate_series(1, 20)`);
      await catchUp(config);
      const res = await cliRun(['switchover', '-c', config, '--fence', 'none', '--reverse', '--yes', '--json', '--timeout', '60']);
      assert.equal(res.code, 0, res.stderr);
      const report = JSON.parse(res.stdout) as Report;
      assert.ok(report.reverse);
      assert.deepEqual((await forward.stop()).map((e) => e.describe()), []);
      assert.equal((await pair.sql('source', `SELECT count(*)::int AS n FROM pg_trigger WHERE tgname LIKE 'ferry_tq_%'`)).rows[0]?.n, 0,
        'the capture triggers left the old primary');
      assert.match(await readFile(report.reverse.config, 'utf8'), /capture: wal/);

      backward = await run(report.reverse.config);
      await pair.sql('target', `INSERT INTO k.queued (v) SELECT 'on the new primary' FROM generate_series(1, 30)`);
      await catchUp(report.reverse.config);
      assert.equal(await assertSameRows(pair, 'k.queued'), 50);

      // Back again with --reverse would need the original, trigger-captured file to describe a WAL stream: refused, nothing changed.
      const back = await cliRun(['switchover', '-c', report.reverse.config, '--fence', 'none', '--reverse', '--yes', '--json']);
      assert.equal(back.code, 2);
      assert.match(back.stderr, /exists with capture: trigger, and the reverse stream is WAL capture/);
      await pair.sql('target', `INSERT INTO k.queued (v) VALUES ('still streaming back')`);
      await catchUp(report.reverse.config);
      assert.equal(await assertSameRows(pair, 'k.queued'), 51);
    } finally {
      await backward?.stop();
    }
  });

  test('preflight refuses what it cannot do and changes nothing; --fence none with a writer still running stops and says so', async () => {
    const config = await pair.config({ ng: ['k.notes'] });
    await init(config);
    const forward = await run(config);
    try {
      const refused = await cliRun(['switchover', '-c', config, '--fence', 'roles:postgres,nobody', '--yes']);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /role nobody does not exist on the source/);
      assert.match(refused.stderr, /role postgres is the one Ferry uses on the source/);
      const unasked = await cliRun(['switchover', '-c', config, '--fence', 'roles:app']);
      assert.equal(unasked.code, 2, unasked.stderr);
      assert.match(unasked.stderr, /FERRY_SWITCHOVER_UNCONFIRMED/);
      assert.equal(await canLogIn(pair.source.port, 'app'), true, 'nothing was fenced');

      const stop = new AbortController();
      const writing = writeUntilAborted(pair.source.url('app'), stop.signal, async (client) => {
        await client.query(`INSERT INTO k.notes (v) VALUES ('still writing')`);
        await new Promise((r) => setTimeout(r, 20));
      });
      try {
        const res = await cliRun(['switchover', '-c', config, '--fence', 'none', '--yes', '--timeout', '60']);
        assert.equal(res.code, 1, res.stderr);
        assert.match(res.stderr, /FERRY_SWITCHOVER_ABORTED: switchover stopped at step drain: FERRY_SWITCHOVER_WRITES_CONTINUE: the source still receives writes/);
      } finally {
        stop.abort();
        await writing;
      }
      assert.equal((await pair.sql('target', `SELECT status FROM ferry.switchovers ORDER BY id DESC LIMIT 1`)).rows[0]?.status, 'aborted');
      await catchUp(config);
      await assertSameRows(pair, 'k.notes');
    } finally {
      await forward.stop();
    }
  });

  test('a switchover that fails after the fence (target stopped) lifts it, exits non-zero and says why', async () => {
    const config = await pair.config({ cg: ['c.items'] });
    await init(config);
    const forward = await run(config);
    const blocker = new pg.Client({ connectionString: pair.target.url('app') });
    blocker.on('error', () => undefined);
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE c.items IN ACCESS EXCLUSIVE MODE');
      await pair.sql('source', `INSERT INTO c.items (v) VALUES ('before')`);
      const { result } = cli(['switchover', '-c', config, '--fence', 'roles:app3', '--yes', '--timeout', '60']);
      await until('the fence is up', async () => !(await canLogIn(pair.source.port, 'app3')));
      // The fence step is done once the target records it; the drain waits on the locked table from then on.
      await until('the switchover to drain', async () => (await pair.sql('target',
        `SELECT 1 FROM ferry.switchovers WHERE status = 'running' AND steps @> '[{"step": "fence"}]'`)).rows.length > 0);
      await pair.target.stop();
      const res = await result;
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /FERRY_SWITCHOVER_ABORTED: switchover stopped at step drain/);
      assert.match(res.stderr, /fence is lifted/);
      assert.equal(await canLogIn(pair.source.port, 'app3'), true, 'app3 may log in again');
      const app3 = new pg.Client({ connectionString: appUrl(pair.source.port, 'app3') });
      await app3.connect();
      try {
        assert.equal((await app3.query('SHOW default_transaction_read_only')).rows[0]?.default_transaction_read_only, 'off');
        await app3.query(`INSERT INTO c.items (v) VALUES ('after')`);
      } finally {
        await app3.end();
      }
    } finally {
      await blocker.end().catch(() => undefined);
      await forward.stop();
    }
  });
});
