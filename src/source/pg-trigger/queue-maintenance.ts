import type pg from 'pg';
import { QUEUE_TABLES, queueNames, triggerSql, type QueueNames } from './trigger-sql.js';

/**
 * The source side of acknowledging: the queue learns how far the target has
 * committed, forgets older ticks, and empties the queue tables whose events
 * are all applied. Runs on the stream's own connection between batches.
 */
export async function releaseUpTo(client: pg.Client, group: string, tick: bigint): Promise<number[]> {
  const names = queueNames(group);
  await client.query(triggerSql.acknowledge, [group, tick.toString()]);
  await client.query(triggerSql.forgetTicks, [group, tick.toString()]);
  const slots = (await client.query<{ slot: number }>(triggerSql.releasableSlots, [group, tick.toString()])).rows.map((r) => r.slot);
  const emptied: number[] = [];
  for (const slot of slots) {
    if (await emptySlot(client, names, slot)) emptied.push(slot);
  }
  return emptied;
}

async function emptySlot(client: pg.Client, names: QueueNames, slot: number): Promise<boolean> {
  await client.query('BEGIN');
  try {
    await client.query(triggerSql.shortLockTimeout);
    await client.query(triggerSql.truncateSlot(names, slot));
    await client.query(triggerSql.markSlotEmpty, [names.group, slot]);
    await client.query('COMMIT');
    return true;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    // Someone reads the table right now (lock timeout): try again after the next batch.
    if ((err as { code?: string }).code === '55P03') return false;
    throw err;
  }
}

interface RotationState {
  readonly rotation: bigint;
  /** Milliseconds since the last switch, by the source's clock. */
  readonly ageMs: number;
  readonly slots: ReadonlyMap<number, string>;
}

async function rotationState(client: pg.Client, names: QueueNames): Promise<RotationState | undefined> {
  const row = (await client.query<{ rotation: string; age_ms: number; slots: Record<string, string> }>(
    triggerSql.rotationState(names), [names.group])).rows[0];
  if (!row) return undefined;
  return { rotation: BigInt(row.rotation), ageMs: row.age_ms, slots: new Map(Object.entries(row.slots).map(([k, v]) => [Number(k), v])) };
}

/**
 * Makes the slot table agree with the rotation sequence, in case a switch
 * happened but was not recorded (a crash in between). Recording now takes
 * a later txid than the switch had, which only delays emptying the old table.
 */
export async function reconcileRotation(client: pg.Client, group: string): Promise<void> {
  const names = queueNames(group);
  const state = await rotationState(client, names);
  if (!state) return;
  const current = Number(state.rotation % BigInt(QUEUE_TABLES));
  if (state.slots.get(current) !== 'current') await client.query(triggerSql.recordRotation, [group, current]);
}

/**
 * Switches capture to the next queue table when the current one has been
 * in use for `intervalMs`, holds events, and the next one is empty. Two steps in two
 * transactions: the switch (a sequence, seen at once by every connection), then
 * a record of it with a txid assigned after it, which `releaseUpTo` compares
 * with the acknowledged snapshot before emptying the old table.
 */
export async function rotateIfDue(client: pg.Client, group: string, intervalMs: number): Promise<boolean> {
  const names = queueNames(group);
  const state = await rotationState(client, names);
  if (!state || state.ageMs < intervalMs) return false;
  const next = state.rotation + 1n;
  const slot = Number(next % BigInt(QUEUE_TABLES));
  if (state.slots.get(slot) !== 'empty') return false;
  const current = Number(state.rotation % BigInt(QUEUE_TABLES));
  if (!(await client.query<{ present: boolean }>(triggerSql.slotHasEvents(names, current), [])).rows[0]?.present) return false;
  await client.query(triggerSql.rotate(names), [next.toString()]);
  await client.query(triggerSql.recordRotation, [group, slot]);
  return true;
}
