import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, cpus, totalmem } from 'node:os';
import path from 'node:path';
import { formatTable } from '../src/cli/output.js';
import { parseLsn } from '../src/source/pg-wal/lsn.js';
import { WalStream } from '../src/source/pg-wal/wal-stream.js';
import { loadConfig } from '../src/config/load.js';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { initGroups } from '../src/init/init.js';
import { silentLogger } from '../src/observe/logger.js';
import { bigTable, fingerprint, manySmallTables, measureCopy, timed, type CopyResult } from './copy-bench.js';
import { measureLag, measurePeakRss } from './memory-and-lag.js';
import { fullIdentityBacklog, insertBacklog, tpcbBacklog, updateDeleteBacklog, type Workload } from './workloads.js';
import { ferryConfigText, NATIVE_TARGET_SETTINGS, pausedSubscription, timeFerry, timeFerryProcess, timeNative, type CatchUp } from './replicas.js';
import { ownCpuSeconds, watchCpu } from './process-cpu.js';
import { triggerBench } from './trigger-bench.js';
import { measureTriggerBacklog } from './trigger-backlog.js';
import { transferBench } from './transfer-bench.js';
import { listenBench } from './listen-bench.js';
import { switchoverBench } from './switchover-bench.js';
import { mysqlBench, mysqlBenchOptions } from './mysql-bench.js';

/**
 * `npm run bench`: for each workload, the same backlog on one source is
 * caught up by native logical replication (publication + subscription) and
 * by Ferry, one after the other on the same machine, each into its own
 * target. The time is from starting the replica to the target holding the
 * marker row committed after the backlog. Native gets its best settings:
 * binary transfer, parallel streaming, a short wal_retrieve_retry_interval.
 */
const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a === 'copy' || a === 'apply' || a === 'lag' || a === 'memory' || a === 'trigger' || a === 'trigger-backlog' ||
  a === 'transfer' || a === 'full-identity' || a === 'listen' || a === 'switchover' || a === 'mysql');
const allWorkloads: Workload[] = quick
  ? [insertBacklog(100_000), tpcbBacklog(10_000), updateDeleteBacklog(5_000)]
  : [insertBacklog(1_000_000), tpcbBacklog(100_000), updateDeleteBacklog(50_000)];
// `npm run bench -- apply insert` runs the named catch-up workloads only.
const named = allWorkloads.filter((w) => process.argv.includes(w.name));
const workloads = named.length > 0 ? named : allWorkloads;
const copyWorkloads = quick ? [bigTable(500_000), manySmallTables(50, 1000)] : [bigTable(5_000_000), manySmallTables(200, 1000)];

/** `ferry`: `ferry run` in this process; `process`: `ferry run` started as its own process, as users run it. */
interface Result { workload: Workload; native: CatchUp; ferry: CatchUp; process: CatchUp; limit: CatchUp }

async function main(): Promise<void> {
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, PostgreSQL 18`);
  if (only === undefined || only === 'copy') {
    const copies: CopyResult[] = [];
    for (const workload of copyWorkloads) {
      console.log(`\ninitial copy, ${workload.name}: ${workload.description}`);
      copies.push(await measureCopy(workload));
    }
    console.log(`\n${formatTable(['initial copy', 'native copy_data s', 'ferry init s', 'ferry/native speed'],
      copies.map((r) => [r.workload.description, r.native.toFixed(2), r.ferry.toFixed(2), `${(r.native / r.ferry).toFixed(2)}×`]))}`);
  }
  if (only === undefined || only === 'lag') {
    const [tps, seconds] = quick ? [500, 10] : [2000, 60];
    console.log(`\nsteady load: ${tps} transactions/s for ${seconds} s, native and ferry replicating at the same time`);
    const lag = await measureLag(tps, seconds);
    console.log(`\n${formatTable(['replication lag', 'p50 ms', 'p99 ms'], [
      ['native', lag.native[0].toFixed(1), lag.native[1].toFixed(1)],
      ['ferry', lag.ferry[0].toFixed(1), lag.ferry[1].toFixed(1)],
    ])}`);
  }
  if (only === undefined || only === 'memory') {
    const rows = quick ? 500_000 : 5_000_000;
    console.log(`\nmemory: one source transaction of ${rows.toLocaleString('en')} rows`);
    const rss = await measurePeakRss(rows);
    console.log(`  ferry run peak RSS ${rss.peakMb.toFixed(0)} MB, applied in ${rss.seconds.toFixed(1)} s`);
  }
  if (only === undefined || only === 'trigger') await triggerBench(quick);
  if (only === undefined || only === 'trigger-backlog') {
    // 475,000 TPC-B-like transactions of 4 events, after 100,011 rows of setup: 2,000,011 events.
    const transactions = quick ? 50_000 : 475_000;
    console.log(`\ntrigger capture, an outage's backlog: ${transactions.toLocaleString('en')} TPC-B-like transactions queued while ferry run is stopped`);
    const r = await measureTriggerBacklog(transactions);
    console.log(`\n${formatTable(['backlog events', 'first rows on the target s', 'caught up s', 'ferry run peak RSS MB', 'parts seen'], [
      [r.events.toLocaleString('en'), r.firstRowSeconds.toFixed(1), r.totalSeconds.toFixed(1), r.peakMb.toFixed(0), String(r.partsSeen)],
    ])}`);
  }
  if (only === undefined || only === 'transfer') await transferBench(workloads);
  if (only === undefined || only === 'listen') await listenBench(workloads);
  if (only === undefined || only === 'switchover') await switchoverBench(quick);
  // `npm run bench -- mysql --rows 500000 --changes 100000 --parallel 2`: see mysql-bench.ts.
  if (only === undefined || only === 'mysql') await mysqlBench(mysqlBenchOptions(process.argv, quick));
  if (only !== undefined && only !== 'apply' && only !== 'full-identity') return;
  const results: Result[] = [];
  // Keyless tables: the full part's backlog, or a tenth of it (on the same table) with --quick.
  const fullIdentity = quick ? fullIdentityBacklog(200_000, 2_000, 500) : fullIdentityBacklog(200_000, 20_000, 5_000);
  for (const workload of only === 'full-identity' ? [fullIdentity] : only === undefined ? [...workloads, fullIdentity] : workloads) {
    console.log(`\n${workload.name}: ${workload.description}`);
    results.push(await measure(workload));
  }
  console.log(`\n${formatTable(['workload', 'row changes', 'limit s', 'native s', 'ferry s', 'ferry rows/s', 'ferry/native speed', 'ferry/limit time',
    'ferry process s', 'process/native speed', 'process first rows s'],
    results.map(({ workload, limit, native, ferry, process: own }) => [
      workload.name, workload.rowChanges.toLocaleString('en'), limit.seconds.toFixed(2), native.seconds.toFixed(2), ferry.seconds.toFixed(2),
      Math.round(workload.rowChanges / ferry.seconds).toLocaleString('en'), `${(native.seconds / ferry.seconds).toFixed(2)}×`,
      `${(ferry.seconds / limit.seconds).toFixed(2)}×`, own.seconds.toFixed(2), `${(native.seconds / own.seconds).toFixed(2)}×`,
      own.firstRowSeconds?.toFixed(2) ?? '',
    ]))}`);
  // Where the time goes: on two cores, the CPU every process needs bounds the wall time.
  const cpuRow = (workload: Workload, replica: string, run: CatchUp) => {
    const seconds = (role: string) => run.cpu.get(role)?.toFixed(2) ?? '';
    const total = [...run.cpu.values()].reduce((a, b) => a + b, 0);
    const own = run.cpu.get('ferry');
    const walsender = run.cpu.get('walsender');
    return [workload.name, replica, run.seconds.toFixed(2), seconds('walsender'), seconds('ferry'), seconds('apply'), total.toFixed(2), (total / run.seconds).toFixed(2),
      own !== undefined && walsender ? (own / walsender).toFixed(2) : ''];
  };
  console.log(`\n${formatTable(['CPU during catch-up', 'replica', 'wall s', 'source walsender s', 'ferry process s', 'target apply s', 'total CPU s', 'cores busy',
    'ferry / walsender CPU'],
    results.flatMap((r) => [cpuRow(r.workload, 'decode-only', r.limit), cpuRow(r.workload, 'native', r.native), cpuRow(r.workload, 'ferry', r.ferry),
      cpuRow(r.workload, 'ferry process', r.process)]))}`);
}

async function measure(workload: Workload): Promise<Result> {
  const [source, nativeTarget, ferryTarget, processTarget] = await Promise.all([
    startCluster({ major: 18, settings: { synchronous_commit: 'on' } }),
    startCluster({ major: 18, settings: NATIVE_TARGET_SETTINGS }),
    startCluster({ major: 18, settings: NATIVE_TARGET_SETTINGS }),
    startCluster({ major: 18, settings: NATIVE_TARGET_SETTINGS }),
  ]);
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-'));
  try {
    const schema = `${workload.schema} CREATE TABLE bench_marker (id int PRIMARY KEY);`;
    await Promise.all([source, nativeTarget, ferryTarget, processTarget].map((c) => c.query(schema)));
    if (workload.seed) await Promise.all([source, nativeTarget].map((c) => c.query(workload.seed as string)));
    const tables = [...workload.tables, 'bench_marker'];

    await pausedSubscription(source, nativeTarget, tables);
    // Ferry: initialise (empty tables), but do not run yet.
    const configPath = path.join(dir, 'ferry.yaml');
    await writeFile(configPath, ferryConfigText(source, ferryTarget, tables));
    const config = await loadConfig(configPath);
    await initGroups(config, silentLogger());
    // A second group, with its own slot, for `ferry run` as its own process.
    const processConfigPath = path.join(dir, 'ferry-process.yaml');
    await writeFile(processConfigPath, ferryConfigText(source, processTarget, tables, 'wal', 'bench_process'));
    await initGroups(await loadConfig(processConfigPath), silentLogger());
    // A third slot for the decode-only limit: the same backlog read and thrown away.
    await source.query(`SELECT pg_create_logical_replication_slot('decode_only', 'pgoutput')`);
    const limitStart = (await source.query(`SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'decode_only'`)).rows[0].lsn as string;

    const started = Date.now();
    for (const statement of workload.backlog) await source.query(statement);
    await source.query('INSERT INTO bench_marker VALUES (1)');
    console.log(`  backlog generated in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // Read first, so that neither replica warms anything up for it.
    const limit = await timeDecodeOnly(source, limitStart);
    console.log(`  decode-only limit (slot read by a client that discards it): ${limit.seconds.toFixed(2)} s`);
    const native = await timeNative(source, nativeTarget);
    console.log(`  native logical replication: ${native.seconds.toFixed(2)} s`);
    const ferry = await timeFerry(config, source, ferryTarget);
    console.log(`  ferry: ${ferry.seconds.toFixed(2)} s`);
    // Its first table is empty on the target until the stream's first rows, unless init copied rows into it.
    const own = await timeFerryProcess(processConfigPath, source, processTarget, workload.seed ? undefined : workload.tables[0]);
    console.log(`  ferry run as its own process: ${own.seconds.toFixed(2)} s`);

    for (const table of workload.tables) {
      const [a, b, c, d] = await Promise.all([source, nativeTarget, ferryTarget, processTarget].map((cl) => fingerprint(cl, table)));
      if (a !== b || a !== c || a !== d) throw new Error(`${table} differs after catch-up: source ${a}, native ${b}, ferry ${c}, ferry process ${d}`);
    }
    console.log('  every target equals the source');
    return { workload, native, ferry, process: own, limit };
  } finally {
    await Promise.all([source.stop(), nativeTarget.stop(), ferryTarget.stop(), processTarget.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}

async function timeDecodeOnly(source: Cluster, start: string): Promise<CatchUp> {
  const watch = watchCpu([{ role: 'walsender', cluster: source, pids: `SELECT pid FROM pg_stat_replication WHERE application_name = 'ferry:limit'` }]);
  const since = process.cpuUsage();
  const seconds = await timed(() => readAndDiscard(source.url(), start));
  const own = ownCpuSeconds(since);
  return { seconds, cpu: new Map([...(await watch.stop()), ['ferry', own]]) };
}

/**
 * Reads the decode_only slot through Ferry's own reader and decoder until the
 * marker row, keeping nothing. In binary, as Ferry reads these tables: the
 * cheapest way for the walsender to send them.
 */
async function readAndDiscard(url: string, start: string): Promise<void> {
  const stream = await WalStream.open({
    url, group: 'limit', slot: 'decode_only', publication: 'ferry_bench', startAfter: parseLsn(start), spillDir: tmpdir(), statusIntervalMs: 10_000,
    binary: true,
  });
  try {
    let marker: number | undefined;
    for await (const events of stream.events()) {
      for (const e of events) {
        if (e.kind === 'relation' && e.relation.table === 'bench_marker') marker = e.relation.relationId;
        if (e.kind === 'insert' && e.relationId === marker) return;
      }
    }
  } finally {
    await stream.close();
  }
}

await main();
