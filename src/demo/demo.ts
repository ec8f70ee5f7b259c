import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatStatus, formatTable } from '../cli/output.js';
import { loadConfig } from '../config/load.js';
import { redactUrl } from '../config/redact.js';
import { startCluster } from '../embedded/cluster.js';
import { FerryError } from '../errors.js';
import { dropGroups } from '../init/drop.js';
import { createLogger } from '../observe/logger.js';
import { collectStatus } from '../observe/status.js';
import { runGroups } from '../run/run-groups.js';
import { waitForCatchUp } from '../run/wait.js';
import { sourceDatabaseOf } from '../source/source-database.js';
import { startDemoSource, type DemoSourceKind } from './demo-sources.js';
import { formatVerifyReport } from '../verify/verify-output.js';

const say = (text: string) => process.stdout.write(`${text}\n`);

/**
 * `ferry demo`: the whole job on two throwaway servers. A source with data
 * and a live workload, `init`, `run`, status while it runs, then a check
 * that both sides hold the same rows, and everything removed again.
 */
export async function runDemo(options: { seconds: number; source: DemoSourceKind }): Promise<void> {
  const stops: (() => Promise<void>)[] = [];
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-demo-'));
  const log = createLogger('warn');
  try {
    say(`Starting two throwaway servers: a ${options.source === 'mariadb' ? 'MariaDB' : 'PostgreSQL 18'} source and a PostgreSQL 18 target...`);
    const source = await startDemoSource(options.source);
    stops.push(() => source.stop());
    const target = await startCluster({ major: 18 });
    stops.push(() => target.stop());
    await target.query('CREATE DATABASE shop');
    say(`  source ${source.label} ${redactUrl(source.url)}\n  target ${target.url('shop')}`);

    const configPath = path.join(dir, 'ferry.yaml');
    await writeFile(configPath, [
      'source:',
      `  url: ${source.url}`,
      'target:',
      `  url: ${target.url('shop')}`,
      'groups:',
      ...source.groups,
      'observe:',
      '  listen: 127.0.0.1:0           # any free port; ferry run --listen HOST:PORT does the same',
      '  poll_interval_ms: 1000',
      '',
    ].join('\n'));
    const config = await loadConfig(configPath);
    const database = sourceDatabaseOf(config);
    say(`\nConfiguration (${configPath}): two groups, ${source.groupsSaid}.`);

    say(`\n$ ferry init   # checks, ${options.source === 'mariadb' ? 'binlog settings, target tables from the MySQL catalog' : 'slots, publications, target tables'}, initial copy`);
    const summary = await database.init(config, log);
    say(formatTable(['group', 'result', 'tables', 'rows copied', 'start position'],
      summary.map((s) => [s.group, s.action, String(s.tables), String(s.rows), s.position])));

    say(`\n$ ferry run    # streaming both groups while a live workload runs on the source for ${options.seconds} s`);
    const stopFerry = new AbortController();
    const running = runGroups(config, log, stopFerry.signal, {
      onListening: (url) => say(`  dashboard ${url}  (also ${url}metrics, ${url}status, ${url}healthz)`),
    });
    const stopWorkload = new AbortController();
    const workload = source.workload(stopWorkload.signal);
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
    const report = await database.verify(config, { limit: 10, parallel: 2, timeoutSeconds: 60 }, log);
    say(formatVerifyReport(report));

    stopFerry.abort();
    const failed = await running;
    if (failed.length > 0) throw failed[0] as FerryError;
    say(`\n$ ferry status\n${formatStatus(await collectStatus(config))}`);
    say(`\n$ ferry drop   # removes ${options.source === 'mariadb' ? 'the groups' : 'slots, publications'} and the ferry schema; data stays`);
    await dropGroups(config, log);
    if (!report.equal) throw new FerryError('FERRY_DEMO_MISMATCH', 'source and target differ after catch-up');
    say('\nDemo finished: the target is an exact copy of the source.');
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
