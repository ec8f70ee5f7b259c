import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatTable } from '../src/cli/output.js';
import { loadConfig } from '../src/config/load.js';
import { pgBinaries } from '../src/embedded/binaries.js';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { initGroups } from '../src/init/init.js';
import { silentLogger } from '../src/observe/logger.js';
import { runGroups } from '../src/run/run-groups.js';
import { fingerprint, timed } from './copy-bench.js';
import { ferryConfigText, NATIVE_TARGET_SETTINGS, pausedSubscription, timeFerry, timeNative } from './replicas.js';
import { tpcbBacklog, type Workload } from './workloads.js';

/**
 * `npm run bench -- trigger`: what trigger capture costs the source, and how
 * fast it catches up.
 *
 * - Source overhead: pgbench's TPC-B-like load on one source, with Ferry's
 *   capture triggers disabled and enabled in turn (same data, same server),
 *   as transactions per second and as server CPU time per transaction
 *   (the CPU figure suffers less from other load on the machine).
 * - Catch-up: the same backlog on two sources, one replicated by native
 *   logical replication and by Ferry's WAL capture, the other by Ferry's
 *   trigger capture, each into its own target, timed from start until the
 *   target holds a marker row committed after the backlog.
 */
export async function triggerBench(quick: boolean): Promise<void> {
  const pgbench = await findPgbench();
  if (pgbench) {
    const [seconds, rounds] = quick ? [5, 1] : [15, 2];
    // The embedded servers run without fsync, the worst case for the triggers' share; PostgreSQL's defaults make commits durable.
    const sources: { name: string; settings: Record<string, string> }[] = [
      { name: 'in memory (fsync, synchronous_commit and full_page_writes off)', settings: {} },
      { name: "durable (PostgreSQL's defaults: fsync, synchronous_commit and full_page_writes on)", settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } },
    ];
    for (const source of sources) {
      console.log(`\ntrigger capture, source overhead, ${source.name}: pgbench (${pgbench}) scale 10, 4 clients, ${rounds} × ${seconds} s each way, alternating`);
      const overhead = await measureSourceOverhead(pgbench, seconds, rounds, source.settings);
      console.log(`\n${formatTable(['pgbench on the source', 'tps', 'server CPU ms per transaction'], [
        ['without capture', overhead.base.tps.toFixed(0), overhead.base.cpuMs.toFixed(3)],
        ['with trigger capture', overhead.captured.tps.toFixed(0), overhead.captured.cpuMs.toFixed(3)],
        ['with capture, ferry run applying on the same machine', overhead.applying.tps.toFixed(0), overhead.applying.cpuMs.toFixed(3)],
        ['captured / uncaptured', `${(100 * overhead.captured.tps / overhead.base.tps).toFixed(0)}%`,
          `${(100 * overhead.base.cpuMs / overhead.captured.cpuMs).toFixed(0)}% (uncaptured/captured)`],
      ])}`);
    }
  } else {
    console.log('\ntrigger capture, source overhead: skipped, no pgbench found (next to the embedded postgres, on PATH, or in $PGBENCH)');
  }
  const workload = tpcbBacklog(quick ? 10_000 : 100_000);
  console.log(`\ntrigger capture, catch-up: ${workload.description}`);
  const r = await measureCatchUp(workload);
  console.log(`\n${formatTable(['catch-up', 'row changes', 'backlog s', 'catch-up s', 'rows/s', 'vs native speed'], [
    ['native logical replication', workload.rowChanges.toLocaleString('en'), r.backlogPlain.toFixed(2), r.native.toFixed(2),
      Math.round(workload.rowChanges / r.native).toLocaleString('en'), '1.00×'],
    ['ferry, WAL capture', workload.rowChanges.toLocaleString('en'), r.backlogPlain.toFixed(2), r.wal.toFixed(2),
      Math.round(workload.rowChanges / r.wal).toLocaleString('en'), `${(r.native / r.wal).toFixed(2)}×`],
    ['ferry, trigger capture', workload.rowChanges.toLocaleString('en'), r.backlogCaptured.toFixed(2), r.trigger.toFixed(2),
      Math.round(workload.rowChanges / r.trigger).toLocaleString('en'), `${(r.native / r.trigger).toFixed(2)}×`],
  ])}`);
}

interface Sample { readonly tps: number; readonly cpuMs: number }

/** pgbench next to the embedded postgres binary, else $PGBENCH, else on PATH. */
async function findPgbench(): Promise<string | undefined> {
  const embedded = path.join((await pgBinaries(18)).root, 'bin', 'pgbench');
  for (const candidate of [embedded, process.env.PGBENCH]) if (candidate && existsSync(candidate)) return candidate;
  const which = spawnSync('sh', ['-c', 'command -v pgbench'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

async function measureSourceOverhead(
  pgbench: string, seconds: number, rounds: number, settings: Record<string, string>,
): Promise<{ base: Sample; captured: Sample; applying: Sample }> {
  const [source, target] = await Promise.all([startCluster({ major: 18, settings }), startCluster({ major: 18 })]);
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-trigger-'));
  try {
    await runPgbench(pgbench, source, ['-i', '-s', '10', '-q']);
    const tables = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history'];
    const configPath = path.join(dir, 'ferry.yaml');
    await writeFile(configPath, ferryConfigText(source, target, tables, 'trigger'));
    const config = await loadConfig(configPath);
    await initGroups(config, silentLogger());
    const triggers = (await source.query(`SELECT tgrelid::regclass::text AS t, tgname FROM pg_trigger WHERE tgname LIKE 'ferry_bench_%'`)).rows as { t: string; tgname: string }[];
    const capture = async (on: boolean) => {
      for (const { t, tgname } of triggers) await source.query(`ALTER TABLE ${t} ${on ? 'ENABLE ALWAYS' : 'DISABLE'} TRIGGER "${tgname}"`);
      await source.query('CHECKPOINT');
    };
    const base: Sample[] = [];
    const captured: Sample[] = [];
    for (let round = 0; round < rounds; round++) {
      await capture(false);
      base.push(await pgbenchSample(pgbench, source, seconds));
      console.log(`  round ${round + 1}: without capture ${base.at(-1)?.tps.toFixed(0)} tps`);
      await capture(true);
      captured.push(await pgbenchSample(pgbench, source, seconds));
      console.log(`  round ${round + 1}: with capture ${captured.at(-1)?.tps.toFixed(0)} tps`);
    }
    // And once more with ferry run draining the queue meanwhile (it competes for the same CPUs).
    const stop = new AbortController();
    const running = runGroups(config, silentLogger(), stop.signal);
    const applying = await pgbenchSample(pgbench, source, seconds);
    console.log(`  with capture and ferry run applying: ${applying.tps.toFixed(0)} tps`);
    stop.abort();
    const errors = await running;
    if (errors.length > 0) throw errors[0];
    return { base: mean(base), captured: mean(captured), applying };
  } finally {
    await Promise.all([source.stop(), target.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}

function mean(samples: readonly Sample[]): Sample {
  return { tps: samples.reduce((n, s) => n + s.tps, 0) / samples.length, cpuMs: samples.reduce((n, s) => n + s.cpuMs, 0) / samples.length };
}

/** One pgbench run: its tps, and the CPU time its server backends used per transaction. */
async function pgbenchSample(pgbench: string, source: Cluster, seconds: number): Promise<Sample> {
  const before = childrenCpuTicks(source);
  const out = await runPgbench(pgbench, source, ['-c', '4', '-j', '2', '-T', String(seconds), '-n', '-M', 'prepared']);
  // Backends are counted once the postmaster has reaped them.
  await new Promise((r) => setTimeout(r, 500));
  const after = childrenCpuTicks(source);
  const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
  const transactions = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1]);
  if (!Number.isFinite(tps) || !transactions) throw new Error(`pgbench output not understood:\n${out}`);
  // Clock ticks are 1/100 s on Linux.
  return { tps, cpuMs: ((after - before) * 10) / transactions };
}

/** CPU time (user + system, in clock ticks) of the server's exited children: its finished backends. */
function childrenCpuTicks(cluster: Cluster): number {
  const pid = readFileSync(path.join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0];
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(fields[13]) + Number(fields[14]);
}

function runPgbench(pgbench: string, cluster: Cluster, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(pgbench, [...args, cluster.url('postgres')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`pgbench ${args.join(' ')} exited with ${code}:\n${out}`))));
  });
}

interface CatchUp { readonly native: number; readonly wal: number; readonly trigger: number; readonly backlogPlain: number; readonly backlogCaptured: number }

async function measureCatchUp(workload: Workload): Promise<CatchUp> {
  const [plain, captured, nativeTarget, walTarget, triggerTarget] = await Promise.all([
    startCluster({ major: 18, settings: { synchronous_commit: 'on' } }),
    startCluster({ major: 18, settings: { synchronous_commit: 'on', wal_level: 'replica' } }),
    startCluster({ major: 18, settings: NATIVE_TARGET_SETTINGS }),
    startCluster({ major: 18, settings: NATIVE_TARGET_SETTINGS }),
    startCluster({ major: 18, settings: NATIVE_TARGET_SETTINGS }),
  ]);
  const all = [plain, captured, nativeTarget, walTarget, triggerTarget];
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-trigger-'));
  try {
    const schema = `${workload.schema} CREATE TABLE bench_marker (id int PRIMARY KEY);`;
    await Promise.all([plain, captured, nativeTarget].map((c) => c.query(schema)));
    const tables = [...workload.tables, 'bench_marker'];
    await pausedSubscription(plain, nativeTarget, tables);

    const walPath = path.join(dir, 'wal.yaml');
    const triggerPath = path.join(dir, 'trigger.yaml');
    await writeFile(walPath, ferryConfigText(plain, walTarget, tables));
    await writeFile(triggerPath, ferryConfigText(captured, triggerTarget, tables, 'trigger'));
    const walConfig = await loadConfig(walPath);
    const triggerConfig = await loadConfig(triggerPath);
    await initGroups(walConfig, silentLogger());
    await initGroups(triggerConfig, silentLogger());

    const backlog = async (source: Cluster) => timed(async () => {
      for (const statement of workload.backlog) await source.query(statement);
      await source.query('INSERT INTO bench_marker VALUES (1)');
    });
    const backlogPlain = await backlog(plain);
    console.log(`  backlog without triggers: ${backlogPlain.toFixed(1)} s`);
    const backlogCaptured = await backlog(captured);
    console.log(`  backlog with capture triggers: ${backlogCaptured.toFixed(1)} s`);

    const native = (await timeNative(plain, nativeTarget)).seconds;
    console.log(`  native logical replication: ${native.toFixed(2)} s`);
    const wal = (await timeFerry(walConfig, plain, walTarget)).seconds;
    console.log(`  ferry, WAL capture: ${wal.toFixed(2)} s`);
    const trigger = (await timeFerry(triggerConfig, captured, triggerTarget)).seconds;
    console.log(`  ferry, trigger capture: ${trigger.toFixed(2)} s`);

    for (const table of workload.tables) {
      const [a, b, c] = await Promise.all([plain, nativeTarget, walTarget].map((cl) => fingerprint(cl, table)));
      const [d, e] = await Promise.all([captured, triggerTarget].map((cl) => fingerprint(cl, table)));
      if (a !== b || a !== c) throw new Error(`${table} differs after catch-up: source ${a}, native ${b}, ferry WAL ${c}`);
      if (d !== e) throw new Error(`${table} differs after catch-up: source ${d}, ferry trigger ${e}`);
    }
    console.log('  every target equals its source');
    return { native, wal, trigger, backlogPlain, backlogCaptured };
  } finally {
    await Promise.all(all.map((c) => c.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

