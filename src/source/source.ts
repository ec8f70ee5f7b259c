import type { Change, Lsn, PgTimestamp } from '../change/change.js';

/**
 * What every capture method (WAL, trigger queue, later binlog) delivers: whole
 * committed source transactions, in commit order, one event at a time so a
 * transaction of any size streams through with bounded memory.
 */
export type SourceEvent =
  /** `commitPosition` orders the transaction among all others (for WAL: its commit record's LSN). */
  | { readonly kind: 'begin'; readonly xid: number; readonly commitTime: PgTimestamp; readonly commitPosition: Lsn }
  | Extract<Change, { kind: 'relation' | 'insert' | 'update' | 'delete' | 'truncate' | 'message' | 'unreadable' }>
  | { readonly kind: 'commit'; readonly position: Lsn; readonly commitTime: PgTimestamp; readonly part?: BatchPart }
  /**
   * Nothing is in flight: every transaction before `position` has been
   * delivered. `time` is the source's clock when that was so, if known.
   */
  | { readonly kind: 'idle'; readonly position: Lsn; readonly time?: PgTimestamp };

/**
 * Trigger capture: a commit inside the batch after tick `position`. Its
 * transactions are delivered one after another in order of `key` (see
 * openParts), so "every transaction of that batch up to `key`" is an exact
 * place to resume from, and the target may commit there.
 */
export interface BatchPart {
  /** The sort key of the last transaction applied. */
  readonly key: bigint;
  /** Events of the batch up to and including that transaction, and in all: progress for `status`. */
  readonly events: bigint;
  readonly total: bigint;
}

export interface ChangeStream {
  /**
   * Events after `startAfter`; a transaction at or before it is never
   * delivered. In arrays of whatever has arrived, so that a busy stream costs
   * one await per array rather than per row.
   */
  events(): AsyncIterable<readonly SourceEvent[]>;
  /**
   * Everything up to `position` is committed on the target: the source may
   * forget it. Called only after the target commit, never earlier.
   */
  acknowledge(position: Lsn): void;
  close(): Promise<void>;
}
