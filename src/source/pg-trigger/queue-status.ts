import type pg from 'pg';
import { queueExists } from './capture-install.js';
import { queueNames, triggerSql } from './trigger-sql.js';

/** A trigger group's queue as `ferry status` shows it. */
export interface QueueStatus {
  /** The newest tick (batch boundary), if any. */
  readonly latestTick: bigint | null;
  readonly latestTickAt: Date | null;
  /** The last tick the source knows the target has committed. */
  readonly ackedTick: bigint;
  /** Events were queued after the newest tick (ferry run ticks them next). */
  readonly eventsAfter: boolean;
  /** Events queued after the acknowledged tick, i.e. not yet on the target (null when that tick is no longer known). */
  readonly pendingEvents: number | null;
  /** Bytes on disk of the group's queue tables. */
  readonly queueBytes: number;
}

export async function queueStatus(client: pg.Client, group: string): Promise<QueueStatus | undefined> {
  if (!(await queueExists(client, group))) return undefined;
  const row = (await client.query<{ acked_tick: string; latest_tick: string | null; latest_tick_at: Date | null; events_after: boolean; pending_events: string | null; queue_bytes: string }>(
    triggerSql.status(queueNames(group)), [group])).rows[0];
  if (!row) return undefined;
  return {
    latestTick: row.latest_tick === null ? null : BigInt(row.latest_tick),
    latestTickAt: row.latest_tick_at,
    ackedTick: BigInt(row.acked_tick),
    eventsAfter: row.events_after,
    pendingEvents: row.pending_events === null ? null : Math.max(0, Number(row.pending_events)),
    queueBytes: Number(row.queue_bytes),
  };
}
