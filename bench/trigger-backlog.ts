import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { startCluster } from '../src/embedded/cluster.js';
import { initGroups } from '../src/init/init.js';
import { silentLogger } from '../src/observe/logger.js';
import { fingerprint, timed } from './copy-bench.js';
import { ferryConfigText, spawnFerry } from './replicas.js';
import { tpcbBacklog } from './workloads.js';


export interface BacklogResult {
  readonly events: number;
  readonly backlogSeconds: number;
  /** From starting `ferry run` until the target shows the backlog's first rows. */
  readonly firstRowSeconds: number;
  readonly totalSeconds: number;
  readonly peakMb: number;
  /** Target commits inside the backlog's batch that the polling saw (a lower bound of the parts). */
  readonly partsSeen: number;
}

/**
 * `npm run bench -- trigger-backlog`: an outage with trigger capture. A
 * TPC-B-like backlog is queued while `ferry run` is stopped (no ticks: it
 * becomes one batch), then `ferry run` starts. Measured: the time until the
 * target shows the first rows, the time until it holds everything, and the
 * peak resident memory (VmHWM) of the `ferry run` process.
 */
export async function measureTriggerBacklog(transactions: number): Promise<BacklogResult> {
  // The procedure's arithmetic is int4: past about 270,000 transactions a call, it is called again.
  const calls = Math.ceil(transactions / 200_000);
  const workload = tpcbBacklog(Math.ceil(transactions / calls));
  const call = workload.backlog[workload.backlog.length - 1] as string;
  const events = 100_011 + 4 * calls * Math.ceil(transactions / calls);
  const [source, target] = await Promise.all([
    startCluster({ major: 18, settings: { wal_level: 'replica' } }),
    startCluster({ major: 18 }),
  ]);
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-backlog-'));
  try {
    await source.query(`${workload.schema} CREATE TABLE bench_marker (id int PRIMARY KEY);`);
    const tables = [...workload.tables, 'bench_marker'];
    const configPath = path.join(dir, 'ferry.yaml');
    await writeFile(configPath, ferryConfigText(source, target, tables, 'trigger'));
    await initGroups(await loadConfig(configPath), silentLogger());
    const backlogSeconds = await timed(async () => {
      for (const statement of workload.backlog) await source.query(statement);
      for (let i = 1; i < calls; i++) await source.query(call);
      await source.query('INSERT INTO bench_marker VALUES (1)');
    });
    console.log(`  backlog of ${events.toLocaleString('en')} events queued in ${backlogSeconds.toFixed(1)} s`);

    const t0 = process.hrtime.bigint();
    const since = () => Number(process.hrtime.bigint() - t0) / 1e9;
    const child = spawnFerry(['run', '-c', configPath, '--log-format', 'json'], 'ignore');
    const exited = new Promise((r) => child.on('exit', r));
    let firstRowSeconds = 0;
    let peakKb = 0;
    const parts = new Set<string>();
    try {
      for (;;) {
        const row = (await target.query(`SELECT EXISTS (SELECT FROM ferry.groups WHERE rows_applied > 0) AS applied,
                                                EXISTS (SELECT FROM bench_marker) AS done,
                                                (SELECT part_events::text FROM ferry.groups) AS part`).catch(() => ({ rows: [] }))).rows[0];
        const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
        peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
        if (row?.part) parts.add(row.part as string);
        if (row?.applied && firstRowSeconds === 0) firstRowSeconds = since();
        if (row?.done) break;
        if (since() > 1800) throw new Error('benchmark timed out');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const totalSeconds = since();
    for (const table of workload.tables) {
      const [a, b] = await Promise.all([source, target].map((c) => fingerprint(c, table)));
      if (a !== b) throw new Error(`${table} differs after catch-up: source ${a}, target ${b}`);
    }
    return { events, backlogSeconds, firstRowSeconds, totalSeconds, peakMb: peakKb / 1024, partsSeen: parts.size };
  } finally {
    await Promise.all([source.stop(), target.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}
