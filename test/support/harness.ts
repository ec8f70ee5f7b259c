import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../../src/config/load.js';
import type { FerryConfig } from '../../src/config/schema.js';
import { startCluster, type Cluster } from '../../src/embedded/cluster.js';
import type { FerryError } from '../../src/errors.js';
import { initGroups } from '../../src/init/init.js';
import { silentLogger } from '../../src/observe/logger.js';
import { runGroups } from '../../src/run/run-groups.js';
import { waitForCatchUp } from '../../src/run/wait.js';
import { connect } from '../../src/pg/connect.js';
import type { CaptureMode } from '../../src/config/schema.js';
import { captureOf } from '../../src/source/capture.js';
import { storedPosition } from '../../src/source/position.js';
import { sql } from '../../src/target/control-sql.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A source and a target server, one database `app` on each. */
export interface Pair {
  readonly source: Cluster;
  readonly target: Cluster;
  readonly dir: string;
  sql(side: 'source' | 'target', text: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** Writes a config file for the given groups and returns its path. */
  config(groups: Record<string, string[]>, extra?: string): Promise<string>;
  stop(): Promise<void>;
}

export interface PairOptions {
  readonly sourceMajor?: number;
  readonly targetMajor?: number;
  readonly sourceSettings?: Record<string, string | number>;
}

export async function startPair(options: PairOptions = {}): Promise<Pair> {
  const [source, target] = await Promise.all([
    startCluster({ major: options.sourceMajor ?? 18, settings: { wal_sender_timeout: "'4s'", ...options.sourceSettings } }),
    startCluster({ major: options.targetMajor ?? 18 }),
  ]);
  await Promise.all([source.query('CREATE DATABASE app'), target.query('CREATE DATABASE app')]);
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-test-'));
  let configs = 0;
  return {
    source,
    target,
    dir,
    sql: (side, text, params) => (side === 'source' ? source : target).query(text, params, 'app'),
    async config(groups, extra = '') {
      const file = path.join(dir, `ferry-${++configs}.yaml`);
      const lines = [
        'source:', `  url: ${source.url('app')}`,
        'target:', `  url: ${target.url('app')}`,
        'groups:',
        ...Object.entries(groups).map(([name, tables]) => `  - name: ${name}\n    tables: [${tables.join(', ')}]`),
        'apply:', '  status_interval_ms: 500', '  retry_initial_ms: 200', '  retry_max_ms: 1000',
        extra,
      ];
      await writeFile(file, `${lines.join('\n')}\n`);
      return file;
    },
    async stop() {
      await Promise.all([source.stop(), target.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `ferry run` inside the test process. */
export interface Running {
  stop(): Promise<FerryError[]>;
}

export async function init(configPath: string): Promise<FerryConfig> {
  const config = await loadConfig(configPath);
  await initGroups(config, silentLogger());
  return config;
}

export async function run(configPath: string): Promise<Running> {
  const config = await loadConfig(configPath);
  const controller = new AbortController();
  const done = runGroups(config, silentLogger(), controller.signal);
  // Return once every group is being applied (or the run ended), so that a
  // following catchUp() does not see the state of an earlier, failed run.
  let settled = false;
  void done.finally(() => { settled = true; });
  try {
    const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry-test:run' });
    try {
      for (const deadline = Date.now() + 15_000; !settled && Date.now() < deadline;) {
        // One query at a time: a client runs queries in turn.
        let held = true;
        for (const g of config.groups) held &&= (await target.query(sql.groupLockHolder, [g.name])).rows.length > 0;
        if (held) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await target.end();
    }
  } catch {
    // A target the test made unreachable: the run itself will say so.
  }
  return { stop: async () => { controller.abort(); return done; } };
}

export async function catchUp(configPath: string, timeoutSeconds = 60): Promise<void> {
  await waitForCatchUp(await loadConfig(configPath), timeoutSeconds);
}

export interface CliResult { readonly code: number | null; readonly stdout: string; readonly stderr: string }

const BUILT_CLI = path.join(ROOT, 'dist/cli/main.js');
let builtChecked = false;

/**
 * The CLI as built (`npm test` builds first): starting it costs half of
 * what compiling the sources on each start does. A build older than a
 * source file would test old code, so that is an error.
 */
function builtCli(): string {
  if (builtChecked) return BUILT_CLI;
  const built = existsSync(BUILT_CLI) ? statSync(BUILT_CLI).mtimeMs : 0;
  const newer = (dir: string): string | undefined => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      const found = entry.isDirectory() ? newer(file) : statSync(file).mtimeMs > built ? file : undefined;
      if (found) return found;
    }
    return undefined;
  };
  const stale = newer(path.join(ROOT, 'src'));
  if (stale) throw new Error(`the built CLI is older than ${path.relative(ROOT, stale)}: run "npm run build" (npm test does)`);
  builtChecked = true;
  return BUILT_CLI;
}

/** The real CLI in a child process, as built from the sources. */
export function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; result: Promise<CliResult> } {
  const child = spawn(process.execPath, [builtCli(), ...args], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const result = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, result };
}

export async function cliRun(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return cli(args, env).result;
}

/**
 * Both sides hold exactly the same rows. Compares the sorted text of every
 * row and names the first difference, so a failure says which row is wrong.
 */
export async function assertSameRows(pair: Pair, table: string, orderBy = '1'): Promise<number> {
  const q = `SELECT t::text AS row FROM ${table} t ORDER BY ${orderBy}, t::text`;
  const [a, b] = await Promise.all([pair.sql('source', q), pair.sql('target', q)]);
  const src = a.rows.map((r) => r.row as string);
  const dst = b.rows.map((r) => r.row as string);
  for (let i = 0; i < Math.max(src.length, dst.length); i++) {
    if (src[i] !== dst[i]) {
      throw new Error(`${table} differs at row ${i + 1} (source has ${src.length} rows, target ${dst.length}):\n  source: ${src[i]}\n  target: ${dst[i]}`);
    }
  }
  return src.length;
}

/** A group's position as the target stores it, shown as its capture shows it (`0/16B3F08`, `tick 42`); undefined before it has one. */
export async function targetPosition(pair: Pair, group: string): Promise<string | undefined> {
  const row = (await pair.sql('target', `SELECT capture, encode(position, 'hex') AS position FROM ferry.groups WHERE group_name = $1`, [group])).rows[0] as
    { capture: CaptureMode; position: string | null } | undefined;
  return row?.position == null ? undefined : captureOf(row.capture).formatPosition(storedPosition(row.position));
}

/**
 * Polls `check` until it holds; past the deadline, fails naming what did not
 * happen. Tests wait for conditions with this, never with a bare sleep.
 */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A config for trigger capture (`source.capture: trigger`) reaching the
 * source as `user`, with quick ticks and queue rotation so tests see them.
 * `extra` is appended as is.
 */
export async function triggerConfig(
  pair: Pair, groups: Record<string, string[]>, options: { user?: string; rotateMs?: number; extra?: string } = {},
): Promise<string> {
  const file = await pair.config(groups,
    `trigger:\n  tick_interval_ms: 50\n  idle_tick_ms: 500\n  rotate_interval_ms: ${options.rotateMs ?? 1000}\n${options.extra ?? ''}`);
  const text = await readFile(file, 'utf8');
  await writeFile(file, text
    .replace('source:\n', 'source:\n  capture: trigger\n')
    .replace(`url: ${pair.source.url('app')}`, `url: postgres://${options.user ?? 'postgres'}@127.0.0.1:${pair.source.port}/app`));
  return file;
}

/** A test's writer: `step` runs again and again in one session until `signal` aborts; returns how many steps ran. */
export async function writeUntilAborted(url: string, signal: AbortSignal, step: (client: pg.Client, n: number) => Promise<void>): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let n = 0;
  try {
    while (!signal.aborted) await step(client, ++n);
  } finally {
    await client.end();
  }
  return n;
}
