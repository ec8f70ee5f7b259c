import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatTable } from '../src/cli/output.js';
import { loadConfig } from '../src/config/load.js';
import type { FerryConfig } from '../src/config/schema.js';
import { startCluster } from '../src/embedded/cluster.js';
import { initGroups } from '../src/init/init.js';
import { silentLogger } from '../src/observe/logger.js';
import { runGroups } from '../src/run/run-groups.js';
import { ferryConfigText, NATIVE_TARGET_SETTINGS, timeFerry, type CatchUp } from './replicas.js';
import type { Workload } from './workloads.js';

/** Eight of each, alternating: rounds of one setting vary far more than the endpoint costs, and medians need numbers. */
const ROUNDS: readonly ('off' | 'on')[] = Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? 'off' : 'on'));
/** A scraper far keener than Prometheus' usual 15 s, plus the dashboard open: an upper bound on the endpoint's cost. */
const SCRAPE_MS = 1_000;
const DASHBOARD_MS = 2_000;

/**
 * `npm run bench -- listen`: Ferry against itself, with the HTTP endpoint
 * (observe.listen) off and on, on the same backlog in the same run. With it
 * on, /metrics is scraped every second and the dashboard's data fetched every
 * two seconds while the group catches up. Each round has its own group, slot
 * and target; rounds alternate, so a machine that slows down meanwhile weighs
 * on both. The result is the catch-up speed with the endpoint on relative to
 * off, in wall time and in the CPU the ferry process used (where the
 * endpoint's cost lands, and less at the mercy of other load on the machine).
 */
export async function listenBench(workloads: readonly Workload[]): Promise<void> {
  const rows: string[][] = [];
  for (const workload of workloads) {
    console.log(`\nendpoint overhead, ${workload.name}: ${workload.description}`);
    const rounds = await alternate(workload);
    // Medians: on a shared machine one slow round says more about the neighbours than about the endpoint.
    const median = (which: 'off' | 'on', value: (r: CatchUp) => number) => {
      const s = rounds.filter((_, i) => ROUNDS[i] === which).map((r) => value(r.run)).sort((a, b) => a - b);
      return s.length % 2 === 1 ? s[(s.length - 1) / 2] as number : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
    };
    const wall = (r: CatchUp) => r.seconds;
    const cpu = (r: CatchUp) => r.cpu.get('ferry') ?? 0;
    for (const [i, r] of rounds.entries()) rows.push([workload.name, ROUNDS[i] as string, r.run.seconds.toFixed(2), cpu(r.run).toFixed(2), String(r.scrapes)]);
    rows.push([workload.name, 'median off', median('off', wall).toFixed(2), median('off', cpu).toFixed(2), '']);
    rows.push([workload.name, 'median on', median('on', wall).toFixed(2), median('on', cpu).toFixed(2), '']);
    rows.push([workload.name, 'speed on/off', `${(median('off', wall) / median('on', wall)).toFixed(3)}×`, `${(median('off', cpu) / median('on', cpu)).toFixed(3)}×`, '']);
  }
  console.log(`\n${formatTable(['catch-up', 'endpoint', 'wall s', 'ferry process CPU s', 'responses'], rows)}`);
  const cost = await endpointCpu();
  console.log(`\nthe endpoint's own CPU, ferry run idle: ${cost.idleMs.toFixed(1)} ms/s without requests, ${cost.busyMs.toFixed(1)} ms/s `
    + `with /metrics every second and the dashboard's data every two: ${((cost.busyMs - cost.idleMs) / 10).toFixed(2)}% of one core`);
}

/**
 * Wall time on a shared machine varies by more than the endpoint can cost, so
 * its cost is also measured directly: the process's CPU over 20 s of an idle
 * `ferry run`, without and then with the requests (each one reading the
 * status afresh, as scrapes a second apart do). The bench's own fetches run
 * in the same process and count too: an upper bound.
 */
async function endpointCpu(): Promise<{ idleMs: number; busyMs: number }> {
  const source = await startCluster({ major: 18 });
  const target = await startCluster({ major: 18 });
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-listen-cpu-'));
  const stop = new AbortController();
  let running: Promise<unknown> | undefined;
  try {
    await Promise.all([source, target].map((c) => c.query('CREATE TABLE t (id int PRIMARY KEY)')));
    const port = await freePort();
    const file = path.join(dir, 'ferry.yaml');
    await writeFile(file, `${ferryConfigText(source, target, ['t'])}observe:\n  listen: 127.0.0.1:${port}\n`);
    const config = await loadConfig(file);
    await initGroups(config, silentLogger());
    running = runGroups(config, silentLogger(), stop.signal);
    const measure = async (requests: boolean) => {
      const since = process.cpuUsage();
      const started = Date.now();
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 1_000));
        if (requests) {
          await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          if (i % 2 === 0) await (await fetch(`http://127.0.0.1:${port}/api/dashboard`)).text();
        }
      }
      const used = process.cpuUsage(since);
      return (used.user + used.system) / 1000 / ((Date.now() - started) / 1000);
    };
    await measure(false);
    return { idleMs: await measure(false), busyMs: await measure(true) };
  } finally {
    stop.abort();
    await running;
    await Promise.all([source.stop(), target.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}

async function alternate(workload: Workload): Promise<{ run: CatchUp; scrapes: number }[]> {
  const source = await startCluster({ major: 18, settings: { synchronous_commit: 'on' } });
  const targets = await Promise.all(ROUNDS.map(() => startCluster({ major: 18, settings: NATIVE_TARGET_SETTINGS })));
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-listen-'));
  try {
    const schema = `${workload.schema} CREATE TABLE bench_marker (id int PRIMARY KEY);`;
    await Promise.all([source, ...targets].map((c) => c.query(schema)));
    const tables = [...workload.tables, 'bench_marker'];
    const configs: { config: FerryConfig; port?: number }[] = [];
    for (const [i, endpoint] of ROUNDS.entries()) {
      const file = path.join(dir, `round-${i}.yaml`);
      const port = endpoint === 'on' ? await freePort() : undefined;
      const text = ferryConfigText(source, targets[i] as (typeof targets)[number], tables, 'wal', `bench_${i}`);
      await writeFile(file, `${text}${port === undefined ? '' : `observe:\n  listen: 127.0.0.1:${port}\n`}`);
      const config = await loadConfig(file);
      await initGroups(config, silentLogger());
      configs.push({ config, ...(port === undefined ? {} : { port }) });
    }
    for (const statement of workload.backlog) await source.query(statement);
    await source.query('INSERT INTO bench_marker VALUES (1)');
    const runs: { run: CatchUp; scrapes: number }[] = [];
    for (const [i, { config, port }] of configs.entries()) {
      const stop = new AbortController();
      const scraping = port === undefined ? Promise.resolve(0) : scrape(port, stop.signal);
      const run = await timeFerry(config, source, targets[i] as (typeof targets)[number]);
      stop.abort();
      const scrapes = await scraping;
      console.log(`  endpoint ${ROUNDS[i]}: ${run.seconds.toFixed(2)} s${port === undefined ? '' : `, ${scrapes} responses`}`);
      runs.push({ run, scrapes });
    }
    return runs;
  } finally {
    await Promise.all([source.stop(), ...targets.map((t) => t.stop())]);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Fetches /metrics and the dashboard's data on their intervals until `signal` aborts; returns how many answered. */
async function scrape(port: number, signal: AbortSignal): Promise<number> {
  let answered = 0;
  const loop = async (pathname: string, ms: number) => {
    while (!signal.aborted) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}${pathname}`);
        await res.text();
        answered++;
      } catch {
        // Not listening yet (the run starts a moment after the clock does).
      }
      await new Promise<void>((resolve) => {
        const onAbort = () => { clearTimeout(t); resolve(); };
        const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  };
  await Promise.all([loop('/metrics', SCRAPE_MS), loop('/api/dashboard', DASHBOARD_MS)]);
  return answered;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
