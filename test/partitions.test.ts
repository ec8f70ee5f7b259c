import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertSameRows, catchUp, init, run, startPair, triggerConfig, until, type Pair, type Running } from './support/harness.js';

/**
 * One partitioned table per capture method, by month, with a sub-partitioned
 * month (list by region) and a default partition.
 */
function partitioned(name: string): string {
  return `
    CREATE TABLE ${name} (id int, at date, region text, v text, PRIMARY KEY (id, at, region)) PARTITION BY RANGE (at);
    CREATE TABLE ${name}_2025_01 PARTITION OF ${name} FOR VALUES FROM ('2025-01-01') TO ('2025-02-01');
    CREATE TABLE ${name}_2025_02 PARTITION OF ${name} FOR VALUES FROM ('2025-02-01') TO ('2025-03-01') PARTITION BY LIST (region);
    CREATE TABLE ${name}_2025_02_eu PARTITION OF ${name}_2025_02 FOR VALUES IN ('eu');
    CREATE TABLE ${name}_2025_02_us PARTITION OF ${name}_2025_02 FOR VALUES IN ('us');
    INSERT INTO ${name} SELECT i, date '2025-01-01' + (i % 59), CASE WHEN i % 2 = 0 THEN 'eu' ELSE 'us' END, 'v' || i FROM generate_series(1, 200) i;`;
}

/** Rows per partition on one side, so a row in the wrong partition shows. */
async function perPartition(pair: Pair, side: 'source' | 'target', table: string): Promise<Record<string, number>> {
  const res = await pair.sql(side, `SELECT tableoid::regclass::text AS p, count(*)::int AS n FROM ${table} GROUP BY 1 ORDER BY 1`);
  return Object.fromEntries(res.rows.map((r) => [r.p as string, r.n as number]));
}

async function assertSamePartitions(pair: Pair, table: string): Promise<void> {
  assert.deepEqual(await perPartition(pair, 'target', table), await perPartition(pair, 'source', table), `rows per partition of ${table}`);
}

for (const major of [13, 18]) describe(`partitions (PostgreSQL ${major} source)`, () => {
  let pair: Pair;
  let walConfig: string;
  let triggerConfigPath: string;
  let wal: Running | undefined;
  let trigger: Running | undefined;

  before(async () => {
    pair = await startPair({ sourceMajor: major });
    await pair.sql('source', `${partitioned('wev')} ${partitioned('tev')}`);
    walConfig = await pair.config({ wal: ['public.wev'] });
    triggerConfigPath = await triggerConfig(pair, { trig: ['public.tev'] });
    await init(walConfig);
    await init(triggerConfigPath);
  });

  after(async () => {
    await wal?.stop();
    await trigger?.stop();
    await pair?.stop();
  });

  test('WAL: a publication made with publish_via_partition_root is switched at run; the backlog from before the switch and the changes after it arrive', async () => {
    // As Ferry made publications before it published partitions as themselves.
    await pair.sql('source', `ALTER PUBLICATION ferry_wal SET (publish_via_partition_root = true);
      INSERT INTO wev VALUES (1001, '2025-01-15', 'eu', 'before the switch'), (1002, '2025-02-15', 'us', 'before the switch');
      UPDATE wev SET v = 'updated before the switch' WHERE id = 1`);
    wal = await run(walConfig);
    await catchUp(walConfig);
    const viaRoot = await pair.sql('source', `SELECT pubviaroot FROM pg_publication WHERE pubname = 'ferry_wal'`);
    assert.equal(viaRoot.rows[0]?.pubviaroot, false, 'the publication sends partitions as themselves');
    await pair.sql('source', `INSERT INTO wev VALUES (1003, '2025-02-16', 'eu', 'after the switch'); DELETE FROM wev WHERE id = 1001`);
    await catchUp(walConfig);
    assert.equal(await assertSameRows(pair, 'wev'), 202);
    await assertSamePartitions(pair, 'wev');
  });

  test('WAL: TRUNCATE of one leaf partition (and of a sub-partitioned month) empties only it on the target', async () => {
    await pair.sql('source', 'TRUNCATE wev_2025_01');
    await catchUp(walConfig);
    await assertSameRows(pair, 'wev');
    await pair.sql('source', 'TRUNCATE wev_2025_02_us');
    await catchUp(walConfig);
    await assertSameRows(pair, 'wev');
    const left = await perPartition(pair, 'target', 'wev');
    assert.deepEqual(Object.keys(left), ['wev_2025_02_eu'], 'the other partitions keep their rows');
    await assertSamePartitions(pair, 'wev');
  });

  test('WAL: partitions created after init (a new month, sub-partitioned too) appear on the target with their bounds before their first rows', async () => {
    await pair.sql('source', `CREATE TABLE wev_2025_03 PARTITION OF wev FOR VALUES FROM ('2025-03-01') TO ('2025-04-01');
      INSERT INTO wev SELECT i, date '2025-03-01' + (i % 28), 'eu', 'march' FROM generate_series(2001, 2050) i;
      CREATE TABLE wev_2025_04 PARTITION OF wev FOR VALUES FROM ('2025-04-01') TO ('2025-05-01') PARTITION BY LIST (region);
      CREATE TABLE wev_2025_04_eu PARTITION OF wev_2025_04 FOR VALUES IN ('eu');
      CREATE TABLE wev_default PARTITION OF wev DEFAULT;
      BEGIN;
      INSERT INTO wev VALUES (3001, '2025-04-02', 'eu', 'april'), (3002, '2030-01-01', 'us', 'some day');
      UPDATE wev SET at = '2025-04-03', v = 'moved to april' WHERE id = 2001;
      COMMIT;`);
    await catchUp(walConfig);
    await assertSameRows(pair, 'wev');
    await assertSamePartitions(pair, 'wev');
    const bounds = `SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound, pg_get_partkeydef(c.oid) AS key
      FROM pg_class c WHERE c.relname LIKE 'wev_2025_0%' OR c.relname = 'wev_default' ORDER BY 1`;
    assert.deepEqual((await pair.sql('target', bounds)).rows, (await pair.sql('source', bounds)).rows, 'the same partitions and bounds');
    await pair.sql('source', 'TRUNCATE wev_2025_03');
    await catchUp(walConfig);
    await assertSameRows(pair, 'wev');
  });

  test('WAL: a new source partition the target covers with a partition of its own goes through the root, and its TRUNCATE deletes only its rows', async () => {
    await pair.sql('target', `CREATE TABLE wev_target_2026 PARTITION OF wev FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`);
    await pair.sql('source', `CREATE TABLE wev_2026_01 PARTITION OF wev FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
      CREATE TABLE wev_2026_02 PARTITION OF wev FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
      INSERT INTO wev VALUES (4001, '2026-01-05', 'eu', 'jan'), (4002, '2026-02-05', 'eu', 'feb')`);
    await catchUp(walConfig);
    assert.equal((await pair.sql('target', 'SELECT count(*)::int AS n FROM wev_target_2026')).rows[0]?.n, 2);
    await pair.sql('source', 'TRUNCATE wev_2026_01');
    await catchUp(walConfig);
    await assertSameRows(pair, 'wev');
    assert.deepEqual((await pair.sql('target', 'SELECT id FROM wev_target_2026')).rows, [{ id: 4002 }]);
  });

  test('trigger capture: TRUNCATE of one leaf partition empties only it on the target', async () => {
    trigger = await run(triggerConfigPath);
    await pair.sql('source', `UPDATE tev SET v = 'touched' WHERE id <= 10; TRUNCATE tev_2025_02_eu`);
    await catchUp(triggerConfigPath);
    await assertSameRows(pair, 'tev');
    await assertSamePartitions(pair, 'tev');
  });

  test('trigger capture: partitions created after init get the capture, and appear on the target before their first rows; their TRUNCATE is captured', async () => {
    await pair.sql('source', `CREATE TABLE tev_2025_03 PARTITION OF tev FOR VALUES FROM ('2025-03-01') TO ('2025-04-01');
      CREATE TABLE tev_2025_04 PARTITION OF tev FOR VALUES FROM ('2025-04-01') TO ('2025-05-01') PARTITION BY LIST (region);
      CREATE TABLE tev_2025_04_eu PARTITION OF tev_2025_04 FOR VALUES IN ('eu');
      INSERT INTO tev SELECT i, date '2025-03-01' + (i % 28), 'eu', 'march' FROM generate_series(2001, 2050) i;
      INSERT INTO tev VALUES (3001, '2025-04-02', 'eu', 'april');
      UPDATE tev SET at = '2025-04-03', v = 'moved to april' WHERE id = 2001;`);
    await catchUp(triggerConfigPath);
    await assertSameRows(pair, 'tev');
    await assertSamePartitions(pair, 'tev');
    // ferry run adds the TRUNCATE trigger that PostgreSQL does not clone to new partitions.
    await until('the new partitions to be captured', async () => (await pair.sql('source',
      `SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'ferry_trig_truncate' AND tgrelid::regclass::text IN ('tev_2025_03', 'tev_2025_04', 'tev_2025_04_eu')`)).rows[0]?.n === 3, 10_000);
    await pair.sql('source', 'TRUNCATE tev_2025_03');
    await catchUp(triggerConfigPath);
    await assertSameRows(pair, 'tev');
    await assertSamePartitions(pair, 'tev');
  });
});
