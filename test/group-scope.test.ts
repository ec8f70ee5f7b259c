import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertSameRows, catchUp, cli, cliRun, init, startPair, until, type Pair } from './support/harness.js';

/**
 * One group at a time: `run --group` applies only the groups it names, and
 * `drop --group` removes only theirs, on source and target, while the others
 * keep streaming.
 */
describe('run and drop one group at a time', () => {
  let pair: Pair;
  let config: string;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TABLE a (id int PRIMARY KEY, v int);
      CREATE TABLE b (id int PRIMARY KEY, v int);`);
    config = await pair.config({ ga: ['public.a'], gb: ['public.b'] });
    await init(config);
  });

  after(async () => {
    await pair?.stop();
  });

  const count = async (side: 'source' | 'target', table: string) =>
    (await pair.sql(side, `SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n as number;
  const lockedGroups = async () => (await pair.sql('target', `
    SELECT g.group_name FROM ferry.groups g
     WHERE EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                     AND l.classid::int = hashtext('ferry.group') AND l.objid::int = hashtext(g.group_name))
     ORDER BY 1`)).rows.map((r) => r.group_name as string);

  test('an unknown group is refused with the configured names (exit 2)', async () => {
    const result = await cliRun(['run', '-c', config, '--group', 'ga,nope']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /FERRY_CONFIG: --group names a group the configuration does not have: nope — fix: name groups of the configuration, comma-separated: ga, gb/);
  });

  test('run --group ga applies ga only; a second process with --group gb applies gb', async () => {
    const onlyA = cli(['run', '-c', config, '--group', 'ga', '--log-format', 'json']);
    let onlyB: ReturnType<typeof cli> | undefined;
    try {
      await until('group ga to be applied', async () => (await lockedGroups()).includes('ga'));
      await pair.sql('source', 'INSERT INTO a SELECT i, i FROM generate_series(1, 10) i; INSERT INTO b SELECT i, i FROM generate_series(1, 10) i');
      await until('a to reach the target', async () => (await count('target', 'a')) === 10);
      assert.deepEqual(await lockedGroups(), ['ga'], 'nobody applies gb');
      assert.equal(await count('target', 'b'), 0, "gb's rows wait");
      onlyB = cli(['run', '-c', config, '--group', 'gb', '--log-format', 'json']);
      await catchUp(config);
      assert.deepEqual(await lockedGroups(), ['ga', 'gb']);
      assert.equal(await assertSameRows(pair, 'b'), 10);
    } finally {
      for (const p of [onlyA, onlyB]) p?.child.kill('SIGTERM');
      for (const p of [onlyA, onlyB]) if (p) assert.equal((await p.result).code, 0, (await p.result).stderr.slice(-2000));
    }
  });

  test('drop --group ga removes only ga; gb keeps streaming; the last drop removes the control schema', async () => {
    const running = cli(['run', '-c', config, '--group', 'gb', '--log-format', 'json']);
    try {
      await until('group gb to be applied', async () => (await lockedGroups()).includes('gb'));
      const dropped = await cliRun(['drop', '-c', config, '--group', 'ga']);
      assert.equal(dropped.code, 0, dropped.stderr);
      const slots = (await pair.sql('source', 'SELECT slot_name FROM pg_replication_slots ORDER BY 1')).rows.map((r) => r.slot_name as string);
      assert.deepEqual(slots, ['ferry_gb'], "only gb's slot is left");
      const publications = (await pair.sql('source', 'SELECT pubname FROM pg_publication ORDER BY 1')).rows.map((r) => r.pubname as string);
      assert.deepEqual(publications, ['ferry_gb'], "only gb's publication is left");
      const groups = (await pair.sql('target', 'SELECT group_name FROM ferry.groups ORDER BY 1')).rows.map((r) => r.group_name as string);
      assert.deepEqual(groups, ['gb'], "only gb's row is left in the target's ferry schema");
      await pair.sql('source', 'INSERT INTO b SELECT i, i FROM generate_series(11, 20) i');
      await until('gb to keep applying', async () => (await count('target', 'b')) === 20);
      assert.equal(await count('target', 'a'), 10, "ga's replicated rows stay");
    } finally {
      running.child.kill('SIGTERM');
      assert.equal((await running.result).code, 0);
    }
    const last = await cliRun(['drop', '-c', config]);
    assert.equal(last.code, 0, last.stderr);
    assert.equal((await pair.sql('target', `SELECT to_regnamespace('ferry') IS NULL AS gone`)).rows[0]?.gone, true, 'no group left: the schema goes');
    assert.equal((await pair.sql('source', 'SELECT count(*)::int AS n FROM pg_replication_slots')).rows[0]?.n, 0);
  });
});
