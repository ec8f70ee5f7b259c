import type { Change, PgTimestamp } from '../change/change.js';
import type { Position } from './position.js';

/**
 * What every capture method (WAL, trigger queue, later binlog) delivers: whole
 * committed source transactions, in commit order, one event at a time so a
 * transaction of any size streams through with bounded memory.
 */
export type SourceEvent =
  /**
   * `commitPosition` orders the transaction among all others (for WAL: its
   * commit record's LSN): a copy read under a snapshot at position P holds it
   * exactly when `commitPosition` < P.
   */
  | { readonly kind: 'begin'; readonly xid: number; readonly commitTime: PgTimestamp; readonly commitPosition: Position }
  | Extract<Change, { kind: 'relation' | 'insert' | 'update' | 'delete' | 'truncate' | 'message' | 'unreadable' }>
  | { readonly kind: 'commit'; readonly position: Position; readonly commitTime: PgTimestamp; readonly part?: BatchPart }
  /**
   * Nothing is in flight: every transaction before `position` has been
   * delivered. `time` is the source's clock when that was so, if known.
   */
  | { readonly kind: 'idle'; readonly position: Position; readonly time?: PgTimestamp };

/**
 * A commit inside a batch the source delivers whole but the target may
 * commit in parts (trigger capture: the transactions between two ticks; its
 * position says which of them are applied): how far through it, for `status`.
 */
export interface BatchPart {
  /** Events of the batch up to and including this commit's transaction, and in all. */
  readonly events: bigint;
  readonly total: bigint;
}

export interface ChangeStream {
  /**
   * Events after the position the stream was opened at; a transaction at or
   * before it is never delivered. In arrays of whatever has arrived, so that
   * a busy stream costs one await per array rather than per row.
   */
  events(): AsyncIterable<readonly SourceEvent[]>;
  /**
   * Everything up to `position` is committed on the target: the source may
   * forget it. Called only after the target commit, never earlier.
   */
  acknowledge(position: Position): void;
  /** How the stream reads, for the log line that says it started (WAL: values as binary or text). */
  readonly details: Readonly<Record<string, string>>;
  close(): Promise<void>;
}
