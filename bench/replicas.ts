import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FerryConfig } from '../src/config/schema.js';
import type { Cluster } from '../src/embedded/cluster.js';
import { silentLogger } from '../src/observe/logger.js';
import { runGroups } from '../src/run/run-groups.js';
import { timed, waitFor } from './copy-bench.js';
import { cpuSeconds, ownCpuSeconds, watchCpu } from './process-cpu.js';
import { withSession } from './session.js';

/**
 * The two replicas every catch-up benchmark compares, set up the same way
 * each time: native logical replication with its best settings, and Ferry.
 */

/** A native subscriber's best settings: workers to spare, and no 5 s idle before a re-enabled subscription starts. */
export const NATIVE_TARGET_SETTINGS = { wal_retrieve_retry_interval: "'100ms'", max_worker_processes: 16, max_logical_replication_workers: 8 };

/** A Ferry configuration file's text: one group (`bench` unless named) of `tables` in schema public. */
export function ferryConfigText(source: Cluster, target: Cluster, tables: readonly string[], capture: 'wal' | 'trigger' = 'wal', group = 'bench'): string {
  return `source:\n  url: ${source.url()}\n  capture: ${capture}\ntarget:\n  url: ${target.url()}\n` +
    `groups:\n  - name: ${group}\n    tables: [${tables.map((t) => `public.${t}`).join(', ')}]\nlog:\n  level: warn\n`;
}

/**
 * A native subscription to `tables` (binary transfer, parallel streaming),
 * started once and then disabled, so that a backlog piles up in its slot.
 */
export async function pausedSubscription(source: Cluster, nativeTarget: Cluster, tables: readonly string[]): Promise<void> {
  await source.query(`CREATE PUBLICATION native_pub FOR TABLE ${tables.join(', ')}`);
  await nativeTarget.query(`CREATE SUBSCRIPTION native_sub CONNECTION '${source.url()}' PUBLICATION native_pub
    WITH (copy_data = false, binary = true, streaming = parallel)`);
  await waitFor(async () => (await nativeTarget.query(`SELECT count(*)::int AS n FROM pg_stat_subscription WHERE subname = 'native_sub' AND pid IS NOT NULL`)).rows[0].n > 0);
  await nativeTarget.query('ALTER SUBSCRIPTION native_sub DISABLE');
  await waitFor(async () => (await source.query(`SELECT NOT active AS idle FROM pg_replication_slots WHERE slot_name = 'native_sub'`)).rows[0]?.idle === true);
}

/** A catch-up's wall time, and the CPU seconds of each process that took part in it. */
export interface CatchUp {
  readonly seconds: number;
  readonly cpu: ReadonlyMap<string, number>;
  /** From the start until the first rows were on the target, where measured. */
  readonly firstRowSeconds?: number;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The built command line (`npm run bench` builds first). */
export const FERRY = path.join(ROOT, 'dist/cli/main.js');

/** The built command line, started the way users start it: as an executable (its first line names Node). */
export function spawnFerry(args: readonly string[], stdio: StdioOptions): ChildProcess {
  return spawn(FERRY, args, { stdio });
}

/** From enabling the paused subscription until the target has the marker row; disabled again afterwards. */
export async function timeNative(source: Cluster, nativeTarget: Cluster): Promise<CatchUp> {
  const watch = watchCpu([
    { role: 'walsender', cluster: source, pids: `SELECT pid FROM pg_stat_replication WHERE application_name = 'native_sub'` },
    { role: 'apply', cluster: nativeTarget, pids: `SELECT pid FROM pg_stat_subscription WHERE subname = 'native_sub' AND pid IS NOT NULL` },
  ]);
  const seconds = await timed(async () => {
    await nativeTarget.query('ALTER SUBSCRIPTION native_sub ENABLE');
    await waitForMarker(nativeTarget);
  });
  const cpu = await watch.stop();
  await nativeTarget.query('ALTER SUBSCRIPTION native_sub DISABLE');
  return { seconds, cpu };
}

/** The CPU of Ferry's walsender on the source and its backends on the target. */
function watchFerry(source: Cluster, target: Cluster): ReturnType<typeof watchCpu> {
  return watchCpu([
    { role: 'walsender', cluster: source, pids: `SELECT pid FROM pg_stat_replication WHERE application_name LIKE 'ferry:%'` },
    { role: 'apply', cluster: target, pids: `SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'ferry:%'` },
  ]);
}

/** From starting `ferry run` (in this process) until the target has the marker row. */
export async function timeFerry(config: FerryConfig, source: Cluster, target: Cluster): Promise<CatchUp> {
  const stop = new AbortController();
  let running: Promise<unknown> | undefined;
  const watch = watchFerry(source, target);
  const since = process.cpuUsage();
  const seconds = await timed(async () => {
    running = runGroups(config, silentLogger(), stop.signal);
    await waitForMarker(target);
  });
  const own = ownCpuSeconds(since);
  const cpu = new Map([...(await watch.stop()), ['ferry', own]]);
  stop.abort();
  const errors = (await running) as unknown[];
  if (errors.length > 0) throw errors[0];
  return { seconds, cpu };
}

/**
 * From starting `ferry run` as its own process, the way users run it (the
 * built command line), until the target has the marker row; also when the
 * first rows of `firstTable` (if given: empty before) arrived. The process's CPU
 * includes its start: loading modules, connecting, reading the catalog.
 */
export async function timeFerryProcess(configPath: string, source: Cluster, target: Cluster, firstTable?: string): Promise<CatchUp> {
  const watch = watchFerry(source, target);
  const started = process.hrtime.bigint();
  const child = spawnFerry(['run', '-c', configPath], ['ignore', 'ignore', 'inherit']);
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const since = () => Number(process.hrtime.bigint() - started) / 1e9;
  let firstRowSeconds: number | undefined;
  let seconds = 0;
  let ferryCpu = 0;
  try {
    await withSession(target, async (session) => {
      await waitFor(async () => {
        ferryCpu = cpuSeconds(child.pid as number) ?? ferryCpu;
        if (child.exitCode !== null) throw new Error(`ferry run exited with code ${child.exitCode} before catching up`);
        if (firstTable && firstRowSeconds === undefined) {
          if (!(await session.query(`SELECT EXISTS (SELECT 1 FROM ${firstTable}) AS any`)).rows[0].any) return false;
          firstRowSeconds = since();
        }
        if ((await session.query('SELECT count(*)::int AS n FROM bench_marker')).rows[0].n !== 1) return false;
        seconds = since();
        return true;
      }, 20);
    });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  const cpu = new Map([...(await watch.stop()), ['ferry', ferryCpu]]);
  return { seconds, cpu, firstRowSeconds };
}

/** The row committed on the source after the backlog. */
export async function waitForMarker(target: Cluster): Promise<void> {
  await withSession(target, (session) => waitFor(async () => (await session.query('SELECT count(*)::int AS n FROM bench_marker')).rows[0].n === 1, 20));
}
