import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { FerryError } from '../errors.js';
import { freePort, UNPRIVILEGED, waitAccepting } from './cluster.js';

/**
 * A throwaway MariaDB server from the system's packages (Debian's
 * `mariadb-server-core`): its own temp directory, a free port on loopback,
 * row-based binary logging with full row images and full row metadata, GTID
 * strict mode. `root` has no password (TCP from loopback); `replicationUser`
 * has the privileges a binlog reader needs and no others. As root the server
 * runs as the same unprivileged user the PostgreSQL servers run as
 * (mariadbd refuses to run as root).
 *
 * Start-up is kept short because tests start it: no name resolution, a small
 * buffer pool and redo log, and no syncing to disk (a crash of the machine
 * may lose the server, which is thrown away anyway).
 */
export interface MariaDb {
  readonly port: number;
  readonly dataDir: string;
  /** `SELECT VERSION()`. */
  readonly version: string;
  readonly replicationUser: { readonly user: string; readonly password: string };
  /** `mysql://` URL for `root`, or for the replication user, and the given database. */
  url(database?: string, as?: 'root' | 'replication'): string;
  /** Runs statements as root on a fresh connection (several statements may be separated by `;`). */
  query<T = unknown>(sql: string, params?: unknown[], database?: string): Promise<T>;
  /** Stops the server cleanly and starts it again on the same port and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface MariaDbOptions {
  /** Extra server options, `name` → value (`--name=value`). */
  readonly settings?: Readonly<Record<string, string | number>>;
}

const SERVER = '/usr/sbin/mariadbd';
/** Where Debian's packages put them. */
const INSTALL_DB = '/usr/bin/mariadb-install-db';
const REPLICATION_USER = { user: 'ferry_repl', password: 'ferry_repl' };

/** Options both the bootstrap and the server take: small and unsynced. */
const FAST = [
  '--skip-name-resolve',
  '--innodb-buffer-pool-size=16M',
  '--innodb-log-file-size=8M',
  '--innodb-flush-method=nosync',
  '--innodb-doublewrite=0',
  '--innodb-flush-log-at-trx-commit=0',
];

export async function startMariaDb(options: MariaDbOptions = {}): Promise<MariaDb> {
  const server = serverBinary();
  const runAs = process.getuid?.() === 0 ? UNPRIVILEGED : undefined;
  const spawnAs = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  const base = await mkdtemp(path.join(tmpdir(), 'ferry-mariadb-'));
  await chmod(base, 0o755);
  if (runAs) spawnSync('chown', [`${runAs.uid}:${runAs.gid}`, base]);
  const dataDir = path.join(base, 'data');
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C', HOME: base };

  const install = spawnSync(INSTALL_DB, [
    '--no-defaults', `--datadir=${dataDir}`, '--auth-root-authentication-method=normal',
    '--skip-test-db', ...FAST,
  ], { ...spawnAs, env, encoding: 'utf8' });
  if (install.status !== 0) {
    await rm(base, { recursive: true, force: true });
    throw new FerryError('FERRY_EMBEDDED_INITDB',
      `mariadb-install-db failed: ${install.stderr || install.stdout || install.error?.message}`);
  }

  const port = await freePort();
  const settings: Record<string, string | number> = {
    'bind-address': '127.0.0.1',
    port,
    socket: path.join(base, 'mariadb.sock'),
    'pid-file': path.join(base, 'mariadb.pid'),
    'log-error': path.join(base, 'error.log'),
    'log-bin': path.join(dataDir, 'binlog'),
    'binlog-format': 'ROW',
    'binlog-row-image': 'FULL',
    'binlog-row-metadata': 'FULL',
    'binlog-checksum': 'CRC32',
    'server-id': 1,
    'gtid-strict-mode': 1,
    'sync-binlog': 0,
    'max-connections': 50,
    ...options.settings,
  };
  const args = ['--no-defaults', `--datadir=${dataDir}`, ...FAST,
    ...Object.entries(settings).map(([k, v]) => `--${k}=${v}`)];

  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const started = spawn(server, args, { ...spawnAs, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    started.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000); });
    child = started;
    await waitReady(port, started, () => stderr || errorLogTail(settings['log-error'] as string));
  };
  const halt = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    // SIGTERM is mariadbd's clean shutdown: the binlog is closed and complete.
    await new Promise<void>((resolve) => { running.once('exit', () => resolve()); running.kill('SIGTERM'); });
  };

  const url = (database = '', as: 'root' | 'replication' = 'root') => as === 'root'
    ? `mysql://root@127.0.0.1:${port}/${database}`
    : `mysql://${REPLICATION_USER.user}:${REPLICATION_USER.password}@127.0.0.1:${port}/${database}`;
  const query = async <T>(sql: string, params?: unknown[], database?: string): Promise<T> => {
    const connection = await mysql.createConnection({
      host: '127.0.0.1', port, user: 'root', database, multipleStatements: true,
      // Values as the server sends them: the tests compare them with the binlog's.
      dateStrings: true, supportBigNumbers: true, bigNumberStrings: true,
    });
    try {
      const [rows] = await connection.query(sql, params);
      return rows as T;
    } finally {
      await connection.end();
    }
  };

  try {
    await launch();
    await query(`CREATE USER '${REPLICATION_USER.user}'@'127.0.0.1' IDENTIFIED BY '${REPLICATION_USER.password}';
      GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO '${REPLICATION_USER.user}'@'127.0.0.1'`);
  } catch (err) {
    await halt();
    await rm(base, { recursive: true, force: true });
    throw err;
  }
  const [row] = await query<{ v: string }[]>('SELECT VERSION() AS v');

  return {
    port,
    dataDir,
    version: row?.v ?? '',
    replicationUser: REPLICATION_USER,
    url,
    query,
    async restart() {
      await halt();
      await launch();
    },
    async stop() {
      await halt();
      await rm(base, { recursive: true, force: true });
    },
  };
}

function serverBinary(): string {
  if (existsSync(SERVER) && existsSync(INSTALL_DB)) return SERVER;
  throw new FerryError('FERRY_EMBEDDED_MISSING', 'MariaDB is not installed (mariadbd and mariadb-install-db)',
    'apt-get install -y --no-install-recommends mariadb-server-core mariadb-client-core');
}

function errorLogTail(file: string): string {
  const res = spawnSync('tail', ['-c', '4000', file], { encoding: 'utf8' });
  return res.stdout ?? '';
}

async function waitReady(port: number, child: ChildProcess, log: () => string): Promise<void> {
  await waitAccepting('MariaDB', child, log, 50, async () => {
    const connection = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
    await connection.end();
  });
}
