import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { collectStatus } from '../src/observe/status.js';
import { assertSameRows, catchUp, cli, init, run, startPair, targetPosition, until, type Pair } from './support/harness.js';

/**
 * Faults that retrying cannot cure: the group stops with an error that names
 * group, table, position and cause, and its position on the target stays at
 * the last batch it applied, so that once the cause is fixed nothing is lost.
 */
describe('faults that stop a group: a clear error, and the position never passes unapplied data', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair();
    const tables = ['dropped_slot', 'altered', 'guarded', 'readonly', 'overtaken']
      .map((t) => `CREATE TABLE ${t} (id int PRIMARY KEY, qty int NOT NULL, note text);`).join('\n');
    await pair.sql('source', tables);
    // The documented grants of a target role that does not create the table itself.
    await pair.sql('target', `
      CREATE ROLE applier LOGIN;
      GRANT CREATE ON DATABASE app TO applier;
      CREATE TABLE guarded (id int PRIMARY KEY, qty int NOT NULL, note text);
      GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON guarded TO applier;`);
  });

  after(async () => {
    await pair?.stop();
  });

  async function position(group: string): Promise<string> {
    return await targetPosition(pair, group) as string;
  }

  async function insertRows(table: string, from: number, to: number): Promise<void> {
    await pair.sql('source', `INSERT INTO ${table} SELECT i, i * 10, 'row ' || i FROM generate_series(${from}, ${to}) i`);
  }

  async function targetIds(table: string): Promise<number[]> {
    return (await pair.sql('target', `SELECT id FROM ${table} ORDER BY id`)).rows.map((r) => r.id as number);
  }

  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  // First: ferry's control schema on the target then belongs to this test's role, as in a deployment with one target role.
  test('INSERT revoked from ferry\'s target role: the group stops with the GRANT to run; granted again, it resumes with nothing lost', async (t) => {
    const config = path.join(pair.dir, 'guarded.yaml');
    await writeFile(config, `source:\n  url: ${pair.source.url('app')}\ntarget:\n  url: postgres://applier@127.0.0.1:${pair.target.port}/app
groups:\n  - name: guarded\n    tables: [public.guarded]\napply:\n  retry_initial_ms: 200\n`);
    await init(config);
    const ferry = await run(config);
    let applied: string;
    try {
      await insertRows('guarded', 1, 10);
      await catchUp(config);
      applied = await position('guarded');
      await pair.sql('target', `REVOKE INSERT ON guarded FROM applier`);
      await pair.sql('source', `BEGIN; UPDATE guarded SET qty = -1 WHERE id = 1; INSERT INTO guarded VALUES (11, 110, 'row 11'); COMMIT`);
      const cfg = await loadConfig(config);
      await until('group guarded to fail', async () => (await collectStatus(cfg)).find((g) => g.group === 'guarded')?.state === 'failed');
    } finally {
      const errors = await ferry.stop();
      const described = errors.map((e) => e.describe()).join('\n');
      t.diagnostic(described);
      assert.equal(errors.length, 1, described);
      assert.match(described, /^FERRY_APPLY: insert into public\.guarded failed on the target: permission denied for table guarded \(group guarded, table public\.guarded, position [0-9A-F]+\/[0-9A-F]+\) — fix: grant the target role INSERT, UPDATE, DELETE and TRUNCATE on the replicated tables$/);
    }
    assert.equal(await position('guarded'), applied, 'the position stayed at the last applied batch');
    const one = await pair.sql('target', 'SELECT qty FROM guarded WHERE id = 1');
    assert.equal(one.rows[0]?.qty, 10, 'the update that shared the failed transaction was rolled back with it');
    await pair.sql('target', `GRANT INSERT ON guarded TO applier`);
    const again = await run(config);
    try {
      await catchUp(config);
      assert.equal(await assertSameRows(pair, 'guarded'), 11);
    } finally {
      assert.deepEqual(await again.stop(), []);
    }
  });

  test('the replication slot dropped behind ferry\'s back: the run exits 1 naming group, slot and the fix, position unchanged', async (t) => {
    const config = await pair.config({ sloty: ['public.dropped_slot'] });
    await init(config);
    const running = cli(['run', '-c', config, '--log-format', 'json']);
    await insertRows('dropped_slot', 1, 10);
    await catchUp(config);
    const applied = await position('sloty');
    // The walsender is ended and the slot dropped before ferry's reconnect can take it again.
    await until('the slot to be dropped', async () => {
      await pair.sql('source', `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'ferry_sloty' AND active_pid IS NOT NULL`);
      return pair.sql('source', `SELECT pg_drop_replication_slot('ferry_sloty')`).then(() => true, () => false);
    });
    await insertRows('dropped_slot', 11, 20);
    const result = await running.result;
    assert.equal(result.code, 1, `ferry run exits 1 once its only group stopped; stderr: ${result.stderr.slice(-2000)}`);
    const last = result.stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
    t.diagnostic(last.join('\n'));
    assert.match(last.join('\n'), /FERRY_SLOT_MISSING: replication slot ferry_sloty does not exist on the source/);
    assert.match(last.join('\n'), /group sloty, position [0-9A-F]+\/[0-9A-F]+\) — fix: the slot was dropped; changes since [0-9A-F/]+ are lost to this group: run "ferry drop" and "ferry init" again for group sloty/);
    assert.equal(await position('sloty'), applied, 'the target position did not move');
    assert.deepEqual(await targetIds('dropped_slot'), range(1, 10), 'rows applied before the slot was dropped are kept');
    const status = (await collectStatus(await loadConfig(config))).find((g) => g.group === 'sloty');
    assert.equal(status?.state, 'failed');
    assert.equal(status?.slot?.exists, false);
    assert.match(status?.lastError ?? '', /FERRY_SLOT_MISSING/);
  });

  test('a target column changed to an incompatible type: the group stops naming group, table, position and cause; fixed, it resumes with nothing lost', async (t) => {
    const config = await pair.config({ altered: ['public.altered'] });
    await init(config);
    const ferry = await run(config);
    let applied: string;
    try {
      await insertRows('altered', 1, 10);
      await catchUp(config);
      applied = await position('altered');
      await pair.sql('target', `ALTER TABLE altered ALTER COLUMN note TYPE int USING length(note)`);
      await insertRows('altered', 11, 20);
      const cfg = await loadConfig(config);
      await until('group altered to fail', async () => (await collectStatus(cfg)).find((g) => g.group === 'altered')?.state === 'failed');
    } finally {
      const errors = await ferry.stop();
      assert.equal(errors.length, 1, `one group failed: ${errors.map((e) => e.describe()).join('; ')}`);
      const described = errors[0]?.describe() ?? '';
      t.diagnostic(described);
      assert.match(described, /^FERRY_APPLY: insert into public\.altered failed on the target: /, 'names the table and what was done');
      assert.match(described, /integer/, `names the cause: ${described}`);
      assert.match(described, /\(group altered, table public\.altered, position [0-9A-F]+\/[0-9A-F]+\)/, 'names group, table and position');
    }
    assert.equal(await position('altered'), applied, 'the position stayed at the last applied batch');
    assert.deepEqual(await targetIds('altered'), range(1, 10), 'nothing of the failed batch is on the target');
    await pair.sql('target', `ALTER TABLE altered ALTER COLUMN note TYPE text USING 'row ' || id`);
    const again = await run(config);
    try {
      await insertRows('altered', 21, 25);
      await catchUp(config);
      assert.equal(await assertSameRows(pair, 'altered'), 25);
    } finally {
      assert.deepEqual(await again.stop(), []);
    }
  });

  test('a target that rejects writes (database set read-only) stops the group with the cause; made writable, it resumes with nothing lost', async (t) => {
    const config = await pair.config({ readonly: ['public.readonly'] });
    await init(config);
    const running = cli(['run', '-c', config, '--log-format', 'json']);
    await insertRows('readonly', 1, 10);
    await catchUp(config);
    const applied = await position('readonly');
    await pair.target.query(`ALTER DATABASE app SET default_transaction_read_only = on`);
    // The setting applies to new connections: end ferry's, and its reconnect meets a read-only database.
    await pair.sql('target', `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ferry:readonly'`);
    await insertRows('readonly', 11, 20);
    const result = await running.result;
    assert.equal(result.code, 1, `ferry run exits 1 once its only group stopped; stderr: ${result.stderr.slice(-2000)}`);
    t.diagnostic(result.stderr.split('\n').filter((l) => !l.startsWith('{')).join('\n'));
    assert.match(result.stderr, /ferry: FERRY_RUN_FAILED: 1 group\(s\) stopped with an error:\n {2}FERRY_APPLY: insert into public\.readonly failed on the target: cannot execute INSERT in a read-only transaction \(group readonly, table public\.readonly, position [0-9A-F]+\/[0-9A-F]+\)/);
    await pair.target.query(`ALTER DATABASE app RESET default_transaction_read_only`);
    assert.equal(await position('readonly'), applied, 'the position stayed at the last applied batch');
    assert.deepEqual(await targetIds('readonly'), range(1, 10));
    const again = await run(config);
    try {
      await catchUp(config);
      assert.equal(await assertSameRows(pair, 'readonly'), 20);
    } finally {
      assert.deepEqual(await again.stop(), []);
    }
  });
  test('a position moved past the batch by someone else (a second applier, a re-init): the batch is rolled back and the group stops', async () => {
    const config = await pair.config({ overtaken: ['public.overtaken'] });
    await init(config);
    const ferry = await run(config);
    await insertRows('overtaken', 1, 10);
    await catchUp(config);
    // FF/0, as WAL capture stores it.
    await pair.sql('target', `UPDATE ferry.groups SET position = decode('000000ff00000000', 'hex') WHERE group_name = 'overtaken'`);
    await insertRows('overtaken', 11, 20);
    await until('the group stops', async () => (await pair.sql('target', `SELECT last_error_fatal FROM ferry.groups WHERE group_name = 'overtaken'`)).rows[0]?.last_error_fatal === true);
    const errors = await ferry.stop();
    assert.deepEqual(errors.map((e) => e.code), ['FERRY_POSITION_AHEAD']);
    assert.match(errors[0]?.describe() ?? '', /already past this batch; the batch was rolled back \(group overtaken, position [0-9A-F]+\/[0-9A-F]+\)/);
    assert.deepEqual(await targetIds('overtaken'), range(1, 10), 'nothing of the rejected batch reached the target');
    assert.equal(await position('overtaken'), 'FF/0');
  });
});
