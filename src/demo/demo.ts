import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatStatus, formatTable } from '../cli/output.js';
import { loadConfig } from '../config/load.js';
import { startCluster, type Cluster } from '../embedded/cluster.js';
import { FerryError } from '../errors.js';
import { dropGroups } from '../init/drop.js';
import { initGroups } from '../init/init.js';
import { createLogger } from '../observe/logger.js';
import { collectStatus } from '../observe/status.js';
import { runGroups } from '../run/run-groups.js';
import { waitForCatchUp } from '../run/wait.js';
import { DEMO_SCHEMA, runWorkload } from './demo-workload.js';
import { verify } from '../verify/verify.js';
import { formatVerifyReport } from '../verify/verify-output.js';

const say = (text: string) => process.stdout.write(`${text}\n`);

/**
 * `ferry demo`: the whole job on two throwaway servers. A source with data
 * and a live workload, `init`, `run`, status while it runs, then a check
 * that both sides hold the same rows, and everything removed again.
 */
export async function runDemo(options: { seconds: number }): Promise<void> {
  const clusters: Cluster[] = [];
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-demo-'));
  const log = createLogger('warn');
  try {
    say('Starting two throwaway PostgreSQL 18 servers (source and target)...');
    // A limit on what a slot may retain, as a production source should have: the dashboard shows the slot against it.
    const source = await startCluster({ major: 18, settings: { max_slot_wal_keep_size: "'1GB'" } });
    clusters.push(source);
    const target = await startCluster({ major: 18 });
    clusters.push(target);
    await source.query('CREATE DATABASE shop');
    await target.query('CREATE DATABASE shop');
    await source.query(DEMO_SCHEMA, [], 'shop');
    say(`  source ${source.url('shop')}\n  target ${target.url('shop')}`);

    const configPath = path.join(dir, 'ferry.yaml');
    await writeFile(configPath, [
      'source:',
      `  url: ${source.url('shop')}`,
      'target:',
      `  url: ${target.url('shop')}`,
      'groups:',
      '  - name: sales',
      '    tables: [public.accounts, public.orders]',
      '  - name: catalog',
      '    tables: [public.products]',
      'observe:',
      '  listen: 127.0.0.1:0           # any free port; ferry run --listen HOST:PORT does the same',
      '  poll_interval_ms: 1000',
      '',
    ].join('\n'));
    const config = await loadConfig(configPath);
    say(`\nConfiguration (${configPath}): two groups, sales (accounts, orders) and catalog (products).`);

    say('\n$ ferry init   # checks, slots, publications, target tables, initial copy');
    const summary = await initGroups(config, log);
    say(formatTable(['group', 'result', 'tables', 'rows copied', 'start position'],
      summary.map((s) => [s.group, s.action, String(s.tables), String(s.rows), s.position])));

    say(`\n$ ferry run    # streaming both groups while a live workload runs on the source for ${options.seconds} s`);
    const stopFerry = new AbortController();
    const running = runGroups(config, log, stopFerry.signal, {
      onListening: (url) => say(`  dashboard ${url}  (also ${url}metrics, ${url}status, ${url}healthz)`),
    });
    const stopWorkload = new AbortController();
    const workload = runWorkload(source.url('shop'), stopWorkload.signal);
    const deadline = Date.now() + options.seconds * 1000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(3000, Math.max(0, deadline - Date.now()))));
      say(`\n$ ferry status\n${formatStatus(await collectStatus(config))}`);
    }
    stopWorkload.abort();
    const transactions = await workload;
    say(`\nWorkload stopped after ${transactions} transactions.\n\n$ ferry wait`);
    const position = await waitForCatchUp(config, 60);
    say(`all groups have applied the source up to ${position}`);

    say('\n$ ferry verify   # while both groups are still being applied');
    const report = await verify(config, { limit: 10, parallel: 2, timeoutSeconds: 60 }, log);
    say(formatVerifyReport(report));

    stopFerry.abort();
    const failed = await running;
    if (failed.length > 0) throw failed[0] as FerryError;
    say(`\n$ ferry status\n${formatStatus(await collectStatus(config))}`);
    say('\n$ ferry drop   # removes slots, publications and the ferry schema; data stays');
    await dropGroups(config, log);
    if (!report.equal) throw new FerryError('FERRY_DEMO_MISMATCH', 'source and target differ after catch-up');
    say('\nDemo finished: the target is an exact copy of the source.');
  } finally {
    for (const c of clusters.reverse()) await c.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
