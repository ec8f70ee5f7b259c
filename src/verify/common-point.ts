import type pg from 'pg';
import type { Lsn } from '../change/change.js';
import type { FerryConfig } from '../config/schema.js';
import { ExitCode, FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { formatLsn, parseLsn } from '../source/pg-wal/lsn.js';
import { walSql } from '../source/pg-wal/wal-setup-sql.js';
import type { TableChanges } from './table-changes.js';
import { beginSnapshot, groupStates, positionsIn, shownPosition, waitForTarget, type GroupState } from './target-progress.js';
import { atTicks } from './tick-point.js';
import { verifySql } from './verify-sql.js';
import type { VerifyTable } from './verify-tables.js';
import { readWindowChanges } from './window-changes.js';

export interface GroupPoint {
  readonly group: string;
  /** The group's position in the target snapshot (an LSN, or `tick N`): everything the source committed up to here is in it. */
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
  /** `snapshot`: nothing applied the groups; `slot` (WAL capture) or `tick` (trigger capture): compared while they were applied. */
  readonly method: 'slot' | 'tick' | 'snapshot';
  /** Where the source snapshot stands: in the source's WAL, or (trigger capture) its transaction snapshot. */
  readonly sourcePosition: string;
  readonly groups: readonly GroupPoint[];
  readonly sourceSnapshot: string;
  readonly targetSnapshot: string;
  readonly changes: ReadonlyMap<string, TableChanges>;
  /** Ends the transactions that keep both snapshots alive. */
  close(): Promise<void>;
}

/**
 * Finds a point where source and target can be compared without lag showing
 * up as a difference (see docs/verify.md).
 *
 * When no ferry process applies the compared groups, the target stands still:
 * plain snapshots of both sides are compared, and if a group's position moved
 * meanwhile (a `ferry run` started) the slot (or tick) method is used instead.
 *
 * Otherwise, with WAL capture, a temporary slot gives a source snapshot at
 * its consistent point C; verify waits until every running group has applied
 * C, takes the target snapshot at positions T ≥ C, and decodes from the slot
 * the changes committed between C and T, which the target holds and the
 * source snapshot does not. Trigger capture does the same with ticks
 * (tick-point.ts).
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
    const trigger = config.source.capture === 'trigger';
    const before = await groupStates(target, names);
    if (![...before.values()].some((g) => g.running)) {
      const point = await atSnapshots(source, target, before, trigger, close);
      if (point) return point;
      options.log.info(`a group was applied while verify began; comparing at a ${trigger ? 'tick' : 'slot position'} instead`);
    }
    if (trigger) return await atTicks(config.source.url, source, target, tables, before, options, close);
    return await atSlot(config, source, target, tables, before, options, close);
  } catch (err) {
    await close();
    throw err;
  }
}

async function atSnapshots(
  source: pg.Client, target: pg.Client, before: ReadonlyMap<string, GroupState>, trigger: boolean, close: () => Promise<void>,
): Promise<CommonPoint | undefined> {
  const sourceSnapshot = await beginSnapshot(source);
  const sourcePosition = trigger
    ? `txid snapshot ${(await source.query<{ snapshot: string }>(verifySql.txidSnapshot)).rows[0]?.snapshot as string}`
    : (await source.query<{ lsn: string }>(verifySql.currentLsn)).rows[0]?.lsn as string;
  const targetSnapshot = await beginSnapshot(target);
  const positions = await positionsIn(target, before.keys());
  // Unchanged positions: nothing was applied between the two reads, so all
  // the target holds was committed on the source before its snapshot.
  if ([...before].some(([name, g]) => positions.get(name) !== g.row.position)) {
    await Promise.all([source.query(verifySql.rollback), target.query(verifySql.rollback)]);
    return undefined;
  }
  return {
    method: 'snapshot', sourcePosition, sourceSnapshot, targetSnapshot, changes: new Map(), close,
    groups: [...before].map(([group, g]) => ({ group, position: shownPosition(g.row.position, trigger), running: false, caughtUp: null })),
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
    const sourceSnapshot = await beginSnapshot(source, created.snapshot_name);
    // A group with nothing to apply would never reach C: a marker transaction
    // committed after C is one every running group applies, moving it past C.
    await emitMarker(config.source.url);
    options.log.info({ position: formatLsn(start) }, 'source snapshot taken; waiting for the target to apply it');
    await waitForTarget(target, before, new Map([...before.keys()].map((name) => [name, start])), options.timeoutSeconds,
      () => `source position ${formatLsn(start)}`);
    const targetSnapshot = await beginSnapshot(target);
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

function slotError(err: unknown): FerryError {
  const pgErr = err as { code?: string; message?: string };
  const hint = pgErr.code === '53400'
    ? 'verify needs one free replication slot while groups are being applied: raise max_replication_slots on the source'
    : 'check that the source role has the REPLICATION privilege and that a replication slot is free';
  return new FerryError('FERRY_VERIFY_SLOT', `cannot read the source at a common point with the target: ${pgErr.message ?? String(err)}`, hint,
    { exitCode: ExitCode.usage, cause: err });
}
