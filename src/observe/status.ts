import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import { connect } from '../pg/connect.js';
import { streamSourceOf } from '../source/capture.js';
import { readGroups, type GroupRow } from '../target/control-schema.js';
import { sql } from '../target/control-sql.js';

export interface CopyProgress {
  readonly chunks: number;
  readonly chunksDone: number;
  readonly rows: number;
  readonly bytes: number;
  readonly estimatedBytes: number;
}

export interface SlotStatus {
  readonly name: string;
  readonly exists: boolean;
  readonly active: boolean;
  readonly retainedBytes: number | null;
  /** PostgreSQL 13+: reserved | extended | unreserved | lost (null before 13). */
  readonly walStatus: string | null;
  /** PostgreSQL 13+: WAL that may still be written before the slot is in danger of being lost (null: no limit, or before 13). */
  readonly safeWalSize: number | null;
}

export interface BinlogStatus {
  readonly neededFile: string;
  /** The file the group needs next is gone from the source: the group cannot catch up. */
  readonly purged: boolean;
  /** binlog_expire_logs_seconds; null: kept until purged by hand (0). */
  readonly retentionSeconds: number | null;
}

export interface GroupStatus {
  readonly group: string;
  /** not initialised | copying | streaming | stopped | failed */
  readonly state: string;
  readonly appliedPosition: string | null;
  readonly sourcePosition: string | null;
  readonly lagBytes: number | null;
  readonly lagSeconds: number | null;
  readonly rowsApplied: number;
  readonly transactionsApplied: number;
  /** Batches applied set-based, and change by change in source order (the fallback; the log says why). */
  readonly batches: { readonly setBased: number; readonly inOrder: number };
  readonly lastAppliedAt: string | null;
  readonly slot: SlotStatus | null;
  /** Binlog capture: the binlog file the group reads next, whether the source still has it, and how long the source keeps binlogs. */
  readonly binlog?: BinlogStatus;
  readonly lastError: string | null;
  readonly lastErrorAt: string | null;
  /** The initial copy: chunks finished, rows and bytes moved, estimated bytes in all. */
  readonly copy: (CopyProgress & { readonly tables: readonly (CopyProgress & { readonly table: string })[] }) | null;
  /** Trigger capture: the queue's newest tick, how many ticks the target is behind, and whether untaken events wait. */
  readonly queue?: {
    readonly latestTick: number | null; readonly lagTicks: number | null; readonly eventsAfterLatestTick: boolean;
    /** Events queued and not yet applied (approximate: ids of rolled-back writes count), and the queue tables' size on disk. */
    readonly pendingEvents: number | null; readonly queueBytes: number;
  } | null;
  /**
   * Trigger capture: the target stands inside the batch after the applied
   * tick, which is applied in parts (a backlog queued while `ferry run` was
   * stopped): events of that batch applied so far, of all its events.
   */
  readonly batchInParts?: { readonly toTick: number; readonly eventsApplied: number; readonly events: number } | null;
  /** Changes of tables joining the group, held until their copy is done and then applied. */
  readonly heldChanges: number;
  /** Whether DDL of the group's tables is captured on the source (`source.ddl: capture` with the privilege); null: the role cannot tell; absent: the capture method has none (binlog). */
  readonly ddlCapture?: boolean | null;
}

/**
 * Per group: what the target has applied (from the control schema), where
 * the source is now and the state of the group's capture there (its slot,
 * its queue). "streaming" means a ferry process holds the group's lock right
 * now; "stopped" means none does.
 */
export async function collectStatus(config: FerryConfig): Promise<GroupStatus[]> {
  const capture = streamSourceOf(config.source.capture);
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:status' });
  try {
    const rows = new Map((await readGroups(target)).map((r) => [r.group_name, r]));
    const seen = await capture.readStatus(config, config.groups.map((g) => ({ config: g, row: rows.get(g.name) })));
    const copies = await copyProgress(target, rows.size);
    const out: GroupStatus[] = [];
    for (const group of config.groups) {
      const row = rows.get(group.name);
      const c = seen.groups.get(group.name);
      const locked = row !== undefined && (await target.query(sql.groupLockHolder, [group.name])).rows.length > 0;
      out.push({
        group: group.name,
        state: !row ? 'not initialised' : row.state === 'copying' ? 'copying' : locked ? 'streaming' : row.last_error_fatal ? 'failed' : 'stopped',
        appliedPosition: c?.appliedPosition ?? null,
        sourcePosition: c?.sourcePosition ?? null,
        lagBytes: c?.lagBytes ?? null,
        lagSeconds: lagSeconds(c?.behind ?? null, row?.source_commit_time ?? null, seen.now),
        rowsApplied: Number(row?.rows_applied ?? 0),
        transactionsApplied: Number(row?.transactions_applied ?? 0),
        batches: row ? batchCounts(row) : { setBased: 0, inOrder: 0 },
        lastAppliedAt: row?.applied_at?.toISOString() ?? null,
        slot: c?.slot ?? null,
        lastError: row?.last_error ?? null,
        lastErrorAt: row?.last_error_at?.toISOString() ?? null,
        copy: copies.get(group.name) ?? null,
        heldChanges: Number(row?.held_changes ?? 0),
        ...(c?.queue !== undefined ? { queue: c.queue } : {}),
        ...(c?.binlog !== undefined ? { binlog: c.binlog } : {}),
        ...(c?.batchInParts !== undefined ? { batchInParts: c.batchInParts } : {}),
        // A capture method without DDL capture (binlog) says nothing of it.
        ...(c?.ddlCapture !== undefined ? { ddlCapture: c.ddlCapture } : {}),
      });
    }
    return out;
  } finally {
    await target.end().catch(() => undefined);
  }
}

/**
 * Seconds behind, on the source's clock: since when the target has been
 * caught up (its last commit, or a later moment the source was idle),
 * unless nothing is waiting.
 */
function lagSeconds(behind: boolean | null, caughtUpAt: Date | null, now: Date): number | null {
  if (behind === null) return null;
  return !behind || !caughtUpAt ? 0 : Math.max(0, (now.getTime() - caughtUpAt.getTime()) / 1000);
}

function batchCounts(row: GroupRow): GroupStatus['batches'] {
  return { setBased: Number(row.batches_set_based), inOrder: Number(row.batches_in_order) };
}

/** Per group, the initial copy's progress in all and per table (tables joining later included). */
async function copyProgress(target: pg.Client, groups: number): Promise<Map<string, NonNullable<GroupStatus['copy']>>> {
  const out = new Map<string, NonNullable<GroupStatus['copy']>>();
  if (groups === 0) return out;
  const progress = (r: Record<string, unknown>): CopyProgress => ({
    chunks: r.chunks as number, chunksDone: r.chunks_done as number, rows: Number(r.rows), bytes: Number(r.bytes), estimatedBytes: Number(r.estimated_bytes),
  });
  for (const r of (await target.query(sql.copyProgress)).rows) out.set(r.group_name as string, { ...progress(r), tables: [] });
  for (const r of (await target.query(sql.copyProgressByTable)).rows) {
    (out.get(r.group_name as string)?.tables as (CopyProgress & { table: string })[] | undefined)?.push({ table: r.table_name as string, ...progress(r) });
  }
  return out;
}
