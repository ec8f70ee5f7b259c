import type pg from 'pg';
import type { GroupConfig } from '../../config/schema.js';
import type { GroupRow } from '../../target/control-schema.js';
import type { CaptureStatus, CaptureStatusReport } from '../capture.js';
import { queueStatus } from './queue-status.js';
import { formatTick, tickOf } from './ticks.js';
import { triggerSql } from './trigger-sql.js';

/**
 * Trigger groups: positions are tick ids. The source position is the queue's
 * newest tick; the lag is counted in ticks, and in seconds as the age of the
 * newest applied tick while anything newer waits. Inside a batch applied in
 * parts, the applied tick is the one before it, until the whole batch is in.
 */
export async function triggerStatus(source: pg.Client, groups: readonly { readonly config: GroupConfig; readonly row: GroupRow | undefined }[]): Promise<CaptureStatusReport> {
  const now = (await source.query<{ now: Date }>(triggerSql.clock)).rows[0]?.now ?? new Date();
  const out = new Map<string, CaptureStatus>();
  for (const { config: group, row } of groups) {
    const queue = await queueStatus(source, group.name);
    const latest = queue?.latestTick ?? null;
    // Inside a batch applied in parts, the tick before it: the batch is shown as such below.
    const at = row?.position ? tickOf(row.position) : null;
    const applied = at?.tick ?? null;
    const lagTicks = latest !== null && applied !== null ? Math.max(0, Number(latest - applied)) : null;
    out.set(group.name, {
      appliedPosition: applied === null ? null : formatTick(applied),
      sourcePosition: latest === null ? null : formatTick(latest),
      lagBytes: null,
      behind: lagTicks === null ? null : lagTicks > 0 || queue?.eventsAfter === true,
      slot: null,
      queue: queue ? {
        latestTick: latest === null ? null : Number(latest), lagTicks, eventsAfterLatestTick: queue.eventsAfter,
        pendingEvents: queue.pendingEvents, queueBytes: queue.queueBytes,
      } : null,
      batchInParts: applied !== null && at?.part != null
        ? { toTick: Number(applied + 1n), eventsApplied: Number(row?.part_events ?? 0), events: Number(row?.part_events_total ?? 0) } : null,
    });
  }
  return { now, groups: out };
}
