import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { TransactionSpool } from '../src/source/pg-wal/transaction-spool.js';

/*
 * The spool of streamed in-progress transactions, on a real directory: what
 * is appended comes back in order at replay, aborted subtransactions are cut
 * off, and no file outlives its transaction.
 */

let parent: string;
let spool: TransactionSpool;

beforeEach(() => {
  parent = mkdtempSync(path.join(tmpdir(), 'spool-test-'));
  spool = new TransactionSpool(parent, 'g');
});

afterEach(() => {
  spool.close();
  rmSync(parent, { recursive: true, force: true });
});

/** The spool's own directory (one per spool, inside the directory it was given). */
function spoolDir(): string {
  const dirs = readdirSync(parent);
  assert.equal(dirs.length, 1, `one spool directory expected, found ${dirs.join(', ')}`);
  assert.match(dirs[0] as string, /^ferry-spool-g-/);
  return path.join(parent, dirs[0] as string);
}

function files(): string[] {
  return readdirSync(spoolDir()).sort();
}

function replayText(xid: number): string[] {
  return [...spool.replay(xid)].map((b) => b.toString());
}

type Op =
  | { readonly append: readonly [top: number, sub: number, text: string] }
  | { readonly flush: number }
  | { readonly abort: readonly [top: number, sub: number] }
  | { readonly discard: number };

const append = (top: number, sub: number, text: string): Op => ({ append: [top, sub, text] });
const flush = (top: number): Op => ({ flush: top });
const abort = (top: number, sub: number): Op => ({ abort: [top, sub] });
const discard = (top: number): Op => ({ discard: top });

function run(op: Op): void {
  if ('append' in op) spool.append(op.append[0], op.append[1], Buffer.from(op.append[2]));
  else if ('flush' in op) spool.flush(op.flush);
  else if ('abort' in op) spool.abort(op.abort[0], op.abort[1]);
  else spool.discard(op.discard);
}

interface Case {
  readonly name: string;
  readonly ops: readonly Op[];
  /** Spool files present after the ops. */
  readonly files: readonly string[];
  /** What each transaction replays, in order. */
  readonly replay: Readonly<Record<number, readonly string[]>>;
}

// Transaction 1's own changes carry sub = 1; its subtransactions are 2, 3, ….
const cases: readonly Case[] = [
  {
    name: 'round trip: messages come back in the order appended',
    ops: [append(1, 1, 'a'), append(1, 1, 'b'), append(1, 1, 'c')],
    files: ['1.spool'],
    replay: { 1: ['a', 'b', 'c'] },
  },
  {
    name: 'round trip across flushed chunks',
    ops: [append(1, 1, 'a'), flush(1), append(1, 1, 'b'), flush(1), flush(1), append(1, 1, 'c')],
    files: ['1.spool'],
    replay: { 1: ['a', 'b', 'c'] },
  },
  {
    name: 'an empty message round-trips',
    ops: [append(1, 1, ''), append(1, 1, 'x'), append(1, 1, '')],
    files: ['1.spool'],
    replay: { 1: ['', 'x', ''] },
  },
  {
    name: 'interleaved transactions stay apart, one file each',
    ops: [append(1, 1, 'a'), append(2, 2, 'x'), append(1, 1, 'b'), flush(2), append(2, 2, 'y')],
    files: ['1.spool', '2.spool'],
    replay: { 1: ['a', 'b'], 2: ['x', 'y'] },
  },
  {
    name: 'subtransaction abort (still buffered) cuts off its messages',
    ops: [append(1, 1, 'a'), append(1, 2, 'b'), append(1, 2, 'c'), abort(1, 2), append(1, 1, 'd')],
    files: ['1.spool'],
    replay: { 1: ['a', 'd'] },
  },
  {
    name: 'subtransaction abort (already flushed) cuts off its messages',
    ops: [append(1, 1, 'a'), append(1, 2, 'b'), flush(1), append(1, 2, 'c'), abort(1, 2), append(1, 1, 'd')],
    files: ['1.spool'],
    replay: { 1: ['a', 'd'] },
  },
  {
    name: 'subtransaction abort takes the subtransactions nested in it',
    ops: [append(1, 1, 'a'), append(1, 2, 'b'), flush(1), append(1, 3, 'c'), append(1, 2, 'd'), abort(1, 2), append(1, 1, 'e')],
    files: ['1.spool'],
    replay: { 1: ['a', 'e'] },
  },
  {
    name: 'abort of a nested subtransaction keeps its parent\'s earlier messages',
    ops: [append(1, 1, 'a'), append(1, 2, 'b'), append(1, 3, 'c'), abort(1, 3), append(1, 2, 'd')],
    files: ['1.spool'],
    replay: { 1: ['a', 'b', 'd'] },
  },
  {
    // The server sends one abort per subtransaction of a rolled-back savepoint, in either order.
    name: 'a child whose first change precedes its parent\'s: aborts child then parent',
    ops: [append(1, 1, 't'), append(1, 3, 'child'), append(1, 2, 'parent'), abort(1, 3), abort(1, 2), append(1, 1, 'u')],
    files: ['1.spool'],
    replay: { 1: ['t', 'u'] },
  },
  {
    name: 'a child whose first change precedes its parent\'s: aborts parent then child',
    ops: [append(1, 1, 't'), append(1, 3, 'child'), append(1, 2, 'parent'), abort(1, 2), abort(1, 3), append(1, 1, 'u')],
    files: ['1.spool'],
    replay: { 1: ['t', 'u'] },
  },
  {
    name: 'a later sibling subtransaction is kept when an earlier one was aborted before it began',
    ops: [append(1, 2, 'a'), abort(1, 2), append(1, 3, 'b'), append(1, 1, 'c')],
    files: ['1.spool'],
    replay: { 1: ['b', 'c'] },
  },
  {
    name: 'abort of a subtransaction that spooled nothing changes nothing',
    ops: [append(1, 1, 'a'), abort(1, 9), abort(5, 9), append(1, 1, 'b')],
    files: ['1.spool'],
    replay: { 1: ['a', 'b'] },
  },
  {
    name: 'abort of a subtransaction in another transaction leaves this one alone',
    ops: [append(1, 2, 'a'), append(2, 2, 'x'), abort(2, 2), append(1, 1, 'b')],
    files: ['1.spool'],
    replay: { 1: ['a', 'b'], 2: [] },
  },
  {
    name: 'top-level abort removes the transaction and its file',
    ops: [append(1, 1, 'a'), append(1, 2, 'b'), flush(1), append(2, 2, 'x'), abort(1, 1)],
    files: ['2.spool'],
    replay: { 1: [], 2: ['x'] },
  },
  {
    name: 'discard removes the transaction and its file',
    ops: [append(1, 1, 'a'), append(2, 2, 'x'), discard(2)],
    files: ['1.spool'],
    replay: { 1: ['a'], 2: [] },
  },
  {
    name: 'a transaction aborted at the top level may spool again under the same xid',
    ops: [append(1, 1, 'old'), abort(1, 1), append(1, 1, 'new')],
    files: ['1.spool'],
    replay: { 1: ['new'] },
  },
];

describe('transaction spool', () => {
  for (const c of cases) {
    test(c.name, () => {
      for (const op of c.ops) run(op);
      assert.deepEqual(files(), c.files);
      for (const [xid, messages] of Object.entries(c.replay)) {
        assert.deepEqual(replayText(Number(xid)), messages, `replay of transaction ${xid}`);
      }
      // A replayed transaction is gone: its file, and a second replay yields nothing.
      assert.deepEqual(files(), c.files.filter((f) => !(Number(path.parse(f).name) in c.replay)));
      for (const xid of Object.keys(c.replay)) assert.deepEqual(replayText(Number(xid)), [], `second replay of transaction ${xid}`);
    });
  }
});

/** `n` bytes that differ from message to message, so a shifted or swapped message is noticed. */
function message(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('transaction spool: large transactions and cleanup', () => {
  test('a large transaction spills to disk before its end; memory holds less than 1 MiB of it', () => {
    const sent: string[] = [];
    let total = 0;
    // Odd sizes, so messages straddle the replay's read buffer boundaries.
    for (let i = 0; i < 3000; i++) {
      const m = message(i, 500 + (i * 37) % 1500);
      sent.push(digest(m));
      total += 4 + m.length;
      spool.append(7, 7, m);
    }
    const bytes = statSync(path.join(spoolDir(), '7.spool')).size;
    assert.ok(bytes > 0 && total - bytes < 1 << 20, `on disk before any flush: ${bytes} of ${total} bytes`);
    assert.deepEqual([...spool.replay(7)].map(digest), sent);
  });

  test('messages larger than the replay buffer round-trip between small ones', () => {
    const sent = [message(1, 10), message(2, 3 << 20), message(3, 1), message(4, (1 << 20) - 3), message(5, 9 << 20), message(6, 2)];
    for (const m of sent) spool.append(1, 1, m);
    assert.deepEqual([...spool.replay(1)].map(digest), sent.map(digest));
  });

  test('a subtransaction abort after a spill cuts the file back', () => {
    spool.append(1, 1, message(0, 100));
    const big = message(1, 1 << 20);
    spool.append(1, 2, big);
    spool.append(1, 2, big);
    assert.ok(statSync(path.join(spoolDir(), '1.spool')).size > 1 << 20, 'spilled');
    spool.abort(1, 2);
    assert.equal(statSync(path.join(spoolDir(), '1.spool')).size, 4 + 100);
    spool.append(1, 1, message(2, 5));
    assert.deepEqual([...spool.replay(1)].map(digest), [message(0, 100), message(2, 5)].map(digest));
  });

  test('the appended buffer is copied: reusing it afterwards does not change the spool', () => {
    const socket = Buffer.from('first');
    spool.append(1, 1, socket);
    socket.write('XXXXX');
    spool.append(1, 1, socket);
    assert.deepEqual(replayText(1), ['first', 'XXXXX']);
  });

  test('replay stopped early still removes the file', () => {
    spool.append(1, 1, Buffer.from('a'));
    spool.append(1, 1, Buffer.from('b'));
    for (const m of spool.replay(1)) {
      assert.equal(m.toString(), 'a');
      break;
    }
    assert.deepEqual(files(), []);
  });

  test('close removes every open transaction\'s file and the spool directory', () => {
    spool.append(1, 1, Buffer.from('a'));
    spool.append(2, 2, Buffer.from('b'));
    spool.flush(2);
    assert.deepEqual(files(), ['1.spool', '2.spool']);
    spool.close();
    assert.deepEqual(readdirSync(parent), []);
  });
});
