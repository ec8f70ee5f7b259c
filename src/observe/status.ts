import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import { connect } from '../pg/connect.js';
import { parseLsn } from '../source/pg-wal/lsn.js';
import { walSql } from '../source/pg-wal/wal-setup-sql.js';
import { queueStatus } from '../source/pg-trigger/queue-status.js';
import { formatTick } from '../source/pg-trigger/ticks.js';
import { ddlCaptureOn } from '../source/ddl-capture/ddl-capture-install.js';
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
  /** Whether DDL of the group's tables is captured on the source (`source.ddl: capture` with the privilege); null: the role cannot tell. */
  readonly ddlCapture: boolean | null;
}

/**
 * Per group: what the target has applied (from the control schema), where
 * the source is now, and the slot's state. "streaming" means a ferry process
 * holds the group's lock right now; "stopped" means none does.
 */
export async function collectStatus(config: FerryConfig): Promise<GroupStatus[]> {
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:status' });
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:status' });
  try {
    const rows = new Map((await readGroups(target)).map((r) => [r.group_name, r]));
    const ddl = await ddlCaptureStatus(source, config);
    if (config.source.capture === 'trigger') return (await triggerStatus(config, source, target, rows)).map((g) => ({ ...g, ddlCapture: ddl.get(g.group) ?? null }));
    const now = (await source.query<{ lsn: string; now: Date }>(walSql.currentLsnAndTime)).rows[0];
    const current = now?.lsn ?? null;
    const copies = await copyProgress(target, rows.size);
    const out: GroupStatus[] = [];
    for (const group of config.groups) {
      const row = rows.get(group.name);
      const slotRow = (await source.query(walSql.slot, [group.slot])).rows[0];
      const slot: SlotStatus = {
        name: group.slot, exists: Boolean(slotRow), active: Boolean(slotRow?.active), retainedBytes: slotRow ? Number(slotRow.retained_bytes) : null,
        walStatus: (slotRow?.wal_status as string | null | undefined) ?? null,
        safeWalSize: slotRow?.safe_wal_size == null ? null : Number(slotRow.safe_wal_size),
      };
      if (!row) {
        out.push({
          group: group.name, state: 'not initialised', appliedPosition: null, sourcePosition: current, lagBytes: null, lagSeconds: null,
          rowsApplied: 0, transactionsApplied: 0, batches: { setBased: 0, inOrder: 0 }, lastAppliedAt: null, slot, lastError: null, lastErrorAt: null, copy: null, heldChanges: 0,
          ddlCapture: ddl.get(group.name) ?? null,
        });
        continue;
      }
      const locked = (await target.query(sql.groupLockHolder, [group.name])).rows.length > 0;
      const state = row.state === 'copying' ? 'copying' : locked ? 'streaming' : row.last_error_fatal ? 'failed' : 'stopped';
      const lagBytes = row.position && current ? Math.max(0, Number(parseLsn(current) - parseLsn(row.position))) : null;
      // Seconds behind, on the source's clock: since when the target has been
      // caught up (its last commit, or a later moment the source was idle), unless nothing is waiting.
      const lagSeconds = lagBytes === null ? null
        : lagBytes === 0 || !row.source_commit_time || !now ? 0
        : Math.max(0, (now.now.getTime() - row.source_commit_time.getTime()) / 1000);
      out.push({
        group: group.name,
        state,
        appliedPosition: row.position,
        sourcePosition: current,
        lagBytes,
        lagSeconds,
        rowsApplied: Number(row.rows_applied),
        transactionsApplied: Number(row.transactions_applied),
        batches: batchCounts(row),
        lastAppliedAt: row.applied_at?.toISOString() ?? null,
        slot,
        lastError: row.last_error,
        lastErrorAt: row.last_error_at?.toISOString() ?? null,
        copy: copies.get(group.name) ?? null,
        heldChanges: Number(row?.held_changes ?? 0),
        ddlCapture: ddl.get(group.name) ?? null,
      });
    }
    return out;
  } finally {
    await target.end().catch(() => undefined);
    await source.end().catch(() => undefined);
  }
}

/**
 * Trigger groups: positions are tick ids. The source position is the queue's
 * newest tick; the lag is counted in ticks, and in seconds as the age of the
 * newest applied tick while anything newer waits. Inside a batch applied in
 * parts, the applied tick is the one before it, until the whole batch is in.
 */
async function triggerStatus(config: FerryConfig, source: pg.Client, target: pg.Client, rows: Map<string, GroupRow>): Promise<Omit<GroupStatus, 'ddlCapture'>[]> {
  const now = (await source.query<{ now: Date }>(walSql.currentLsnAndTime)).rows[0]?.now.getTime() ?? Date.now();
  const copies = await copyProgress(target, rows.size);
  const out: Omit<GroupStatus, 'ddlCapture'>[] = [];
  for (const group of config.groups) {
    const row = rows.get(group.name);
    const queue = await queueStatus(source, group.name);
    const latest = queue?.latestTick ?? null;
    const applied = row?.position ? parseLsn(row.position) : null;
    const lagTicks = latest !== null && applied !== null ? Math.max(0, Number(latest - applied)) : null;
    const waiting = lagTicks !== null && (lagTicks > 0 || queue?.eventsAfter === true);
    const locked = row ? (await target.query(sql.groupLockHolder, [group.name])).rows.length > 0 : false;
    out.push({
      group: group.name,
      state: !row ? 'not initialised' : row.state === 'copying' ? 'copying' : locked ? 'streaming' : row.last_error_fatal ? 'failed' : 'stopped',
      appliedPosition: applied === null ? null : formatTick(applied),
      sourcePosition: latest === null ? null : formatTick(latest),
      lagBytes: null,
      lagSeconds: lagTicks === null ? null : !waiting || !row?.source_commit_time ? 0 : Math.max(0, (now - row.source_commit_time.getTime()) / 1000),
      rowsApplied: Number(row?.rows_applied ?? 0),
      transactionsApplied: Number(row?.transactions_applied ?? 0),
      batches: row ? batchCounts(row) : { setBased: 0, inOrder: 0 },
      lastAppliedAt: row?.applied_at?.toISOString() ?? null,
      slot: null,
      lastError: row?.last_error ?? null,
      lastErrorAt: row?.last_error_at?.toISOString() ?? null,
      copy: copies.get(group.name) ?? null,
      heldChanges: Number(row?.held_changes ?? 0),
      queue: queue ? {
        latestTick: latest === null ? null : Number(latest), lagTicks, eventsAfterLatestTick: queue.eventsAfter,
        pendingEvents: queue.pendingEvents, queueBytes: queue.queueBytes,
      } : null,
      batchInParts: applied !== null && row?.position_part != null
        ? { toTick: Number(applied + 1n), eventsApplied: Number(row.part_events ?? 0), events: Number(row.part_events_total ?? 0) } : null,
    });
  }
  return out;
}

/** Per group, whether its DDL is captured; a role that may not read DDL capture's table learns nothing (null). */
async function ddlCaptureStatus(source: pg.Client, config: FerryConfig): Promise<Map<string, boolean | null>> {
  const out = new Map<string, boolean | null>();
  for (const group of config.groups) {
    out.set(group.name, await ddlCaptureOn(source, group.name).catch((err: unknown) => {
      if ((err as { code?: string }).code === '42501') return null;
      throw err;
    }));
  }
  return out;
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
