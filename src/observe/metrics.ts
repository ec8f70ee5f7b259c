import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { GroupStatus } from './status.js';

/** Row operations counted per table; a fixed set, so the label stays bounded. */
export type RowOp = 'insert' | 'update' | 'delete' | 'truncate';

/**
 * What a group's runner reports as it applies. Counters only move forward,
 * in this process: Prometheus' rate() copes with restarts. The runner
 * publishes here; nothing in this module calls back into the apply path.
 */
export interface ApplyMetrics {
  /** A batch was applied (committed or not): its rows per table and operation, how, and how long it took. */
  batchApplied(group: string, rows: ReadonlyMap<string, Readonly<Partial<Record<RowOp, number>>>>, mode: 'set_based' | 'in_order', seconds: number): void;
  /** A target transaction committed, holding this many source transactions. */
  committed(group: string, transactions: number): void;
  /** A failure: `retried` when the group reconnects and goes on, otherwise it stopped. */
  failed(group: string, code: string, retried: boolean): void;
}

/** Every metric Ferry exports, in one registry per `ferry run` (never the global one, so runs in one process stay apart). */
export class FerryMetrics implements ApplyMetrics {
  readonly registry = new Registry();
  private readonly rows: Counter<'group' | 'table' | 'op'>;
  private readonly sourceTransactions: Counter<'group'>;
  private readonly targetTransactions: Counter<'group'>;
  private readonly batches: Counter<'group' | 'mode'>;
  private readonly batchSeconds: Histogram<'group'>;
  private readonly errors: Counter<'group' | 'code'>;
  private readonly reconnects: Counter<'group' | 'code'>;
  private readonly state: Gauge<'group' | 'state'>;
  private readonly lagSeconds: Gauge<'group'>;
  private readonly lagBytes: Gauge<'group'>;
  private readonly slotRetained: Gauge<'group' | 'slot'>;
  private readonly slotSafe: Gauge<'group' | 'slot'>;
  private readonly slotWalStatus: Gauge<'group' | 'slot' | 'wal_status'>;
  private readonly slotActive: Gauge<'group' | 'slot'>;
  private readonly copyRows: Gauge<'group' | 'table'>;
  private readonly copyBytes: Gauge<'group' | 'table'>;
  private readonly copyEstimated: Gauge<'group' | 'table'>;
  private readonly copyChunksDone: Gauge<'group' | 'table'>;
  private readonly copyChunks: Gauge<'group' | 'table'>;
  private readonly queuePending: Gauge<'group'>;
  private readonly queueBytes: Gauge<'group'>;
  private readonly statusErrors: Counter;
  private readonly statusAge: Gauge;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.rows = new Counter({ name: 'ferry_rows_applied_total', help: 'Rows written to the target, by table and operation (a truncate counts once).', labelNames: ['group', 'table', 'op'], registers });
    this.sourceTransactions = new Counter({ name: 'ferry_source_transactions_applied_total', help: 'Source transactions committed on the target.', labelNames: ['group'], registers });
    this.targetTransactions = new Counter({ name: 'ferry_target_transactions_total', help: 'Target transactions committed (each holds one or more whole source transactions and the new position).', labelNames: ['group'], registers });
    this.batches = new Counter({ name: 'ferry_batches_applied_total', help: 'Batches applied, set-based (compacted per key) or in order (change by change, the fallback).', labelNames: ['group', 'mode'], registers });
    this.batchSeconds = new Histogram({
      name: 'ferry_batch_duration_seconds', help: 'Time to write one batch to the target.', labelNames: ['group'], registers,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.errors = new Counter({ name: 'ferry_errors_total', help: 'Failures of a group, by error code (retried or not).', labelNames: ['group', 'code'], registers });
    this.reconnects = new Counter({ name: 'ferry_reconnects_total', help: 'Times a group started again from its committed position after a failure, by error code.', labelNames: ['group', 'code'], registers });
    this.state = new Gauge({ name: 'ferry_group_state', help: 'The group\'s state: 1 for the current one (streaming, copying, stopped, failed, not_initialised).', labelNames: ['group', 'state'], registers });
    this.lagSeconds = new Gauge({ name: 'ferry_lag_seconds', help: 'How far the target is behind, in seconds on the source\'s clock since it was last caught up; 0 while the source is idle.', labelNames: ['group'], registers });
    this.lagBytes = new Gauge({ name: 'ferry_lag_bytes', help: 'WAL bytes between the source\'s current position and the group\'s applied position (WAL capture).', labelNames: ['group'], registers });
    this.slotRetained = new Gauge({ name: 'ferry_slot_retained_wal_bytes', help: 'WAL the group\'s replication slot keeps on the source (current position minus restart_lsn).', labelNames: ['group', 'slot'], registers });
    this.slotSafe = new Gauge({ name: 'ferry_slot_safe_wal_size_bytes', help: 'WAL the source may still write before the slot is in danger of being lost (PostgreSQL 13+, only with max_slot_wal_keep_size set).', labelNames: ['group', 'slot'], registers });
    this.slotWalStatus = new Gauge({ name: 'ferry_slot_wal_status', help: 'The slot\'s wal_status (PostgreSQL 13+): 1 for the current one (reserved, extended, unreserved, lost).', labelNames: ['group', 'slot', 'wal_status'], registers });
    this.slotActive = new Gauge({ name: 'ferry_slot_active', help: '1 while a connection reads the slot.', labelNames: ['group', 'slot'], registers });
    this.copyRows = new Gauge({ name: 'ferry_copy_rows', help: 'Rows copied by the initial copy (or a table joining or resynchronised), by table.', labelNames: ['group', 'table'], registers });
    this.copyBytes = new Gauge({ name: 'ferry_copy_bytes', help: 'Bytes copied by the initial copy, by table.', labelNames: ['group', 'table'], registers });
    this.copyEstimated = new Gauge({ name: 'ferry_copy_estimated_bytes', help: 'Estimated bytes the initial copy moves in all, by table.', labelNames: ['group', 'table'], registers });
    this.copyChunksDone = new Gauge({ name: 'ferry_copy_chunks_done', help: 'Chunks of the initial copy finished, by table.', labelNames: ['group', 'table'], registers });
    this.copyChunks = new Gauge({ name: 'ferry_copy_chunks', help: 'Chunks of the initial copy in all, by table.', labelNames: ['group', 'table'], registers });
    this.queuePending = new Gauge({ name: 'ferry_queue_pending_events', help: 'Trigger capture: events queued on the source and not yet applied (approximate).', labelNames: ['group'], registers });
    this.queueBytes = new Gauge({ name: 'ferry_queue_table_bytes', help: 'Trigger capture: size on disk of the group\'s queue tables on the source.', labelNames: ['group'], registers });
    this.statusErrors = new Counter({ name: 'ferry_status_errors_total', help: 'Times reading the groups\' status from source and target failed.', registers });
    this.statusAge = new Gauge({ name: 'ferry_status_timestamp_seconds', help: 'When the status behind the gauges was read (Unix time).', registers });
  }

  batchApplied(group: string, rows: ReadonlyMap<string, Readonly<Partial<Record<RowOp, number>>>>, mode: 'set_based' | 'in_order', seconds: number): void {
    for (const [table, ops] of rows) {
      for (const op of ['insert', 'update', 'delete', 'truncate'] as const) {
        const n = ops[op];
        if (n) this.rows.inc({ group, table, op }, n);
      }
    }
    this.batches.inc({ group, mode });
    this.batchSeconds.observe({ group }, seconds);
  }

  committed(group: string, transactions: number): void {
    this.targetTransactions.inc({ group });
    this.sourceTransactions.inc({ group }, transactions);
  }

  failed(group: string, code: string, retried: boolean): void {
    this.errors.inc({ group, code });
    if (retried) this.reconnects.inc({ group, code });
  }

  statusFailed(): void {
    this.statusErrors.inc();
  }

  /** The gauges, from a fresh status of every group. Labels of what no longer holds (a former state) are removed. */
  observe(status: readonly GroupStatus[], at: Date): void {
    for (const gauge of [this.state, this.slotWalStatus, this.copyRows, this.copyBytes, this.copyEstimated, this.copyChunksDone, this.copyChunks]) gauge.reset();
    this.statusAge.set(at.getTime() / 1000);
    for (const g of status) {
      const group = g.group;
      this.state.set({ group, state: g.state.replace(' ', '_') }, 1);
      setOrRemove(this.lagSeconds, { group }, g.lagSeconds);
      setOrRemove(this.lagBytes, { group }, g.lagBytes);
      if (g.slot) {
        const labels = { group, slot: g.slot.name };
        setOrRemove(this.slotRetained, labels, g.slot.retainedBytes);
        setOrRemove(this.slotSafe, labels, g.slot.safeWalSize);
        this.slotActive.set(labels, g.slot.active ? 1 : 0);
        if (g.slot.walStatus) this.slotWalStatus.set({ ...labels, wal_status: g.slot.walStatus }, 1);
      }
      for (const t of g.copy?.tables ?? []) {
        const labels = { group, table: t.table };
        this.copyRows.set(labels, t.rows);
        this.copyBytes.set(labels, t.bytes);
        this.copyEstimated.set(labels, t.estimatedBytes);
        this.copyChunksDone.set(labels, t.chunksDone);
        this.copyChunks.set(labels, t.chunks);
      }
      if (g.queue) {
        setOrRemove(this.queuePending, { group }, g.queue.pendingEvents);
        this.queueBytes.set({ group }, g.queue.queueBytes);
      }
    }
  }
}

function setOrRemove<L extends string>(gauge: Gauge<L>, labels: Partial<Record<L, string>>, value: number | null): void {
  if (value === null) gauge.remove(labels);
  else gauge.set(labels, value);
}
