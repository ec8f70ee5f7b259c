import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config/load.js';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { initGroups } from '../src/init/init.js';
import { silentLogger } from '../src/observe/logger.js';
import { runGroups } from '../src/run/run-groups.js';
import { timed, waitFor } from './copy-bench.js';
import { ferryConfigText, spawnFerry } from './replicas.js';


/**
 * Peak resident memory of a `ferry run` process (VmHWM) while it applies one
 * source transaction of `rows` rows, and how long that took.
 */
export async function measurePeakRss(rows: number): Promise<{ peakMb: number; seconds: number }> {
  const [source, target] = await Promise.all([startCluster({ major: 18 }), startCluster({ major: 18 })]);
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-rss-'));
  try {
    const schema = 'CREATE TABLE big_tx (id bigint PRIMARY KEY, v text, n numeric, at timestamptz); CREATE TABLE bench_marker (id int PRIMARY KEY);';
    await Promise.all([source.query(schema), target.query(schema)]);
    await target.query('DROP TABLE big_tx, bench_marker');
    const configPath = path.join(dir, 'ferry.yaml');
    await writeFile(configPath, ferryConfigText(source, target, ['big_tx', 'bench_marker']));
    await initGroups(await loadConfig(configPath), silentLogger());
    await source.query(`INSERT INTO big_tx SELECT i, md5(i::text), i * 1.5, now() FROM generate_series(1, ${rows}) i`);
    await source.query('INSERT INTO bench_marker VALUES (1)');
    const child = spawnFerry(['run', '-c', configPath, '--log-format', 'json'], 'ignore');
    const exited = new Promise((r) => child.on('exit', r));
    let peakKb = 0;
    const seconds = await timed(async () => {
      await waitFor(async () => (await target.query('SELECT count(*)::int AS n FROM bench_marker')).rows[0].n === 1, 200);
    });
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
    peakKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    child.kill('SIGTERM');
    await exited;
    const count = (await target.query('SELECT count(*)::int AS n FROM big_tx')).rows[0].n;
    if (count !== rows) throw new Error(`big_tx has ${count} rows on the target, expected ${rows}`);
    return { peakMb: peakKb / 1024, seconds };
  } finally {
    await Promise.all([source.stop(), target.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}

const LAG_SCHEMA = `
  CREATE TABLE accounts (aid int PRIMARY KEY, abalance int NOT NULL);
  CREATE TABLE history (id bigserial PRIMARY KEY, aid int, delta int, mtime timestamptz NOT NULL);`;

/**
 * Replication lag under a steady load: `tps` small transactions a second for
 * `seconds`, replicated by native logical replication and by Ferry at the
 * same time. Each target stamps a history row when it applies it; lag is
 * that stamp minus the source's commit-time stamp, p50 and p99 in ms.
 */
export async function measureLag(tps: number, seconds: number): Promise<{ native: [number, number]; ferry: [number, number] }> {
  const settings = { wal_retrieve_retry_interval: "'100ms'" };
  const [source, nativeTarget, ferryTarget] = await Promise.all([
    startCluster({ major: 18 }), startCluster({ major: 18, settings }), startCluster({ major: 18, settings }),
  ]);
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-lag-'));
  const stop = new AbortController();
  try {
    await source.query(`${LAG_SCHEMA} INSERT INTO accounts SELECT i, 0 FROM generate_series(1, 100000) i;
      CREATE FUNCTION txn(a int, d int) RETURNS void LANGUAGE sql AS $$
        UPDATE accounts SET abalance = abalance + d WHERE aid = a;
        INSERT INTO history (aid, delta, mtime) VALUES (a, d, clock_timestamp()); $$;`);
    const stamp = 'ALTER TABLE history ADD COLUMN applied_at timestamptz DEFAULT clock_timestamp()';
    await nativeTarget.query(`${LAG_SCHEMA} ${stamp}`);
    await source.query('CREATE PUBLICATION native_pub FOR TABLE accounts, history');
    await nativeTarget.query(`CREATE SUBSCRIPTION native_sub CONNECTION '${source.url()}' PUBLICATION native_pub WITH (copy_data = true, binary = true, streaming = parallel)`);
    const configPath = path.join(dir, 'ferry.yaml');
    await writeFile(configPath, ferryConfigText(source, ferryTarget, ['accounts', 'history']));
    const config = await loadConfig(configPath);
    await initGroups(config, silentLogger());
    await ferryTarget.query(stamp);
    await waitFor(async () => (await nativeTarget.query(`SELECT count(*) FILTER (WHERE srsubstate <> 'r')::int AS n FROM pg_subscription_rel`)).rows[0].n === 0);
    const running = runGroups(config, silentLogger(), stop.signal);

    const clients = 4;
    const deadline = Date.now() + seconds * 1000;
    await Promise.all(Array.from({ length: clients }, async (_, c) => {
      const client = new pg.Client({ connectionString: source.url() });
      await client.connect();
      const interval = (clients * 1000) / tps;
      let next = Date.now() + (c * interval) / clients;
      for (let i = 0; Date.now() < deadline; i++) {
        await client.query('SELECT txn($1, $2)', [1 + ((i * 7919 + c * 31) % 100000), (i % 100) - 50]);
        next += interval;
        const wait = next - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      await client.end();
    }));
    const total = (await source.query('SELECT count(*)::int AS n FROM history')).rows[0].n as number;
    const caughtUp = async (cl: Cluster) => (await cl.query('SELECT count(*)::int AS n FROM history')).rows[0].n === total;
    await waitFor(async () => (await caughtUp(nativeTarget)) && (await caughtUp(ferryTarget)));
    const percentiles = async (cl: Cluster): Promise<[number, number]> => {
      const r = (await cl.query(`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99
        FROM (SELECT extract(epoch FROM applied_at - mtime) * 1000 AS ms FROM history) l`)).rows[0];
      return [Number(r.p50), Number(r.p99)];
    };
    const result = { native: await percentiles(nativeTarget), ferry: await percentiles(ferryTarget) };
    console.log(`  ${total.toLocaleString('en')} transactions at ${tps}/s for ${seconds} s`);
    stop.abort();
    await running;
    return result;
  } finally {
    stop.abort();
    await Promise.all([source.stop(), nativeTarget.stop(), ferryTarget.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}
