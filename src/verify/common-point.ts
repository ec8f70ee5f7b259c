import type pg from 'pg';
import type { Lsn } from '../change/change.js';
import type { FerryConfig } from '../config/schema.js';
import { ExitCode, FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { formatLsn, parseLsn } from '../source/pg-wal/lsn.js';
import { walSql } from '../source/pg-wal/wal-setup-sql.js';
import { readGroups, type GroupRow } from '../target/control-schema.js';
import { sql } from '../target/control-sql.js';
import type { TableChanges } from './table-changes.js';
import { verifySql } from './verify-sql.js';
import type { VerifyTable } from './verify-tables.js';
import { readWindowChanges } from './window-changes.js';

export interface GroupPoint {
  readonly group: string;
  /** The group's position in the target snapshot: everything the source committed up to here is in it. */
  readonly position: string | null;
  /** A ferry process was applying the group when verify started. */
  readonly running: boolean;
  /** The target snapshot holds all the source snapshot holds; null when unknown (nothing was applying the group). */
  readonly caughtUp: boolean | null;
}

/**
 * A source snapshot and a target snapshot that can be compared exactly:
 * the source's rows plus `changes` (per table label) are the source's rows
 * at each group's target position.
 */
export interface CommonPoint {
  readonly method: 'slot' | 'snapshot';
  /** Where the source snapshot stands in the source's WAL. */
  readonly sourcePosition: string;
  readonly groups: readonly GroupPoint[];
  readonly sourceSnapshot: string;
  readonly targetSnapshot: string;
  readonly changes: ReadonlyMap<string, TableChanges>;
  /** Ends the transactions that keep both snapshots alive. */
  close(): Promise<void>;
}

interface GroupState { readonly row: GroupRow; readonly running: boolean }

/**
 * Finds a point where source and target can be compared without lag showing
 * up as a difference (see docs/verify.md).
 *
 * When no ferry process applies the compared groups, the target stands still:
 * plain snapshots of both sides are compared, and if a group's position moved
 * meanwhile (a `ferry run` started) the slot method is used instead.
 *
 * Otherwise a temporary slot gives a source snapshot at its consistent point
 * C; verify waits until every running group has applied C, takes the target
 * snapshot at positions T ≥ C, and decodes from the slot the changes
 * committed between C and T, which the target holds and the source snapshot
 * does not.
 */
export async function establishCommonPoint(
  config: FerryConfig, tables: readonly VerifyTable[], options: { readonly timeoutSeconds: number; readonly log: Logger },
): Promise<CommonPoint> {
  const names = [...new Set(tables.map((t) => t.group))];
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:verify' });
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:verify' }).catch(async (err: unknown) => {
    await source.end().catch(() => undefined);
    throw err;
  });
  const close = async () => {
    await Promise.all([source.end().catch(() => undefined), target.end().catch(() => undefined)]);
  };
  try {
    const before = await groupStates(target, names);
    if (![...before.values()].some((g) => g.running)) {
      const point = await atSnapshots(source, target, before, close);
      if (point) return point;
      options.log.info('a group was applied while verify began; comparing at a slot position instead');
    }
    return await atSlot(config, source, target, tables, before, options, close);
  } catch (err) {
    await close();
    throw err;
  }
}

async function groupStates(target: pg.Client, names: readonly string[]): Promise<Map<string, GroupState>> {
  const rows = new Map((await readGroups(target)).map((r) => [r.group_name, r]));
  const out = new Map<string, GroupState>();
  for (const name of names) {
    const row = rows.get(name);
    if (!row || row.state !== 'streaming' || !row.position) {
      throw new FerryError('FERRY_VERIFY_NOT_INITIALISED',
        row ? `group ${name} is still in its initial copy` : `group ${name} has not been initialised on the target`,
        'run "ferry init" (again) until it finishes', { exitCode: ExitCode.usage, context: { group: name } });
    }
    const running = (await target.query(sql.groupLockHolder, [name])).rows.length > 0;
    out.set(name, { row, running });
  }
  return out;
}

async function begin(client: pg.Client, snapshot?: string): Promise<string> {
  await client.query(verifySql.beginSnapshot);
  if (snapshot) await client.query(verifySql.importSnapshot(snapshot));
  return (await client.query<{ snapshot: string }>(verifySql.exportSnapshot)).rows[0]?.snapshot as string;
}

async function positionsIn(target: pg.Client, names: Iterable<string>): Promise<Map<string, string | null>> {
  const rows = new Map((await readGroups(target)).map((r) => [r.group_name, r.position]));
  return new Map([...names].map((n) => [n, rows.get(n) ?? null]));
}

async function atSnapshots(
  source: pg.Client, target: pg.Client, before: ReadonlyMap<string, GroupState>, close: () => Promise<void>,
): Promise<CommonPoint | undefined> {
  const sourceSnapshot = await begin(source);
  const sourcePosition = (await source.query<{ lsn: string }>(verifySql.currentLsn)).rows[0]?.lsn as string;
  const targetSnapshot = await begin(target);
  const positions = await positionsIn(target, before.keys());
  // Unchanged positions: nothing was applied between the two reads, so all
  // the target holds was committed on the source before its snapshot.
  if ([...before].some(([name, g]) => positions.get(name) !== g.row.position)) {
    await Promise.all([source.query(verifySql.rollback), target.query(verifySql.rollback)]);
    return undefined;
  }
  return {
    method: 'snapshot', sourcePosition, sourceSnapshot, targetSnapshot, changes: new Map(), close,
    groups: [...before].map(([group, g]) => ({ group, position: g.row.position, running: false, caughtUp: null })),
  };
}

async function atSlot(
  config: FerryConfig, source: pg.Client, target: pg.Client, tables: readonly VerifyTable[], before: ReadonlyMap<string, GroupState>,
  options: { readonly timeoutSeconds: number; readonly log: Logger }, close: () => Promise<void>,
): Promise<CommonPoint> {
  const replication = await connect(config.source.url, { role: 'source', applicationName: 'ferry:verify', replication: true });
  try {
    const slot = `ferry_verify_${process.pid}_${Date.now().toString(36)}`;
    const created = (await replication.query<{ consistent_point: string; snapshot_name: string }>(verifySql.createSlot(slot))
      .catch((err: unknown) => { throw slotError(err); })).rows[0];
    if (!created) throw new FerryError('FERRY_VERIFY_SLOT', `creating the temporary replication slot ${slot} returned nothing`);
    const start = parseLsn(created.consistent_point);
    const sourceSnapshot = await begin(source, created.snapshot_name);
    // A group with nothing to apply would never reach C: a marker transaction
    // committed after C is one every running group applies, moving it past C.
    await emitMarker(config.source.url);
    options.log.info({ position: formatLsn(start) }, 'source snapshot taken; waiting for the target to apply it');
    await waitForTarget(target, before, start, options.timeoutSeconds);
    const targetSnapshot = await begin(target);
    const positions = await positionsIn(target, before.keys());
    const ahead = new Map<string, Lsn>();
    for (const [name, p] of positions) if (p !== null && parseLsn(p) > start) ahead.set(name, parseLsn(p));
    const publications = [...ahead.keys()].map((name) => {
      const row = before.get(name)?.row;
      return row?.publication_name ?? config.groups.find((g) => g.name === name)?.publication ?? `ferry_${name}`;
    });
    const changes = await readWindowChanges(replication, slot, tables.filter((t) => ahead.has(t.group)), ahead, publications);
    return {
      method: 'slot', sourcePosition: formatLsn(start), sourceSnapshot, targetSnapshot, changes, close,
      groups: [...before].map(([group, g]) => {
        const position = positions.get(group) ?? null;
        return { group, position, running: g.running, caughtUp: position !== null && parseLsn(position) >= start };
      }),
    };
  } finally {
    // Closing the connection drops the temporary slot; the snapshot lives on in `source`.
    await replication.end().catch(() => undefined);
  }
}

async function emitMarker(url: string): Promise<void> {
  const client = await connect(url, { role: 'source', applicationName: 'ferry:verify' });
  try {
    await client.query(walSql.emitMarker, [`verify ${new Date().toISOString()}`]);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Waits until every group a ferry process is applying has reached `start`; groups that stop being applied are not waited for. */
async function waitForTarget(target: pg.Client, groups: ReadonlyMap<string, GroupState>, start: Lsn, timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const positions = await positionsIn(target, groups.keys());
    const pending: string[] = [];
    for (const [name, g] of groups) {
      const p = positions.get(name);
      if (!g.running || (p && parseLsn(p) >= start)) continue;
      if ((await target.query(sql.groupLockHolder, [name])).rows.length > 0) pending.push(name);
    }
    if (pending.length === 0) return;
    if (Date.now() >= deadline) {
      throw new FerryError('FERRY_VERIFY_TIMEOUT', `groups ${pending.join(', ')} have not applied source position ${formatLsn(start)} within ${timeoutSeconds} s`,
        'check "ferry status"; give verify more time with --timeout', { exitCode: ExitCode.usage });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function slotError(err: unknown): FerryError {
  const pgErr = err as { code?: string; message?: string };
  const hint = pgErr.code === '53400'
    ? 'verify needs one free replication slot while groups are being applied: raise max_replication_slots on the source'
    : 'check that the source role has the REPLICATION privilege and that a replication slot is free';
  return new FerryError('FERRY_VERIFY_SLOT', `cannot read the source at a common point with the target: ${pgErr.message ?? String(err)}`, hint,
    { exitCode: ExitCode.usage, cause: err });
}
