import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { FerryError } from '../errors.js';
import { pgBinaries } from './binaries.js';

/**
 * A throwaway PostgreSQL server from npm-packaged binaries: its own temp
 * directory, a free port on loopback, `wal_level=logical`, trust auth for the
 * `postgres` superuser. As root it runs as `nobody` (initdb refuses root).
 * Used by `ferry demo`, the tests and the benchmarks alike.
 */
export interface Cluster {
  readonly major: number;
  readonly port: number;
  readonly dataDir: string;
  /** libpq URL for the `postgres` superuser and the given database. */
  url(database?: string): string;
  query(sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult>;
  restart(): Promise<void>;
  /** Kills the server without a shutdown checkpoint (crash). */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  readonly major: number;
  readonly settings?: Readonly<Record<string, string | number>>;
}

/** The user throwaway servers run as when we are root (initdb and mariadbd refuse root). */
export const UNPRIVILEGED = { uid: 65534, gid: 65534 };

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const runAs = process.getuid?.() === 0 ? UNPRIVILEGED : undefined;
  const bins = await pgBinaries(options.major, runAs);
  const base = await mkdtemp(path.join(tmpdir(), `ferry-pg${options.major}-`));
  await chmod(base, 0o755);
  const dataDir = path.join(base, 'data');
  const spawnAs = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C', HOME: base };

  if (runAs) spawnSync('chown', [`${runAs.uid}:${runAs.gid}`, base]);
  const init = spawnSync(bins.bin('initdb'),
    ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-sync', '--locale=C'],
    { ...spawnAs, env, encoding: 'utf8' });
  if (init.status !== 0) {
    await rm(base, { recursive: true, force: true });
    throw new FerryError('FERRY_EMBEDDED_INITDB', `initdb for PostgreSQL ${options.major} failed: ${init.stderr || init.error?.message}`);
  }
  const port = await freePort();
  const settings: Record<string, string | number> = {
    listen_addresses: "'127.0.0.1'",
    port,
    unix_socket_directories: `'${base}'`,
    wal_level: 'logical',
    max_wal_senders: 20,
    max_replication_slots: 20,
    max_connections: 100,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    shared_buffers: "'128MB'",
    max_wal_size: "'2GB'",
    log_min_messages: 'warning',
    ...options.settings,
  };
  const conf = Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n');
  await writeFile(path.join(dataDir, 'postgresql.auto.conf'), `${conf}\n`);
  if (runAs) spawnSync('chown', [`${runAs.uid}:${runAs.gid}`, path.join(dataDir, 'postgresql.auto.conf')]);

  let server: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const child = spawn(bins.bin('postgres'), ['-D', dataDir], { ...spawnAs, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000); });
    server = child;
    await waitReady(port, child, () => stderr);
  };
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const child = server;
    server = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill(signal); });
  };
  await launch();

  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const cluster: Cluster = {
    major: options.major,
    port,
    dataDir,
    url,
    async query(sql, params, database) {
      const client = new pg.Client({ connectionString: url(database) });
      await client.connect();
      try {
        return await client.query(sql, params);
      } finally {
        await client.end();
      }
    },
    async restart() {
      await halt('SIGINT');
      await launch();
    },
    async crash() {
      await halt('SIGKILL');
      // Children of a killed postmaster exit on their own once they notice.
      await new Promise((r) => setTimeout(r, 300));
    },
    async stop() {
      await halt('SIGINT');
      await rm(base, { recursive: true, force: true });
    },
  };
  return cluster;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  await waitAccepting('PostgreSQL', child, stderr, 100, async () => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    client.on('error', () => undefined);
    await client.connect();
    await client.end();
  });
}

/**
 * Waits until `connectOnce` succeeds against an embedded server started as
 * `child`: up to 30 s, failing at once if the server exits; `output` says
 * why it did not start.
 */
export async function waitAccepting(
  server: string, child: ChildProcess, output: () => string, intervalMs: number, connectOnce: () => Promise<void>,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new FerryError('FERRY_EMBEDDED_START', `embedded ${server} exited with code ${child.exitCode}: ${output()}`);
    }
    try {
      await connectOnce();
      return;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new FerryError('FERRY_EMBEDDED_START', `embedded ${server} did not accept connections within 30 s: ${output()}`);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
