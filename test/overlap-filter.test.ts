import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BinaryValue, type Relation, type Value } from '../src/change/change.js';
import type { ChunkPlan } from '../src/copy/chunk-plan.js';
import { skipCopiedChanges, type CopiedChunk } from '../src/copy/overlap-filter.js';
import { FerryError } from '../src/errors.js';
import { numbersOf, positionOfNumbers, type Position } from '../src/source/position.js';
import type { SourceEvent } from '../src/source/source.js';

/*
 * Which changes a resumed copy already holds, without a server. Table
 * public.t was copied in key ranges under three snapshots: [-∞, 100) at
 * 500, [100, 200) at 1000, [200, ∞) at 300 (the slot's start); public.w whole
 * at 800; public.x (key column second) in one range at 500. A change is
 * skipped where the chunk holding its row was read under a snapshot taken
 * after the change's commit.
 */

const INT8 = 20;
const TEXT = 25;

function relation(relationId: number, table: string, columns: readonly [string, number][], binary = false): Relation {
  return {
    relationId, schema: 'public', table, replicaIdentity: 'default', binary,
    columns: columns.map(([name, typeOid]) => ({ name, typeOid, typeMod: -1, isKey: name === 'id' })),
  };
}

const T = relation(1, 't', [['id', INT8], ['v', TEXT]]);
const W = relation(2, 'w', [['id', INT8], ['v', TEXT]]);
const X = relation(3, 'x', [['v', TEXT], ['id', INT8]]);
const U = relation(4, 'u', [['id', INT8], ['v', TEXT]]);
const TB = relation(1, 't', [['id', INT8], ['v', TEXT]], true);

/** Positions are numbers here, printed as such. */
const at = (n: number): Position => positionOfNumbers(BigInt(n));
const keyPlan = (relation: string, from: string | null, to: string | null): ChunkPlan => ({ kind: 'key', schema: 'public', relation, column: 'id', from, to });
const CHUNKS: readonly CopiedChunk[] = [
  { table: 'public.t', plan: keyPlan('t', null, '100'), snapshotPosition: at(500) },
  { table: 'public.t', plan: keyPlan('t', '100', '200'), snapshotPosition: at(1000) },
  { table: 'public.t', plan: keyPlan('t', '200', null), snapshotPosition: at(300) },
  { table: 'public.w', plan: { kind: 'whole', schema: 'public', relation: 'w', only: true }, snapshotPosition: at(800) },
  { table: 'public.x', plan: keyPlan('x', null, null), snapshotPosition: at(500) },
];

const describeAll = (...relations: Relation[]): SourceEvent[] => relations.map((relation) => ({ kind: 'relation', relation }));
const begin = (n: number): SourceEvent => ({ kind: 'begin', xid: n, commitTime: 0n, commitPosition: at(n) });
const commit = (n: number): SourceEvent => ({ kind: 'commit', position: at(n + 8), commitTime: 0n });
const tx = (n: number, ...changes: SourceEvent[]): SourceEvent[] => [begin(n), ...changes, commit(n)];

const ins = (rel: number, id: Value, v: Value = 'v'): SourceEvent => ({ kind: 'insert', relationId: rel, values: rel === 3 ? [v, id] : [id, v] });
const del = (rel: number, id: Value): SourceEvent => ({ kind: 'delete', relationId: rel, old: rel === 3 ? [null, id] : [id, null], oldIsKeyOnly: true });
/** An update; `from` when it changed the key. */
const upd = (rel: number, id: string, from?: string, v: Value = 'v2'): SourceEvent => ({
  kind: 'update', relationId: rel, values: [id, v], oldIsKeyOnly: from !== undefined, ...(from !== undefined ? { old: [from, null] } : {}),
});
/** A key change that left a TOASTed value unchanged (not sent). */
const updToast = (rel: number, id: string, from: string): SourceEvent => ({ kind: 'update', relationId: rel, values: [id, undefined], old: [from, null], oldIsKeyOnly: true });
const truncate = (...relationIds: number[]): SourceEvent => ({ kind: 'truncate', relationIds, cascade: false, restartIdentity: false });
const message = (): SourceEvent => ({ kind: 'message', transactional: true, lsn: 1n, prefix: 'p', content: Buffer.from('m') });

function label(event: SourceEvent): string {
  const key = (relationId: number, tuple: readonly Value[]) => String(tuple[relationId === 3 ? 1 : 0] instanceof BinaryValue ? 'bin' : tuple[relationId === 3 ? 1 : 0]);
  switch (event.kind) {
    case 'begin': return `B${numbersOf(event.commitPosition)[0]}`;
    case 'commit': return 'C';
    case 'relation': return `r${event.relation.table}`;
    case 'message': return 'm';
    case 'idle': return `idle${numbersOf(event.position)[0]}`;
    case 'truncate': return `t${event.relationIds.join(',')}`;
    case 'insert': return `i${event.relationId}:${key(event.relationId, event.values)}`;
    case 'delete': return `d${event.relationId}:${key(event.relationId, event.old)}`;
    case 'update': return `u${event.relationId}:${event.old ? `${key(event.relationId, event.old)}>` : ''}${key(event.relationId, event.values)}`;
    case 'unreadable': return `x${event.relation.relationId}`;
  }
}

async function* feed(runs: readonly (readonly SourceEvent[])[]): AsyncGenerator<readonly SourceEvent[]> {
  for (const run of runs) yield run;
}

async function filtered(runs: readonly (readonly SourceEvent[])[], chunks = CHUNKS): Promise<(readonly SourceEvent[])[]> {
  const out: (readonly SourceEvent[])[] = [];
  for await (const run of skipCopiedChanges(feed(runs), chunks, 'g')) out.push(run as readonly SourceEvent[]);
  return out;
}

interface Case {
  readonly name: string;
  /** One transaction's changes (relations t, w, x, u described before it). */
  readonly at: number;
  readonly changes: readonly SourceEvent[];
  /** The labels of the changes that pass. */
  readonly pass: readonly string[];
}

const cases: readonly Case[] = [
  { name: 'insert committed before its chunk\'s snapshot: skipped', at: 400, changes: [ins(1, '5')], pass: [] },
  { name: 'insert committed after its chunk\'s snapshot: applied', at: 400, changes: [ins(1, '250')], pass: ['i1:250'] },
  { name: 'insert committed exactly at its chunk\'s snapshot: applied (the snapshot does not contain it)', at: 500, changes: [ins(1, '5')], pass: ['i1:5'] },
  { name: 'each change judged by its own chunk', at: 700, changes: [ins(1, '5'), ins(1, '150'), ins(1, '250')], pass: ['i1:5', 'i1:250'] },
  { name: 'chunk bounds: from is inside, to is not', at: 600, changes: [ins(1, '99'), ins(1, '100'), ins(1, '199'), ins(1, '200')], pass: ['i1:99', 'i1:200'] },
  { name: 'negative and big keys find their chunk', at: 600, changes: [ins(1, '-9223372036854775808'), ins(1, '9223372036854775807')], pass: ['i1:-9223372036854775808', 'i1:9223372036854775807'] },
  { name: 'delete inside a holding chunk: skipped; elsewhere: applied', at: 400, changes: [del(1, '5'), del(1, '250')], pass: ['d1:250'] },
  { name: 'update in place inside a holding chunk: skipped; elsewhere: applied', at: 400, changes: [upd(1, '5'), upd(1, '250')], pass: ['u1:250'] },
  { name: 'key change from a holding chunk to one that does not hold it: only the insert of the new row', at: 400, changes: [upd(1, '250', '5')], pass: ['i1:250'] },
  { name: 'key change from a chunk that does not hold it into a holding one: only the delete of the old row', at: 400, changes: [upd(1, '5', '250')], pass: ['d1:250'] },
  { name: 'key change between two holding chunks: skipped', at: 400, changes: [upd(1, '150', '5')], pass: [] },
  { name: 'key change between chunks holding neither: applied as it is', at: 600, changes: [upd(1, '250', '5')], pass: ['u1:5>250'] },
  { name: 'a table copied whole: every row judged by its one snapshot', at: 700, changes: [ins(2, '1'), upd(2, '2'), del(2, '3')], pass: [] },
  { name: 'a table copied whole, change after its snapshot: applied', at: 900, changes: [ins(2, '1'), del(2, '3')], pass: ['i2:1', 'd2:3'] },
  { name: 'the key column is found by name, not position', at: 400, changes: [ins(3, '5'), del(3, '6')], pass: [] },
  { name: 'a table with no resumed chunks: applied', at: 400, changes: [ins(4, '5'), upd(4, '5'), del(4, '5')], pass: ['i4:5', 'u4:5', 'd4:5'] },
  { name: 'a relation never described: applied', at: 400, changes: [ins(9, '5')], pass: ['i9:5'] },
  { name: 'messages pass', at: 400, changes: [message(), ins(1, '5'), message()], pass: ['m', 'm'] },
  { name: 'truncate every chunk of which holds it: skipped', at: 400, changes: [truncate(2)], pass: [] },
  { name: 'truncate none of whose chunks holds it: applied', at: 900, changes: [truncate(2)], pass: ['t2'] },
  { name: 'truncate of two tables whose chunks all hold it: skipped', at: 400, changes: [truncate(2, 3)], pass: [] },
  { name: 'truncate of a table without resumed chunks: applied', at: 400, changes: [truncate(4)], pass: ['t4'] },
];

describe('overlap filter', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const out = await filtered([describeAll(T, W, X, U), tx(c.at, ...c.changes)]);
      assert.deepEqual(out.map((run) => run.map(label)), [['rt', 'rw', 'rx', 'ru'], [`B${c.at}`, ...c.pass, 'C']]);
    });
  }
});

describe('overlap filter: rewritten updates and failures', () => {
  test('a key change into a holding chunk becomes a key-only delete of the old row', async () => {
    const [, run] = await filtered([describeAll(T), tx(400, upd(1, '5', '250'))]);
    assert.deepEqual(run?.[1], { kind: 'delete', relationId: 1, old: ['250', null], oldIsKeyOnly: true });
  });

  test('a key change out of a holding chunk becomes an insert of the new row', async () => {
    const [, run] = await filtered([describeAll(T), tx(400, upd(1, '250', '5', 'new'))]);
    assert.deepEqual(run?.[1], { kind: 'insert', relationId: 1, values: ['250', 'new'] });
  });

  test('a key change out of a holding chunk with an unchanged TOAST value cannot be rebuilt', async () => {
    await assert.rejects(filtered([describeAll(T), tx(400, updToast(1, '250', '5'))]), (err: unknown) =>
      err instanceof FerryError && err.code === 'FERRY_RESUME_OVERLAP' && err.context.group === 'g');
  });

  test('a truncate only some of whose chunks hold it cannot be split', async () => {
    await assert.rejects(filtered([describeAll(T), tx(400, truncate(1))]), (err: unknown) =>
      err instanceof FerryError && err.code === 'FERRY_RESUME_OVERLAP' && /TRUNCATE/.test(err.message));
  });

  test('binary key values are read in their type\'s format', async () => {
    const int8 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigInt64BE(n); return new BinaryValue(b.toString('latin1')); };
    const out = await filtered([describeAll(TB), tx(400, ins(1, int8(5n)), ins(1, int8(250n)), ins(1, int8(-1n)))]);
    assert.deepEqual(out.map((run) => run.map(label)), [['rt'], ['B400', 'i1:bin', 'C']]);
    assert.deepEqual((out[1]?.[1] as Extract<SourceEvent, { kind: 'insert' }>).values[0], int8(250n));
  });
});

describe('overlap filter: the stream around it', () => {
  test('transactions are judged each by its own commit position', async () => {
    const out = await filtered([describeAll(T), [...tx(400, ins(1, '5'), ins(1, '150')), ...tx(600, ins(1, '6'), ins(1, '151'))]]);
    assert.deepEqual(out.map((run) => run.map(label)), [['rt'], ['B400', 'C', 'B600', 'i1:6', 'C']]);
  });

  test('from the newest snapshot on, runs pass through untouched', async () => {
    const late = tx(1000, ins(1, '150'));
    const later = tx(1100, ins(1, '5'));
    const runs = [describeAll(T), tx(900, ins(1, '150')), late, later];
    const out = await filtered(runs);
    assert.deepEqual(out.map((run) => run.map(label)), [['rt'], ['B900', 'C'], ['B1000', 'i1:150', 'C'], ['B1100', 'i1:5', 'C']]);
    // Past the newest snapshot the runs are not even copied.
    assert.equal(out[3], later);
  });

  test('relations described in a later run are still known', async () => {
    const out = await filtered([tx(100, ...describeAll(W)), tx(400, ins(2, '1'))]);
    assert.deepEqual(out.map((run) => run.map(label)), [['B100', 'rw', 'C'], ['B400', 'C']]);
  });

  test('no chunks: everything passes', async () => {
    const runs = [describeAll(T), tx(1, ins(1, '5'), truncate(1))];
    const out = await filtered(runs, []);
    assert.deepEqual(out.map((run) => run.map(label)), [['rt'], ['B1', 'i1:5', 't1', 'C']]);
  });
});
