import type pg from 'pg';
import { FerryError } from '../../errors.js';
import { connect } from '../../pg/connect.js';
import type { CopySnapshot } from '../capture.js';
import { numbersOf, positionOfNumbers, type Position } from '../position.js';
import { queueNames, triggerSql } from './trigger-sql.js';

/** A tick as the stream reads it. */
export interface Tick {
  readonly id: bigint;
  readonly snapshot: TxidSnapshot;
  /** Microseconds since 2000-01-01 UTC. */
  readonly timeUs: bigint;
}

/** `xmin:xmax:xip1,xip2,…` as txid_snapshot prints it. */
export interface TxidSnapshot {
  readonly text: string;
  readonly xmin: bigint;
  readonly xmax: bigint;
  readonly xip: readonly bigint[];
}

export function parseTxidSnapshot(text: string): TxidSnapshot {
  const [xmin, xmax, xip] = text.split(':');
  if (xmin === undefined || xmax === undefined || xip === undefined) {
    throw new FerryError('FERRY_TRIGGER_TICK', `not a transaction snapshot: '${text}'`);
  }
  return { text, xmin: BigInt(xmin), xmax: BigInt(xmax), xip: xip === '' ? [] : xip.split(',').map((x) => BigInt(x)) };
}

export function tickFromRow(row: { tick_id: string; snapshot: string; time_us: string }): Tick {
  return { id: BigInt(row.tick_id), snapshot: parseTxidSnapshot(row.snapshot), timeUs: BigInt(row.time_us) };
}

/**
 * Adds a tick for a group, with its own fresh snapshot or with `snapshot`
 * (the initial copy's). Ticks of a group are taken one at a time (a row lock
 * on the group's queue) and the snapshot only after that lock: so a higher
 * tick id always has a later snapshot, which the batches between ticks rely on.
 */
export async function insertTick(client: pg.Client, group: string, snapshot: string | null = null): Promise<bigint> {
  await client.query('BEGIN');
  try {
    await lockQueue(client, group);
    const id = await insertLockedTick(client, group, snapshot);
    await client.query('COMMIT');
    return id;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function lockQueue(client: pg.Client, group: string): Promise<void> {
  const locked = await client.query(triggerSql.lockQueue, [group]);
  if (locked.rowCount === 0) throw queueMissing(group);
}

async function insertLockedTick(client: pg.Client, group: string, snapshot: string | null): Promise<bigint> {
  const res = await client.query<{ tick_id: string }>(triggerSql.insertTick(queueNames(group)), [group, snapshot]);
  return BigInt(res.rows[0]?.tick_id ?? 0);
}

export function queueMissing(group: string): FerryError {
  return new FerryError('FERRY_TRIGGER_QUEUE_MISSING', `the source has no trigger queue for group ${group}`,
    `it was dropped or never created: run "ferry drop" and "ferry init" again for group ${group}`, { context: { group } });
}

/**
 * A snapshot to copy under, and the tick that marks it in the queue (its
 * position: streaming starts after it). Opens a repeatable-read
 * transaction, exports its snapshot and records it as a tick. The copy
 * reads exactly the transactions visible in it; the batches after the tick
 * hold exactly the ones that are not. The lock on the queue is taken before
 * the snapshot, so a concurrent tick (`ferry wait`) cannot get a lower id
 * with a later snapshot. The snapshot lives until `close()`.
 */
export async function openCopySnapshot(url: string, group: string): Promise<CopySnapshot> {
  const locker = await connect(url, { role: 'source', applicationName: `ferry:${group}:tick` });
  const holder = await connect(url, { role: 'source', applicationName: `ferry:${group}:snapshot` });
  try {
    await locker.query('BEGIN');
    await lockQueue(locker, group);
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const exported = (await holder.query<{ name: string; snapshot: string }>(triggerSql.exportSnapshot)).rows[0];
    if (!exported) throw new FerryError('FERRY_TRIGGER_SNAPSHOT', `exporting a snapshot for group ${group} returned nothing`);
    const tick = await insertLockedTick(locker, group, exported.snapshot);
    await locker.query('COMMIT');
    return {
      snapshotName: exported.name,
      position: tickPosition(tick),
      close: async () => {
        await holder.query('COMMIT').catch(() => undefined);
        await holder.end().catch(() => undefined);
      },
    };
  } catch (err) {
    await holder.end().catch(() => undefined);
    throw err;
  } finally {
    await locker.end().catch(() => undefined);
  }
}

/** How a trigger group's position reads for people: the tick id, and the key of a part of the batch after it. */
export function formatTick(id: bigint, part?: string | bigint | null): string {
  return part === undefined || part === null ? `tick ${id}` : `tick ${id}, part ${part}`;
}

/**
 * A trigger group's position: the tick, and inside the batch after it
 * (applied in parts) the key of the last transaction applied, each as 8
 * bytes big-endian. A part sorts after its tick and before the next one.
 */
export function tickPosition(tick: bigint, part?: bigint | null): Position {
  return part === undefined || part === null ? positionOfNumbers(tick) : positionOfNumbers(tick, part);
}

/** The tick and part of a trigger group's position (tick 0 for START). */
export function tickOf(position: Position): { readonly tick: bigint; readonly part: bigint | null } {
  const [tick = 0n, part = null, ...rest] = numbersOf(position);
  if (rest.length > 0) throw new FerryError('FERRY_POSITION', `not a trigger capture position: '${position}'`);
  return { tick, part };
}
