import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { formatTable } from '../src/cli/output.js';
import { loadConfig } from '../src/config/load.js';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { initGroups } from '../src/init/init.js';
import { silentLogger } from '../src/observe/logger.js';
import { runGroups } from '../src/run/run-groups.js';
import { parseFence } from '../src/switchover/fence.js';
import type { SwitchoverReport } from '../src/switchover/report.js';
import { switchover } from '../src/switchover/switchover.js';

const SMALL_TABLES = 50;

/** pgbench's tables (scale 1) and 50 small tables, with a function for one TPC-B-like transaction; `app` writes. */
const SCHEMA = `
  CREATE ROLE app LOGIN;
  CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88));
  CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84));
  CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
  CREATE TABLE pgbench_history (id bigserial PRIMARY KEY, tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
  ${Array.from({ length: SMALL_TABLES }, (_, i) => `CREATE TABLE small_${i} (id int PRIMARY KEY, v int);`).join('\n')}
  CREATE FUNCTION tpcb(p_aid int, p_tid int, p_delta int) RETURNS void LANGUAGE sql AS $$
    UPDATE pgbench_accounts SET abalance = abalance + p_delta WHERE aid = p_aid;
    UPDATE pgbench_tellers SET tbalance = tbalance + p_delta WHERE tid = p_tid;
    UPDATE pgbench_branches SET bbalance = bbalance + p_delta WHERE bid = 1;
    INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (p_tid, 1, p_aid, p_delta, now());
  $$;
  GRANT ALL ON ALL TABLES IN SCHEMA public TO app;
  GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app;`;

const SEED = `
  INSERT INTO pgbench_branches VALUES (1, 0, '');
  INSERT INTO pgbench_tellers SELECT i, 1, 0, '' FROM generate_series(1, 10) i;
  INSERT INTO pgbench_accounts SELECT i, 1, 0, '' FROM generate_series(1, 100000) i;
  ${Array.from({ length: SMALL_TABLES }, (_, i) => `INSERT INTO small_${i} SELECT g, 0 FROM generate_series(1, 100) g;`).join('\n')}`;

/**
 * A steady load of `tps` transactions a second as role `app`, over 4
 * sessions: half TPC-B-like transactions, half an update of a small table.
 * A session ends when the fence ends it.
 */
function load(url: string, tps: number): { stop: () => Promise<number> } {
  let stopped = false;
  const perSession = tps / 4;
  const sessions = Array.from({ length: 4 }, async (_, s) => {
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => undefined);
    await client.connect();
    let n = 0;
    const start = Date.now();
    try {
      while (!stopped) {
        const due = start + (n * 1000) / perSession;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        const i = n * 4 + s;
        if (i % 2 === 0) await client.query('SELECT tpcb($1, $2, $3)', [1 + ((i * 7919) % 100000), 1 + (i % 10), (i % 10001) - 5000]);
        else await client.query(`UPDATE small_${i % SMALL_TABLES} SET v = v + 1 WHERE id = $1`, [1 + (i % 100)]);
        n++;
      }
    } catch {
      // Fenced.
    } finally {
      await client.end().catch(() => undefined);
    }
    return n;
  });
  return {
    stop: async () => {
      stopped = true;
      return (await Promise.all(sessions)).reduce((a, b) => a + b, 0);
    },
  };
}

function configText(source: Cluster, target: Cluster): string {
  return `source:\n  url: ${source.url('app')}\ntarget:\n  url: ${target.url('app')}\ngroups:
  - name: bank\n    tables: [public.pgbench_*]\n  - name: small\n    tables: [public.small_*]\n`;
}

async function measure(configPath: string, writerUrl: string, tps: number, verify: boolean): Promise<SwitchoverReport> {
  const config = await loadConfig(configPath);
  const controller = new AbortController();
  const running = runGroups(config, silentLogger(), controller.signal);
  const writers = load(writerUrl, tps);
  try {
    // Let the load and the stream settle into a steady state first.
    await new Promise((r) => setTimeout(r, 8000));
    const report = await switchover(config, {
      configPath, fence: parseFence('roles:app'), reverse: true, verify, timeoutSeconds: 120, maxLagSeconds: 60, quietMs: 1000,
      confirm: async () => true,
    }, silentLogger());
    const transactions = await writers.stop();
    console.log(`  ${transactions.toLocaleString('en')} transactions written before the fence`);
    return report;
  } finally {
    await writers.stop();
    controller.abort();
    await running;
  }
}

function printTimeline(title: string, report: SwitchoverReport): void {
  console.log(`\n${title}`);
  console.log(formatTable(['step', 'seconds', 'detail'], report.steps.map((s) => [s.step, s.seconds.toFixed(2), s.detail ?? ''])));
  console.log(`  write-unavailable (fence to target ready): ${report.writeUnavailableSeconds.toFixed(2)} s`);
}

/**
 * `npm run bench -- switchover`: pgbench's tables and 50 small tables under
 * a steady 1,000 transactions/s. The first switchover (source → target)
 * verifies, and starts the reverse stream; the load then moves to the new
 * primary and the switchover back runs without verify. Each prints its
 * timeline and the write-unavailable time.
 */
export async function switchoverBench(quick: boolean): Promise<void> {
  const tps = quick ? 500 : 1000;
  console.log(`\nswitchover: pgbench tables (scale 1) + ${SMALL_TABLES} small tables, ${tps} transactions/s, fence roles:app`);
  const [a, b] = await Promise.all([startCluster({ major: 18 }), startCluster({ major: 18 })]);
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-'));
  try {
    await Promise.all([a, b].map(async (c) => {
      await c.query('CREATE DATABASE app');
      await c.query(SCHEMA, undefined, 'app');
    }));
    await a.query(SEED, undefined, 'app');
    const forward = path.join(dir, 'ferry.yaml');
    await writeFile(forward, configText(a, b));
    await initGroups(await loadConfig(forward), silentLogger());

    const withVerify = await measure(forward, `postgres://app@127.0.0.1:${a.port}/app`, tps, true);
    printTimeline('with verify (source → target, --reverse)', withVerify);
    const back = withVerify.reverse?.config as string;
    const withoutVerify = await measure(back, `postgres://app@127.0.0.1:${b.port}/app`, tps, false);
    printTimeline('without verify (back again, --no-verify, --reverse)', withoutVerify);
    console.log(`\n${formatTable(['switchover', 'write-unavailable s', 'goal s'], [
      ['with verify', withVerify.writeUnavailableSeconds.toFixed(2), '< 10'],
      ['without verify', withoutVerify.writeUnavailableSeconds.toFixed(2), '< 3'],
    ])}`);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}
