import type pg from 'pg';
import { FerryError } from '../../errors.js';
import type { Logger } from '../../observe/logger.js';
import { ddlCaptureOn } from '../ddl-capture/ddl-capture-install.js';
import { connect } from '../../pg/connect.js';
import type { Position } from '../position.js';
import type { ChangeStream, SourceEvent } from '../source.js';
import { captureNewPartitions, queueExists, queuedTables } from './capture-install.js';
import { EventDecoder } from './event-decoder.js';
import { reconcileRotation, releaseUpTo, rotateIfDue } from './queue-maintenance.js';
import { RelationLayouts, type KnownColumn } from './relation-layouts.js';
import { insertTick, queueMissing, tickFromRow, tickOf, tickPosition, type Tick } from './ticks.js';
import { queueNames, triggerSql, type QueueNames } from './trigger-sql.js';

export interface TriggerStreamOptions {
  readonly url: string;
  readonly group: string;
  /** The last tick applied on the target. */
  readonly startAfter: bigint;
  /** The target stands inside the batch after `startAfter`: its transactions up to this key are applied. */
  readonly startAfterPart?: bigint;
  /** While events arrive, a tick (a batch boundary) at most this often. */
  readonly tickIntervalMs: number;
  /** Without events, a tick this often all the same (status and queue rotation keep moving). */
  readonly idleTickMs: number;
  /** How often capture moves on to the next queue table. */
  readonly rotateIntervalMs: number;
  /**
   * Per source table, the columns the target last recorded for it
   * (ferry.source_columns): the layout its queued rows after `startAfter`
   * start from (see RelationLayouts).
   */
  readonly knownColumns?: ReadonlyMap<number, readonly KnownColumn[]>;
  /** Events fetched from the source at a time. */
  readonly fetchRows?: number;
  readonly log?: Logger;
}

/** A row of openParts: the event, then its transaction's key, events up to it, and the batch's events. */
type PartRow = [txid: string, rel: string, op: string, newRow: string | null, oldRow: string | null, key: string, upto: string, total: string];

/** Acknowledgements are passed to the source at most this often. */
const RELEASE_INTERVAL_MS = 1000;
const ROTATION_CHECK_MS = 1000;
/** How long a stop waits to pass on the last acknowledgement. */
const FINAL_ACK_TIMEOUT_MS = 5_000;

/**
 * Trigger capture's change stream, the ticker included: no daemon runs
 * beside `ferry run`. It ticks the group's queue (a tick records a
 * transaction snapshot), and delivers, tick after tick, the events of the
 * transactions that became visible between two ticks as one unit ending at
 * the later tick: in event order (see openBatch), never part of a
 * transaction, never a transaction ahead of one it depends on. The target
 * stores that tick id as the group's position; acknowledged ticks let the
 * queue drop what is applied.
 */
export class TriggerStream implements ChangeStream {
  private readonly names: QueueNames;
  private readonly decoder: EventDecoder;
  private readonly layouts: RelationLayouts;
  /** Ticks: the last one the target has applied whole, and the last one passed on to the source. */
  private acked: bigint;
  private released: bigint;
  private releasedAt = 0;
  private rotationCheckedAt = 0;
  private lastTickAt = 0;
  private closed = false;
  private wake: (() => void) | undefined;
  /** New partitions the role may not add a TRUNCATE trigger to, warned about once. */
  private readonly refused = new Set<string>();
  readonly details: Readonly<Record<string, string>> = {};

  private constructor(
    private readonly client: pg.Client, private readonly options: TriggerStreamOptions, private readonly start: Tick, private readonly roots: number[],
    ddlCaptured: boolean,
  ) {
    this.names = queueNames(options.group);
    this.layouts = new RelationLayouts(client, options.group, roots, options.knownColumns, false, ddlCaptured);
    this.decoder = new EventDecoder(this.layouts, options.group);
    this.acked = options.startAfter;
    this.released = options.startAfter;
  }

  static async open(options: TriggerStreamOptions): Promise<TriggerStream> {
    const client = await connect(options.url, { role: 'source', applicationName: `ferry:${options.group}` });
    try {
      if (!(await queueExists(client, options.group))) throw queueMissing(options.group);
      const row = (await client.query(triggerSql.tick, [options.group, options.startAfter.toString()])).rows[0];
      if (!row) {
        throw new FerryError('FERRY_TRIGGER_TICK_MISSING',
          `the source's queue no longer has tick ${options.startAfter}, where the target's position of group ${options.group} is`,
          `the target is behind what the source already released (restored from a backup?): run "ferry drop" and "ferry init" again for group ${options.group}`,
          { context: { group: options.group, position: `tick ${options.startAfter}` } });
      }
      const roots = await queuedTables(client, options.group);
      await reconcileRotation(client, options.group);
      return new TriggerStream(client, options, tickFromRow(row), roots, await ddlCaptureOn(client, options.group));
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  async *events(): AsyncGenerator<readonly SourceEvent[]> {
    let previous = this.start;
    // The batch after the start tick exists already when the target stands inside it.
    let after = this.options.startAfterPart;
    while (!this.closed) {
      await this.maintain();
      const next = await this.tickAfter(previous);
      if (next === 'ticked') continue;
      if (next === 'nothing yet') {
        await this.sleep(this.options.tickIntervalMs);
        continue;
      }
      yield* this.batch(previous, next, after);
      after = undefined;
      previous = next;
    }
  }

  /** Inside a batch applied in parts, its tick is applied whole and the batch is not. */
  acknowledge(position: Position): void {
    const { tick } = tickOf(position);
    if (tick > this.acked) this.acked = tick;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    // The stream's connection may be half way through a batch or a tick: end it,
    // then pass on the last acknowledgement over a connection of its own.
    await this.client.end().catch(() => undefined);
    if (this.acked <= this.released) return;
    // An unreachable source must not hold up a stop or a reconnect: the next run passes it on.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.acknowledgeOnce(), new Promise((resolve) => { timer = setTimeout(resolve, FINAL_ACK_TIMEOUT_MS); })]);
    clearTimeout(timer);
  }

  private async acknowledgeOnce(): Promise<void> {
    try {
      const client = await connect(this.options.url, { role: 'source', applicationName: `ferry:${this.options.group}` });
      try {
        // Only the acknowledgement: emptying queue tables is left to a stream, whose maintenance runs one at a time.
        await client.query(triggerSql.acknowledge, [this.options.group, this.acked.toString()]);
      } finally {
        await client.end().catch(() => undefined);
      }
    } catch (err) {
      this.options.log?.debug({ err: (err as Error).message }, 'the last acknowledgement is passed on by the next run');
    }
  }

  /**
   * The batch from tick `from` to tick `to`, one source transaction after
   * another in the order of openParts. Each transaction but the last commits
   * at a part of the batch: position `from` with the transaction's key. The
   * target may commit there, so a backlog that became one batch (everything
   * queued while `ferry run` was stopped) is applied in target transactions
   * of bounded size, never half a source transaction. The last one commits
   * at `to`, a whole tick. `after` resumes a batch the target stands inside:
   * the transactions up to that key are applied already.
   *
   * Every begin's commit position is `to` less one: a copy read under tick
   * T's snapshot holds this batch exactly when `to` ≤ T.
   */
  private async *batch(from: Tick, to: Tick, after?: bigint): AsyncGenerator<SourceEvent[]> {
    const begin: SourceEvent = { kind: 'begin', xid: 0, commitTime: to.timeUs, commitPosition: tickPosition(to.id - 1n) };
    let out: SourceEvent[] = [];
    const fetch = this.options.fetchRows ?? 10_000;
    /** The transaction being delivered: its txid and its row's key and counts. */
    let open: PartRow | undefined;
    let done = false;
    try {
      await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      this.layouts.refresh();
      await this.client.query(triggerSql.openParts(this.names),
        [from.snapshot.xmax.toString(), to.snapshot.xmax.toString(), from.snapshot.xip.map(String), to.snapshot.text, from.snapshot.text, (after ?? 0n).toString(), null]);
      const fetchNext = () => {
        const rows = this.client.query<PartRow>({ text: triggerSql.fetchBatch(fetch), rowMode: 'array' });
        rows.catch(() => undefined);
        return rows;
      };
      let pending = fetchNext();
      for (;;) {
        const rows = (await pending).rows;
        const more = rows.length === fetch;
        // The source sends the next rows while these are decoded.
        if (more) pending = fetchNext();
        let start = 0;
        for (let i = 0; i <= rows.length; i++) {
          const row = rows[i];
          if (row !== undefined && row[0] === open?.[0]) continue;
          if (i > start) await this.decoder.decode(rows.slice(start, i), out);
          if (row === undefined) break;
          if (open) this.commitPart(open, from, out);
          out.push(begin);
          open = row;
          start = i;
        }
        if (!more) break;
        if (out.length > 0) yield out;
        out = [];
      }
      await this.client.query(triggerSql.closeBatch);
      await this.client.query('COMMIT');
      done = true;
    } catch (err) {
      throw err instanceof FerryError ? err : new FerryError('FERRY_TRIGGER_READ', `reading the queue of group ${this.options.group} failed: ${(err as Error).message}`,
        undefined, { context: { group: this.options.group, position: `tick ${from.id}` }, cause: err });
    } finally {
      // Also when the consumer stops half way through the batch.
      if (!done) await this.client.query('ROLLBACK').catch(() => undefined);
    }
    // An empty batch still moves the position on to its tick.
    if (!open) out.push(begin);
    this.decoder.finish(out);
    out.push({ kind: 'commit', position: tickPosition(to.id), commitTime: to.timeUs });
    yield out;
  }

  /**
   * The end of a transaction that is not the batch's last: the target
   * stands after tick `from` and inside the batch. Its commit time is
   * `from`'s: the target is caught up to that tick, no further, until the
   * batch is applied.
   */
  private commitPart(row: PartRow, from: Tick, out: SourceEvent[]): void {
    this.decoder.finish(out);
    out.push({ kind: 'commit', position: tickPosition(from.id, BigInt(row[5])), commitTime: from.timeUs, part: { events: BigInt(row[6]), total: BigInt(row[7]) } });
  }

  /** The tick after `previous`; else whether one was just taken. */
  private async tickAfter(previous: Tick): Promise<Tick | 'ticked' | 'nothing yet'> {
    const row = (await this.client.query(triggerSql.ticksAfter, [this.options.group, previous.id.toString(), 1])).rows[0];
    if (row) return tickFromRow(row);
    return (await this.tickIfDue()) ? 'ticked' : 'nothing yet';
  }

  /** A tick when events wait and the last tick is `tickIntervalMs` old, or when none was taken for `idleTickMs`. */
  private async tickIfDue(): Promise<boolean> {
    const since = Date.now() - this.lastTickAt;
    if (since < this.options.tickIntervalMs) return false;
    const latest = (await this.client.query<{ events_after: boolean }>(triggerSql.latestTick(this.names), [this.options.group])).rows[0];
    if (!latest?.events_after && since < this.options.idleTickMs) return false;
    await insertTick(this.client, this.options.group);
    this.lastTickAt = Date.now();
    return true;
  }

  private async maintain(): Promise<void> {
    const now = Date.now();
    if (this.acked > this.released && now - this.releasedAt >= RELEASE_INTERVAL_MS) {
      const emptied = await releaseUpTo(this.client, this.options.group, this.acked);
      if (emptied.length > 0) this.options.log?.debug({ tables: emptied.map((slot) => this.names.slot(slot)), acked: `tick ${this.acked}` }, 'consumed queue tables emptied');
      this.released = this.acked;
      this.releasedAt = now;
    }
    if (now - this.rotationCheckedAt >= Math.min(ROTATION_CHECK_MS, this.options.rotateIntervalMs)) {
      this.rotationCheckedAt = now;
      const captured = await captureNewPartitions(this.client, this.options.group, this.roots);
      if (captured.done.length > 0) this.options.log?.info({ partitions: captured.done }, 'capture completed on new partitions (their TRUNCATE trigger)');
      const refused = captured.refused.filter((p) => !this.refused.has(p));
      for (const p of refused) this.refused.add(p);
      if (refused.length > 0) {
        this.options.log?.warn({ partitions: refused },
          "a TRUNCATE of these new partitions is not captured: the source role does not own them (their rows are); make it their owner, and ferry run completes their capture");
      }
      if (await rotateIfDue(this.client, this.options.group, this.options.rotateIntervalMs)) this.options.log?.debug('capture moved on to the next queue table');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => { clearTimeout(timer); resolve(); };
    });
  }
}
