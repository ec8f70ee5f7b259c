import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatTable } from '../src/cli/output.js';
import { loadConfig } from '../src/config/load.js';
import type { FerryConfig } from '../src/config/schema.js';
import { startCluster } from '../src/embedded/cluster.js';
import { initGroups } from '../src/init/init.js';
import { silentLogger } from '../src/observe/logger.js';
import { ferryConfigText, NATIVE_TARGET_SETTINGS, timeFerry, type CatchUp } from './replicas.js';
import type { Workload } from './workloads.js';

const ROUNDS: readonly ('text' | 'binary')[] = ['text', 'binary', 'text', 'binary'];

/**
 * `npm run bench -- transfer`: Ferry against itself, values in text and in
 * binary, on the same backlog in the same run. Each round has its own group,
 * slot and target; rounds alternate, so a machine that slows down meanwhile
 * weighs on both.
 */
export async function transferBench(workloads: readonly Workload[]): Promise<void> {
  const rows: string[][] = [];
  for (const workload of workloads) {
    console.log(`\ntransfer, ${workload.name}: ${workload.description}`);
    const rounds = await alternate(workload);
    for (const [i, run] of rounds.entries()) {
      const cpu = (role: string) => run.cpu.get(role)?.toFixed(2) ?? '';
      rows.push([workload.name, ROUNDS[i] as string, run.seconds.toFixed(2), cpu('walsender'), cpu('ferry'), cpu('apply')]);
    }
  }
  console.log(`\n${formatTable(['catch-up', 'values', 'wall s', 'source walsender s', 'ferry process s', 'target apply s'], rows)}`);
}

async function alternate(workload: Workload): Promise<CatchUp[]> {
  const source = await startCluster({ major: 18, settings: { synchronous_commit: 'on' } });
  const targets = await Promise.all(ROUNDS.map(() => startCluster({ major: 18, settings: NATIVE_TARGET_SETTINGS })));
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-transfer-'));
  try {
    const schema = `${workload.schema} CREATE TABLE bench_marker (id int PRIMARY KEY);`;
    await Promise.all([source, ...targets].map((c) => c.query(schema)));
    const tables = [...workload.tables, 'bench_marker'];
    const configs: FerryConfig[] = [];
    for (const [i, values] of ROUNDS.entries()) {
      const file = path.join(dir, `round-${i}.yaml`);
      const text = ferryConfigText(source, targets[i] as (typeof targets)[number], tables, 'wal', `bench_${i}`);
      await writeFile(file, `${text}apply:\n  binary_transfer: ${values === 'binary'}\n`);
      const config = await loadConfig(file);
      await initGroups(config, silentLogger());
      configs.push(config);
    }
    for (const statement of workload.backlog) await source.query(statement);
    await source.query('INSERT INTO bench_marker VALUES (1)');
    const runs: CatchUp[] = [];
    for (const [i, config] of configs.entries()) {
      const run = await timeFerry(config, source, targets[i] as (typeof targets)[number]);
      console.log(`  ${ROUNDS[i]}: ${run.seconds.toFixed(2)} s`);
      runs.push(run);
    }
    return runs;
  } finally {
    await Promise.all([source.stop(), ...targets.map((t) => t.stop())]);
    await rm(dir, { recursive: true, force: true });
  }
}
