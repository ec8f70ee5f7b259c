import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Relation, Value } from '../src/change/change.js';
import { batches, type Batch, type BatchLimits } from '../src/apply/batch.js';
import { numbersOf, positionOfNumbers, type Position } from '../src/source/position.js';
import type { SourceEvent } from '../src/source/source.js';

/*
 * How the batcher cuts a stream of source events into batches, without a
 * server. A case is a list of steps: a run of events arriving together, a
 * pause (nothing more is ready for a while), or the clock moving on. Each
 * batch is summarised as "changes | rows | commit position (commit time) ×
 * transactions", "… | open" for a batch that leaves the target transaction
 * open, or "idle position".
 */

const PAUSE = 'pause';
/** `{ applierWaits }`: from here on the applier waits for a batch (true) or is busy (false). */
type Step = readonly SourceEvent[] | typeof PAUSE | { readonly advanceMs: number } | { readonly applierWaits: boolean };

const RELATION: Relation = {
  relationId: 1,
  schema: 'public',
  table: 't',
  replicaIdentity: 'default',
  columns: [{ name: 'id', typeOid: 25, typeMod: -1, isKey: true }, { name: 'v', typeOid: 25, typeMod: -1, isKey: false }],
};

const rel = (): SourceEvent => ({ kind: 'relation', relation: RELATION });
const msg = (): SourceEvent => ({ kind: 'message', transactional: true, lsn: 1n, prefix: 'p', content: Buffer.alloc(0) });
/** An insert whose size (as the batcher counts it: 16 + the values' lengths) is `bytes`, at least 17. */
const ins = (id: number, bytes = 17): SourceEvent => ({ kind: 'insert', relationId: 1, values: [String(id), 'x'.repeat(bytes - 16 - String(id).length)] });
const upd = (id: number, values: Value[], old: Value[]): SourceEvent => ({ kind: 'update', relationId: 1, values: [String(id), ...values], old: [String(id), ...old], oldIsKeyOnly: false });
const del = (id: number): SourceEvent => ({ kind: 'delete', relationId: 1, old: [String(id), null], oldIsKeyOnly: true });
/** Positions are numbers here, printed as such. */
const at = (n: number): Position => positionOfNumbers(BigInt(n));
const shown = (position: Position): string => String(numbersOf(position)[0]);
const idle = (position: number): SourceEvent => ({ kind: 'idle', position: at(position) });
const begin = (n: number): SourceEvent => ({ kind: 'begin', xid: n, commitTime: BigInt(n), commitPosition: at(n * 100 - 8) });
/** Transaction n commits at position n×100 with commit time n. */
const commit = (n: number): SourceEvent => ({ kind: 'commit', position: at(n * 100), commitTime: BigInt(n) });
const tx = (n: number, ...changes: SourceEvent[]): SourceEvent[] => [begin(n), ...changes, commit(n)];

function label(change: Batch['changes'][number]): string {
  switch (change.kind) {
    case 'relation': return 'r';
    case 'message': return 'm';
    case 'truncate': return 't';
    case 'insert': return `i${String(change.values[0])}`;
    case 'update': return `u${String(change.values[0])}`;
    case 'delete': return `d${String(change.old[0])}`;
    case 'unreadable': return `x${change.relation.relationId}`;
  }
}

function summary(batch: Batch): string {
  if (batch.idle !== undefined) {
    assert.equal(batch.changes.length, 0, 'an idle batch has no changes');
    assert.equal(batch.commit, undefined, 'an idle batch has no commit');
    return `idle ${shown(batch.idle)}`;
  }
  const end = batch.commit ? `commit ${shown(batch.commit.position)} (t${batch.commit.commitTime}) ×${batch.commit.transactions}` : 'open';
  return `${batch.changes.map(label).join(' ')} | ${batch.rows} rows | ${end}`;
}

/** The clock the batcher reads (Date.now), moved only by the steps. */
let now = 0;
/** What the batcher is told of the applier, set only by the steps. */
let applierWaits = false;

async function* feed(steps: readonly Step[]): AsyncGenerator<readonly SourceEvent[]> {
  for (const step of steps) {
    // Longer than the batcher's one turn of the event loop: it sees nothing ready.
    if (step === PAUSE) await new Promise((resolve) => setTimeout(resolve, 5));
    else if ('advanceMs' in step) now += step.advanceMs;
    else if ('applierWaits' in step) applierWaits = step.applierWaits;
    else yield step;
  }
}

const LARGE: BatchLimits = { maxRows: 1_000_000, maxBytes: 1e12, maxDelayMs: 1e12 };

interface Case {
  readonly name: string;
  readonly limits?: Partial<BatchLimits>;
  readonly steps: readonly Step[];
  readonly batches: readonly string[];
}

const cases: readonly Case[] = [
  // Transaction boundaries and readiness.
  {
    name: 'a quiet stream: each transaction is applied as soon as nothing more is ready',
    steps: [tx(1, ins(1), ins(2)), PAUSE, tx(2, ins(3)), PAUSE],
    batches: ['i1 i2 | 2 rows | commit 100 (t1) ×1', 'i3 | 1 rows | commit 200 (t2) ×1'],
  },
  {
    name: 'a busy stream: transactions that arrive back to back make one batch',
    steps: [tx(1, ins(1)), tx(2, upd(1, ['b'], ['a'])), tx(3, del(1)), PAUSE],
    batches: ['i1 u1 d1 | 3 rows | commit 300 (t3) ×3'],
  },
  {
    name: 'a transaction split across runs with a pause inside is not cut at the pause',
    steps: [[begin(1), ins(1)], PAUSE, [ins(2)], PAUSE, [commit(1)], PAUSE],
    batches: ['i1 i2 | 2 rows | commit 100 (t1) ×1'],
  },
  {
    name: 'an empty transaction still yields its commit position',
    steps: [tx(1), PAUSE],
    batches: [' | 0 rows | commit 100 (t1) ×1'],
  },
  {
    name: 'descriptions outside a transaction (of a skipped one): a batch with nothing to commit',
    steps: [[rel()], PAUSE, tx(2, ins(1)), PAUSE],
    batches: ['r | 0 rows | open', 'i1 | 1 rows | commit 200 (t2) ×1'],
  },
  {
    // Never acknowledged, so the source delivers it again on the next start.
    name: 'the end of the stream drops a batch not yet cut',
    steps: [tx(1, ins(1)), PAUSE, tx(2, ins(2))],
    batches: ['i1 | 1 rows | commit 100 (t1) ×1'],
  },

  // maxRows and maxBytes: checked at commits only.
  {
    name: 'maxRows: the batch is cut at the first commit that reaches the limit',
    limits: { maxRows: 3 },
    steps: [[...tx(1, ins(1), ins(2)), ...tx(2, ins(3), ins(4)), ...tx(3, ins(5))], PAUSE],
    batches: ['i1 i2 i3 i4 | 4 rows | commit 200 (t2) ×2', 'i5 | 1 rows | commit 300 (t3) ×1'],
  },
  {
    name: 'maxRows: exactly the limit is full',
    limits: { maxRows: 2 },
    steps: [[...tx(1, ins(1), ins(2)), ...tx(2, ins(3))], PAUSE],
    batches: ['i1 i2 | 2 rows | commit 100 (t1) ×1', 'i3 | 1 rows | commit 200 (t2) ×1'],
  },
  {
    name: 'maxRows: descriptions and messages are not rows',
    limits: { maxRows: 2 },
    steps: [[...tx(1, rel(), msg(), ins(1)), ...tx(2, ins(2)), ...tx(3, ins(3))], PAUSE],
    batches: ['r m i1 i2 | 2 rows | commit 200 (t2) ×2', 'i3 | 1 rows | commit 300 (t3) ×1'],
  },
  {
    name: 'maxBytes: the batch is cut at the first commit that reaches the limit',
    limits: { maxBytes: 100 },
    steps: [[...tx(1, ins(1, 50)), ...tx(2, ins(2, 50)), ...tx(3, ins(3, 50))], PAUSE],
    batches: ['i1 i2 | 2 rows | commit 200 (t2) ×2', 'i3 | 1 rows | commit 300 (t3) ×1'],
  },
  {
    name: 'maxBytes: an update counts its old and its new row',
    limits: { maxBytes: 80 },
    // 16 + (1 + 33) + (1 + 33) = 84 bytes; the new row alone would be 50.
    steps: [[...tx(1, upd(1, ['y'.repeat(33)], ['z'.repeat(33)])), ...tx(2, ins(2))], PAUSE],
    batches: ['u1 | 1 rows | commit 100 (t1) ×1', 'i2 | 1 rows | commit 200 (t2) ×1'],
  },

  // A transaction far larger than a batch.
  {
    name: 'a transaction up to twice maxRows is kept whole',
    limits: { maxRows: 2 },
    steps: [tx(1, ins(1), ins(2), ins(3)), PAUSE],
    batches: ['i1 i2 i3 | 3 rows | commit 100 (t1) ×1'],
  },
  {
    name: 'a transaction of twice maxRows goes out in parts; only the last carries the commit',
    limits: { maxRows: 2 },
    steps: [tx(1, ins(1), ins(2), ins(3), ins(4), ins(5), ins(6), ins(7), ins(8), ins(9)), PAUSE],
    batches: ['i1 i2 i3 i4 | 4 rows | open', 'i5 i6 i7 i8 | 4 rows | open', 'i9 | 1 rows | commit 100 (t1) ×1'],
  },
  {
    name: 'a transaction of twice maxBytes goes out in parts',
    limits: { maxBytes: 100 },
    steps: [tx(1, ins(1, 50), ins(2, 50), ins(3, 50), ins(4, 50), ins(5, 50)), PAUSE],
    batches: ['i1 i2 i3 i4 | 4 rows | open', 'i5 | 1 rows | commit 100 (t1) ×1'],
  },
  {
    name: 'a part takes along the committed transactions before it; the final commit counts them',
    limits: { maxRows: 2 },
    steps: [[...tx(1, ins(1)), ...tx(2, ins(2), ins(3), ins(4), ins(5))], PAUSE],
    batches: ['i1 i2 i3 i4 | 4 rows | open', 'i5 | 1 rows | commit 200 (t2) ×2'],
  },
  {
    name: 'a part is cut even while more events are ready; a pause inside the transaction cuts nothing',
    limits: { maxRows: 1 },
    steps: [[begin(1), ins(1)], PAUSE, [ins(2)], [ins(3)], PAUSE, [commit(1)], PAUSE],
    batches: ['i1 i2 | 2 rows | open', 'i3 | 1 rows | commit 100 (t1) ×1'],
  },

  // maxDelayMs: measured from the begin of the batch's first transaction, checked at commits.
  {
    name: 'maxDelay reached at a commit: the batch is cut although more is ready',
    limits: { maxDelayMs: 1000 },
    steps: [[begin(1), ins(1)], { advanceMs: 1000 }, [commit(1)], tx(2, ins(2)), PAUSE],
    batches: ['i1 | 1 rows | commit 100 (t1) ×1', 'i2 | 1 rows | commit 200 (t2) ×1'],
  },
  {
    name: 'maxDelay not reached: transactions that arrive together stay in one batch',
    limits: { maxDelayMs: 1000 },
    steps: [[begin(1), ins(1)], { advanceMs: 999 }, [commit(1)], tx(2, ins(2)), PAUSE],
    batches: ['i1 i2 | 2 rows | commit 200 (t2) ×2'],
  },
  {
    name: 'maxDelay counts from the first transaction of the batch, and afresh after a cut',
    limits: { maxDelayMs: 1000 },
    steps: [
      tx(1, ins(1)), { advanceMs: 600 }, tx(2, ins(2)), { advanceMs: 600 }, tx(3, ins(3)),
      { advanceMs: 500 }, tx(4, ins(4)), { advanceMs: 499 }, tx(5, ins(5)), PAUSE,
    ],
    batches: ['i1 i2 i3 | 3 rows | commit 300 (t3) ×3', 'i4 i5 | 2 rows | commit 500 (t5) ×2'],
  },

  // Whether the applier waits for a batch (a case that sets it passes the batcher that question).
  {
    name: 'the applier waits: the batch is cut at the first commit, although more is ready',
    steps: [{ applierWaits: true }, [...tx(1, ins(1)), ...tx(2, ins(2))], PAUSE],
    batches: ['i1 | 1 rows | commit 100 (t1) ×1', 'i2 | 1 rows | commit 200 (t2) ×1'],
  },
  {
    name: 'the applier is busy: transactions that arrive back to back make one batch',
    steps: [{ applierWaits: false }, [...tx(1, ins(1)), ...tx(2, ins(2))], PAUSE],
    batches: ['i1 i2 | 2 rows | commit 200 (t2) ×2'],
  },
  {
    name: 'the applier waits: a transaction is not cut before its commit',
    steps: [{ applierWaits: true }, [begin(1), ins(1)], [ins(2), commit(1)], PAUSE],
    batches: ['i1 i2 | 2 rows | commit 100 (t1) ×1'],
  },
  {
    name: 'the applier becomes free: what gathered while it was busy goes at the next commit',
    steps: [{ applierWaits: false }, [...tx(1, ins(1)), ...tx(2, ins(2)), begin(3), ins(3)], { applierWaits: true }, [commit(3), ...tx(4, ins(4))], PAUSE],
    batches: ['i1 i2 i3 | 3 rows | commit 300 (t3) ×3', 'i4 | 1 rows | commit 400 (t4) ×1'],
  },

  // Idle events.
  {
    name: 'idle with nothing pending: an idle batch',
    steps: [[idle(50)], PAUSE, tx(1, ins(1)), PAUSE, [idle(150)], PAUSE],
    batches: ['idle 50', 'i1 | 1 rows | commit 100 (t1) ×1', 'idle 150'],
  },
  {
    name: 'idle while a batch is pending is dropped: that batch\'s commit moves the position',
    steps: [[...tx(1, ins(1)), idle(150)], PAUSE],
    batches: ['i1 | 1 rows | commit 100 (t1) ×1'],
  },
  {
    name: 'idle inside a transaction is dropped',
    steps: [[begin(1)], [idle(50)], [ins(1), commit(1)], PAUSE],
    batches: ['i1 | 1 rows | commit 100 (t1) ×1'],
  },
];

describe('batch cutting', () => {
  for (const c of cases) {
    test(c.name, async (t) => {
      now = 0;
      applierWaits = false;
      t.mock.method(Date, 'now', () => now);
      const out: string[] = [];
      const asks = c.steps.some((step) => typeof step === 'object' && 'applierWaits' in step);
      for await (const batch of batches(feed(c.steps), { ...LARGE, ...c.limits }, asks ? () => applierWaits : undefined)) out.push(summary(batch));
      assert.deepEqual(out, c.batches);
    });
  }
});
