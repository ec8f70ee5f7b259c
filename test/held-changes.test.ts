import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BinaryValue, type Relation } from '../src/change/change.js';
import { decodeHeld, encodeHeld, type HeldChange, type HoldableChange } from '../src/change/held-change.js';
import { holdJoiningChanges, type JoiningTables } from '../src/copy/hold-joining-changes.js';
import { numbersOf, positionOfNumbers, type Position } from '../src/source/position.js';
import type { SourceEvent } from '../src/source/source.js';

/** Pure logic of holding a joining table's changes: how they are stored, and which are held. */

const relation = (relationId: number, table: string): Relation => ({
  relationId, schema: 'public', table, replicaIdentity: 'default',
  columns: [{ name: 'id', typeOid: 20, typeMod: -1, isKey: true }, { name: 'body', typeOid: 25, typeMod: -1, isKey: false }],
});

describe('a held change is stored and read back unchanged', () => {
  const cases: { name: string; change: HoldableChange }[] = [
    { name: 'a description', change: { kind: 'relation', relation: { ...relation(7, 'notes'), binary: true } } },
    { name: 'an insert with text, NULL and binary values', change: { kind: 'insert', relationId: 7, values: ['1', null, new BinaryValue('\u0000\u00ff\u0080x')] } },
    { name: 'an update with an unchanged TOASTed value and no old key', change: { kind: 'update', relationId: 7, oldIsKeyOnly: false, values: ['1', undefined] } },
    { name: 'an update of the key', change: { kind: 'update', relationId: 7, old: ['1', null], oldIsKeyOnly: true, values: ['2', 'b'] } },
    { name: 'a delete of a FULL identity row', change: { kind: 'delete', relationId: 7, old: ['1', 'text with "quotes" and \\'], oldIsKeyOnly: false } },
    { name: 'a truncate', change: { kind: 'truncate', relationIds: [7, 8], cascade: false, restartIdentity: true } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      // Through JSON text, as jsonb keeps it.
      assert.deepEqual(decodeHeld(JSON.parse(encodeHeld(c.change))), c.change);
    });
  }
});

describe('holding a joining table\'s changes', () => {
  async function held(events: readonly SourceEvent[], holding: ReadonlyMap<string, string>): Promise<(SourceEvent | HeldChange)[]> {
    const joining: JoiningTables = {
      holding: async (r) => holding.get(r.table),
      copied: async () => [],
    };
    async function* feed(): AsyncGenerator<readonly SourceEvent[]> { yield events; }
    const out: (SourceEvent | HeldChange)[] = [];
    for await (const run of holdJoiningChanges(feed(), joining, 'g')) out.push(...run);
    return out;
  }
  /** Positions are numbers here, printed as such. */
  const at = (n: number): Position => positionOfNumbers(BigInt(n));
  const shown = (position: Position): string => String(numbersOf(position)[0]);
  const begin = (n: number): SourceEvent => ({ kind: 'begin', xid: 1, commitTime: 0n, commitPosition: at(n) });

  test('a transaction whose begin came in an earlier run of events holds its changes at its own position', async () => {
    const joining: JoiningTables = { holding: async (r) => (r.table === 'notes' ? 'public.notes' : undefined), copied: async () => [] };
    async function* feed(): AsyncGenerator<readonly SourceEvent[]> {
      yield [begin(10), { kind: 'commit', position: at(11), commitTime: 0n }, begin(30)];
      yield [{ kind: 'relation', relation: relation(2, 'notes') }, { kind: 'insert', relationId: 2, values: ['1', 'b'] }];
    }
    const out: (SourceEvent | HeldChange)[] = [];
    for await (const run of holdJoiningChanges(feed(), joining, 'g')) out.push(...run);
    assert.deepEqual(out.filter((e): e is HeldChange => e.kind === 'held').map((e) => shown(e.position)), ['30', '30']);
  });

  test('the joining table\'s changes are held with their commit position; the others pass; a TRUNCATE of both is split', async () => {
    const out = await held([
      begin(10),
      { kind: 'relation', relation: relation(1, 'orders') },
      { kind: 'relation', relation: relation(2, 'notes') },
      { kind: 'insert', relationId: 1, values: ['1', 'a'] },
      { kind: 'insert', relationId: 2, values: ['1', 'b'] },
      { kind: 'commit', position: at(11), commitTime: 0n },
      begin(20),
      { kind: 'truncate', relationIds: [1, 2], cascade: false, restartIdentity: false },
      { kind: 'commit', position: at(21), commitTime: 0n },
    ], new Map([['notes', 'public.notes']]));
    const describe = (e: SourceEvent | HeldChange): string => e.kind === 'held'
      ? `held@${shown(e.position)}:${e.change.kind}${e.change.kind === 'truncate' ? e.change.relationIds.join('+') : ''}`
      : `${e.kind}${e.kind === 'truncate' ? e.relationIds.join('+') : e.kind === 'insert' ? e.relationId : ''}`;
    assert.deepEqual(out.map(describe), [
      'begin', 'relation', 'relation', 'held@10:relation', 'insert1', 'held@10:insert', 'commit',
      'begin', 'truncate1', 'held@20:truncate2', 'commit',
    ]);
  });
});
