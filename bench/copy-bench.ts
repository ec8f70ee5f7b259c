import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { initGroups } from '../src/init/init.js';
import { silentLogger } from '../src/observe/logger.js';
import { withSession } from './session.js';

/** A data set both copies start from, and the schema native replication needs on its target beforehand. */
export interface CopyWorkload {
  readonly name: string;
  readonly description: string;
  /** Run on the source and, for native, on its target (native does not create tables). */
  readonly schema: string;
  /** Fills the source. */
  readonly data: string;
  /** Indexes, created after `schema`; native gets them before its copy, as pg_dump --schema-only would. */
  readonly indexes: string;
  readonly tables: readonly string[];
}

export function bigTable(rows: number): CopyWorkload {
  return {
    name: 'one big table',
    description: `${rows.toLocaleString('en')} rows, 6 columns, primary key + 3 secondary indexes`,
    schema: 'CREATE TABLE big (id bigint PRIMARY KEY, account int NOT NULL, amount numeric(12,2), label text, created timestamptz, flags int[]);',
    data: `INSERT INTO big SELECT i, i % 100000, (i % 100000) / 7.0, 'label ' || md5(i::text), '2024-01-01'::timestamptz + i * interval '1 second', ARRAY[i % 3, i % 5]
             FROM generate_series(1, ${rows}) i`,
    indexes: 'CREATE INDEX big_account ON big (account); CREATE INDEX big_created ON big (created); CREATE INDEX big_label ON big (label);',
    tables: ['big'],
  };
}

export function manySmallTables(count: number, rowsEach: number): CopyWorkload {
  const names = Array.from({ length: count }, (_, i) => `small_${i + 1}`);
  return {
    name: `${count} small tables`,
    description: `${count} tables of ${rowsEach.toLocaleString('en')} rows each`,
    schema: names.map((n) => `CREATE TABLE ${n} (id int PRIMARY KEY, v text, at timestamptz);`).join('\n'),
    data: names.map((n) => `INSERT INTO ${n} SELECT i, md5(i::text), now() FROM generate_series(1, ${rowsEach}) i;`).join('\n'),
    indexes: '',
    tables: names,
  };
}

export interface CopyResult { readonly workload: CopyWorkload; readonly native: number; readonly ferry: number }

/**
 * Native: `CREATE SUBSCRIPTION … WITH (copy_data = true, binary = true)` into
 * a target that already has the tables and indexes, timed until every table
 * is synchronised. Ferry: `ferry init` into an empty target, which creates
 * the tables, copies and builds the indexes.
 */
export async function measureCopy(workload: CopyWorkload): Promise<CopyResult> {
  const settings = { wal_retrieve_retry_interval: "'100ms'", max_worker_processes: 16, max_logical_replication_workers: 8, max_sync_workers_per_subscription: 4 };
  const [source, nativeTarget, ferryTarget] = await Promise.all([
    startCluster({ major: 18 }), startCluster({ major: 18, settings }), startCluster({ major: 18, settings }),
  ]);
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-copy-'));
  try {
    const t0 = Date.now();
    await source.query(`${workload.schema}\n${workload.indexes}`);
    await source.query(workload.data);
    await source.query('VACUUM ANALYZE');
    const size = (await source.query(`SELECT pg_size_pretty(sum(pg_table_size(c.oid))) AS s FROM pg_class c WHERE relname = ANY($1)`, [workload.tables])).rows[0].s;
    console.log(`  source filled in ${((Date.now() - t0) / 1000).toFixed(1)} s (${size} of table data)`);

    await nativeTarget.query(`${workload.schema}\n${workload.indexes}`);
    await source.query(`CREATE PUBLICATION native_pub FOR TABLE ${workload.tables.join(', ')}`);
    const native = await timed(async () => {
      await nativeTarget.query(`CREATE SUBSCRIPTION native_sub CONNECTION '${source.url()}' PUBLICATION native_pub WITH (copy_data = true, binary = true)`);
      await withSession(nativeTarget, (session) => waitFor(async () =>
        (await session.query(`SELECT count(*) FILTER (WHERE srsubstate NOT IN ('r', 's'))::int AS pending FROM pg_subscription_rel`)).rows[0].pending === 0));
    });
    console.log(`  native copy_data: ${native.toFixed(2)} s`);
    await nativeTarget.query('ALTER SUBSCRIPTION native_sub DISABLE');

    const configPath = path.join(dir, 'ferry.yaml');
    await writeFile(configPath, `source:\n  url: ${source.url()}\ntarget:\n  url: ${ferryTarget.url()}\ngroups:\n  - name: bench\n    tables: [${workload.tables.map((t) => `public.${t}`).join(', ')}]\n`);
    const config = await loadConfig(configPath);
    const ferry = await timed(async () => { await initGroups(config, silentLogger()); });
    console.log(`  ferry init: ${ferry.toFixed(2)} s`);

    for (const table of workload.tables) {
      const [a, b, c] = await Promise.all([source, nativeTarget, ferryTarget].map((cl) => fingerprint(cl, table)));
      if (a !== b || a !== c) throw new Error(`${table} differs after the copy: source ${a}, native ${b}, ferry ${c}`);
    }
    const indexes = async (cl: Cluster) => (await cl.query(`SELECT count(*)::int AS n FROM pg_indexes WHERE tablename = ANY($1)`, [workload.tables])).rows[0].n as number;
    const [srcIdx, ferryIdx] = await Promise.all([indexes(source), indexes(ferryTarget)]);
    console.log(`  all copies equal the source; indexes: source ${srcIdx}, ferry target ${ferryIdx}`);
    return { workload, native, ferry };
  } finally {
    await Promise.all([source.stop(), nativeTarget.stop(), ferryTarget.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}

export async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function waitFor(check: () => Promise<boolean>, intervalMs = 100, timeoutMs = 1_800_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('benchmark timed out');
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function fingerprint(cluster: Cluster, table: string): Promise<string> {
  const res = await cluster.query(`SELECT count(*) || ':' || coalesce(md5(string_agg(md5(t::text), '' ORDER BY t::text)), '') AS f FROM ${table} t`);
  return res.rows[0].f;
}
