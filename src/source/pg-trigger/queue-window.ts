import type pg from 'pg';
import { tableLabel } from '../../catalog/source-tables.js';
import { ExitCode, FerryError } from '../../errors.js';
import { connect } from '../../pg/connect.js';
import { queueExists, queuedTables } from './capture-install.js';
import { EventDecoder, type EventRow } from './event-decoder.js';
import { RelationLayouts } from './relation-layouts.js';
import { formatTick, insertTick, parseTxidSnapshot, queueMissing, type TxidSnapshot } from './ticks.js';
import { queueNames, triggerSql } from './trigger-sql.js';
import type { SourceEvent } from '../source.js';
import type { TableChanges } from '../../verify/table-changes.js';
import { TriggerWindowChanges } from './trigger-window-changes.js';
import { verifySql } from '../../verify/verify-sql.js';
import type { VerifyTable } from '../../verify/verify-tables.js';

/** Where a group stands on the target: a tick, and the key of a part of the batch after it (null: at the tick). */
export interface TargetTick {
  readonly tick: bigint;
  readonly part: bigint | null;
}

/** A target tick's snapshot; inside a batch, also the part's key and the snapshot of the tick that ends the batch. */
export interface TickWindow {
  readonly snapshot: TxidSnapshot;
  readonly part?: { readonly key: bigint; readonly to: TxidSnapshot };
}

/** Queued events read at a time. */
const FETCH_ROWS = 10_000;

/**
 * The source side of a common point for trigger capture: the groups'
 * queues, kept readable from before the source snapshot until the events
 * after it are read.
 *
 * - `holder` holds the queues in ACCESS SHARE mode from before the source
 *   snapshot on. A queue table is emptied by TRUNCATE only once everything
 *   in it is applied, and the emptying gives up on a lock timeout: so a
 *   table emptied before the lock held only transactions the snapshot shows,
 *   and none is emptied afterwards until verify has read the window.
 * - `control` takes the ticks verify waits for, and briefly holds the
 *   groups' acknowledgements while the target's positions are read, so the
 *   ticks at those positions are still there to be read.
 */
export class QueueWindow {
  private constructor(private readonly holder: pg.Client, private readonly control: pg.Client, private readonly groups: readonly string[]) {}

  /** Locks the groups' queues; call before taking the source snapshot. */
  static async open(url: string, groups: readonly string[]): Promise<QueueWindow> {
    const clients: pg.Client[] = [];
    try {
      const holder = await connect(url, { role: 'source', applicationName: 'ferry:verify' });
      clients.push(holder);
      const control = await connect(url, { role: 'source', applicationName: 'ferry:verify' });
      clients.push(control);
      await holder.query('BEGIN');
      for (const group of groups) {
        if (!(await queueExists(holder, group))) throw queueMissing(group);
        await holder.query(verifySql.lockQueue(queueNames(group).queue));
      }
      return new QueueWindow(holder, control, groups);
    } catch (err) {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      throw err;
    }
  }

  /**
   * A new tick in each group's queue. Its snapshot is taken now, so it shows
   * every transaction a source snapshot taken before shows, and a running
   * group applies it even with nothing else to apply.
   */
  async tick(): Promise<Map<string, bigint>> {
    const ticks = new Map<string, bigint>();
    for (const group of this.groups) ticks.set(group, await insertTick(this.control, group));
    return ticks;
  }

  /**
   * Runs `readTarget`, which returns the tick each group stands at on the
   * target, while no group can acknowledge a tick; then reads those ticks'
   * snapshots. A tick is forgotten only once a later one is acknowledged,
   * which cannot happen before the target has applied past it: held
   * acknowledgements keep every tick the target stands at. A target inside
   * the batch after its tick (applied in parts) also needs the next tick's
   * snapshot, which is younger still.
   */
  async tickSnapshots(readTarget: () => Promise<ReadonlyMap<string, TargetTick>>): Promise<Map<string, TickWindow>> {
    await this.control.query('BEGIN');
    try {
      await this.control.query(verifySql.holdAcknowledgements, [this.groups]);
      const out = new Map<string, TickWindow>();
      for (const [group, { tick, part }] of await readTarget()) {
        const snapshot = await this.tickSnapshot(group, tick);
        out.set(group, part === null ? { snapshot } : { snapshot, part: { key: part, to: await this.tickSnapshot(group, tick + 1n) } });
      }
      await this.control.query('COMMIT');
      return out;
    } catch (err) {
      await this.control.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private async tickSnapshot(group: string, tick: bigint): Promise<TxidSnapshot> {
    const row = (await this.control.query<{ snapshot: string }>(triggerSql.tick, [group, tick.toString()])).rows[0];
    if (!row) {
      throw new FerryError('FERRY_VERIFY_TICK', `the source's queue of group ${group} no longer has ${formatTick(tick)}, where the target stands`,
        'check "ferry status" (was the queue dropped and created again?) and run "ferry verify" again',
        { exitCode: ExitCode.usage, context: { group, position: formatTick(tick) } });
    }
    return parseTxidSnapshot(row.snapshot);
  }

  /**
   * Folds into `out` the queued changes of the transactions visible in `to`
   * and not in `from`, in event id order, for the compared `tables` of
   * `group`: read as `ferry run` reads a batch, with its decoder. With
   * `part`, also those of the batch after `to` that a target standing inside
   * it holds: its transactions up to the part's key, in the order they were
   * applied. (Each of them commits after every transaction `to` shows that
   * wrote the same rows, so folding them last is folding in row-lock order.)
   */
  async readChanges(group: string, from: TxidSnapshot, to: TxidSnapshot, tables: readonly VerifyTable[], out: Map<string, TableChanges>,
    part?: TickWindow['part']): Promise<void> {
    const names = queueNames(group);
    const roots = await queuedTables(this.holder, group);
    const decoder = new EventDecoder(new RelationLayouts(this.holder, group, roots, new Map(), true), group);
    const window = new TriggerWindowChanges(tables, out);
    await this.fold(decoder, window, triggerSql.openBatch(names), [from.xmax.toString(), to.xmax.toString(), from.xip.map(String), to.text, from.text]);
    if (part) {
      await this.fold(decoder, window, triggerSql.openParts(names),
        [to.xmax.toString(), part.to.xmax.toString(), to.xip.map(String), part.to.text, to.text, '0', part.key.toString()]);
    }
    await this.refuseTruncatedPartitions(group, tables, window);
  }

  private async fold(decoder: EventDecoder, window: TriggerWindowChanges, open: string, params: unknown[]): Promise<void> {
    await this.holder.query(open, params);
    for (;;) {
      const rows = (await this.holder.query<EventRow>({ text: triggerSql.fetchBatch(FETCH_ROWS), rowMode: 'array' })).rows;
      const events: SourceEvent[] = [];
      await decoder.decode(rows, events);
      const last = rows.length < FETCH_ROWS;
      if (last) decoder.finish(events);
      window.add(events);
      if (last) break;
    }
    await this.holder.query(triggerSql.closeBatch);
  }

  /**
   * A TRUNCATE of one partition of a compared table empties part of it,
   * which the net effect per key cannot express: verify says so rather than
   * compare wrongly. Truncating the table itself truncates its partitions too.
   */
  private async refuseTruncatedPartitions(group: string, tables: readonly VerifyTable[], window: TriggerWindowChanges): Promise<void> {
    const compared = new Set(tables.map((t) => t.label));
    for (const { relationId, alongside } of window.otherTruncates) {
      const ancestors = (await this.holder.query<{ schema: string; name: string }>(verifySql.partitionAncestors, [relationId])).rows.map(tableLabel);
      const table = ancestors.find((label) => compared.has(label));
      if (table && !ancestors.some((label) => alongside.has(label))) {
        throw new FerryError('FERRY_VERIFY_UNRESOLVED', `a partition of ${table} was truncated while ${table} was compared; it cannot be matched to rows`,
          'run "ferry verify" again', { exitCode: ExitCode.usage, context: { group, table } });
      }
    }
  }

  /** Releases the queues (they may be emptied again) and closes the connections. */
  async close(): Promise<void> {
    await this.holder.query('COMMIT').catch(() => undefined);
    await Promise.all([this.holder.end().catch(() => undefined), this.control.end().catch(() => undefined)]);
  }
}
