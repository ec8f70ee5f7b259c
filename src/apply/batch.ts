import type { PgTimestamp } from '../change/change.js';
import type { HeldChange } from '../change/held-change.js';
import { START, type Position } from '../source/position.js';
import type { BatchPart, SourceEvent } from '../source/source.js';

export type BatchChange = Extract<SourceEvent, { kind: 'relation' | 'insert' | 'update' | 'delete' | 'truncate' | 'message' | 'unreadable' }>;

/**
 * A slice of the source stream applied in one go. Only a batch with `commit`
 * ends the target transaction; one without is the first part of a source
 * transaction too large for a single batch.
 */
export interface Batch {
  readonly changes: BatchChange[];
  readonly rows: number;
  /** Changes of tables joining the group, stored on the target until their copy is done (see hold-joining-changes.ts). */
  readonly held?: readonly HeldChange[];
  /** Present when the batch ends at a source commit: the position to store and acknowledge. */
  readonly commit?: { readonly position: Position; readonly commitTime: PgTimestamp; readonly transactions: number; readonly part?: BatchPart };
  /** The source is idle up to here; acknowledge it once nothing is in flight. */
  readonly idle?: Position;
  /** The source's clock when it was idle up to `idle`, if known. */
  readonly idleTime?: PgTimestamp;
}

export interface BatchLimits {
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly maxDelayMs: number;
}

const IDLE = Symbol('idle');
const READY = Symbol('ready');

/**
 * Cuts whole source transactions into batches. A batch closes at a commit
 * when it is full (rows, bytes), old (maxDelayMs), or when no further event
 * is ready right now, so a quiet stream is applied at once and a busy one in
 * large target transactions. With `wanted`, also at the first commit at
 * which the applier has nothing to do: a backlog starts on the target at
 * once, and the batches after that are what arrived while the one before was
 * applied.
 */
export async function* batches(events: AsyncIterable<readonly (SourceEvent | HeldChange)[]>, limits: BatchLimits, wanted?: () => boolean): AsyncGenerator<Batch> {
  const it = events[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<readonly (SourceEvent | HeldChange)[]>> | undefined;
  const next = () => (pending ??= it.next());

  let changes: BatchChange[] = [];
  let held: HeldChange[] = [];
  let rows = 0;
  let bytes = 0;
  let transactions = 0;
  let openedAt = 0;
  let inTransaction = false;
  let commitPosition = START;
  let commitTime: PgTimestamp = 0n;
  let commitPart: BatchPart | undefined;
  const reset = () => { changes = []; held = []; rows = 0; bytes = 0; transactions = 0; };
  const cut = (): Batch => ({ changes, rows, ...(held.length > 0 ? { held } : {}), ...(transactions > 0 ? { commit: lastCommit() } : {}) });

  for (;;) {
    let result: IteratorResult<readonly (SourceEvent | HeldChange)[]>;
    if (changes.length > 0 || held.length > 0 || transactions > 0) {
      // Something is waiting to be applied: take more events only if they are ready.
      // The race yields a token, not the events: while events keep arriving as
      // microtasks the timer callbacks wait, and each would hold on to its value.
      const ready = await Promise.race([next().then(() => READY), new Promise<typeof IDLE>((r) => setImmediate(() => r(IDLE)))]);
      if (ready === IDLE && !inTransaction) {
        // Only descriptions (of a skipped transaction) may be waiting: nothing to commit then.
        yield cut();
        reset();
        continue;
      }
      result = await next();
    } else {
      result = await next();
    }
    pending = undefined;
    if (result.done) return;
    // Indexed: across a yield, for…of over an array makes an iterator result per event.
    const arrived = result.value;
    for (let i = 0; i < arrived.length; i++) {
      const event = arrived[i] as SourceEvent | HeldChange;
      switch (event.kind) {
        case 'begin':
          inTransaction = true;
          if (changes.length === 0 && transactions === 0) openedAt = Date.now();
          break;
        case 'commit':
          inTransaction = false;
          transactions++;
          commitPosition = event.position;
          commitTime = event.commitTime;
          commitPart = event.part;
          if (rows >= limits.maxRows || bytes >= limits.maxBytes || Date.now() - openedAt >= limits.maxDelayMs || wanted?.() === true) {
            yield cut();
            reset();
          }
          break;
        case 'idle':
          if (changes.length === 0 && held.length === 0 && transactions === 0 && !inTransaction) yield { changes: [], rows: 0, idle: event.position, idleTime: event.time };
          break;
        default:
          if (event.kind === 'held') {
            held.push(event);
            rows++;
            bytes += approximateBytes(event.change);
          } else {
            changes.push(event);
            if (event.kind !== 'relation' && event.kind !== 'message') {
              rows++;
              bytes += approximateBytes(event);
            }
          }
          // A transaction far larger than a batch goes out in parts; the target commits at its end.
          // (Twice the limit: a transaction of about one batch's size is better kept whole.)
          if (inTransaction && (rows >= 2 * limits.maxRows || bytes >= 2 * limits.maxBytes)) {
            yield { changes, rows, ...(held.length > 0 ? { held } : {}) };
            changes = [];
            held = [];
            rows = 0;
            bytes = 0;
          }
      }
    }
  }

  function lastCommit() {
    return { position: commitPosition, commitTime, transactions, ...(commitPart ? { part: commitPart } : {}) };
  }
}

function approximateBytes(event: BatchChange | HeldChange['change']): number {
  let n = 16;
  // Encoded rows know their size without being decoded.
  if (event.kind === 'insert' && event.encoded) return n + event.encoded.byteLength;
  if (event.kind === 'delete' && event.encodedOld) return n + event.encodedOld.byteLength;
  if (event.kind === 'update' && event.encodedValues) return n + event.encodedValues.byteLength + (event.encodedOld?.byteLength ?? 0);
  const tuples = event.kind === 'insert' ? [event.values]
    : event.kind === 'update' ? [event.values, event.old]
    : event.kind === 'delete' ? [event.old] : [];
  for (const tuple of tuples) {
    if (!tuple) continue;
    for (const v of tuple) if (v) n += v.length;
  }
  return n;
}
