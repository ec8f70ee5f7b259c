import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TupleBytes } from '../src/source/pg-wal/tuple-bytes.js';
import { binaryArray, binaryArraysOfRows } from '../src/pg/binary-format.js';

/*
 * Rows kept in the bytes pgoutput sent (TupleData), without a server: what
 * set-based apply reads from them directly must agree with the decoded
 * values it reads otherwise. A column is a binary value (hex), text, NULL
 * or unchanged (an unchanged TOASTed value).
 */

type Column = { readonly hex: string } | { readonly text: string } | null | 'u';

/** A TupleData's columns (after its count), with some bytes before and after, as in a message. */
function row(...columns: Column[]): TupleBytes {
  const parts = columns.map((c) => {
    if (c === null) return Buffer.from('n');
    if (c === 'u') return Buffer.from('u');
    const value = 'hex' in c ? Buffer.from(c.hex, 'hex') : Buffer.from(c.text, 'utf8');
    const head = Buffer.alloc(5);
    head[0] = 'hex' in c ? 0x62 : 0x74;
    head.writeUInt32BE(value.length, 1);
    return Buffer.concat([head, value]);
  });
  const body = Buffer.concat(parts);
  const bytes = Buffer.concat([Buffer.from('xyz'), body, Buffer.from('!')]);
  return new TupleBytes(bytes, 3, 3 + body.length, columns.length);
}

const b = (hex: string): Column => ({ hex });
const t = (text: string): Column => ({ text });
const LONG = 'ab'.repeat(40);

interface PairCase {
  readonly name: string;
  readonly a: TupleBytes;
  readonly b: TupleBytes;
  /** Columns whose values differ. */
  readonly differ: readonly number[];
}

const pairs: readonly PairCase[] = [
  { name: 'equal rows', a: row(b('01'), t('x'), null), b: row(b('01'), t('x'), null), differ: [] },
  { name: 'one value differs', a: row(b('01'), b('02')), b: row(b('01'), b('03')), differ: [1] },
  { name: 'lengths differ', a: row(b('0102'), b('02')), b: row(b('01'), b('02')), differ: [0] },
  { name: 'NULL and an empty value differ', a: row(null, b('')), b: row(b(''), null), differ: [0, 1] },
  { name: 'text and binary of the same bytes differ', a: row(t('a')), b: row(b('61')), differ: [0] },
  { name: 'unchanged differs from a value', a: row('u', b('01')), b: row(b('01'), b('01')), differ: [0] },
  { name: 'long values compare in full', a: row(b(LONG), b(`${LONG}00`)), b: row(b(LONG), b(`${LONG}01`)), differ: [1] },
];

interface CompleteCase {
  readonly name: string;
  readonly row: TupleBytes;
  readonly complete: boolean;
}

const completes: readonly CompleteCase[] = [
  { name: 'binary values and NULLs', row: row(b('01'), null, b('')), complete: true },
  { name: 'a text value', row: row(b('01'), t('x')), complete: false },
  { name: 'an unchanged value', row: row(b('01'), 'u'), complete: false },
  { name: 'no columns', row: row(), complete: true },
];

describe('encoded rows', () => {
  for (const c of pairs) {
    test(`${c.name}: sameValue, differences, sameRow and hashes agree with the decoded values`, () => {
      const count = c.a.decodeAll().length;
      const differ = Array.from({ length: count }, (_, i) => i).filter((i) => !c.a.sameValue(i, c.b));
      assert.deepEqual(differ, c.differ, 'sameValue');
      assert.equal(c.a.differences(c.b), c.differ.reduce((m, i) => m | (1 << i), 0), 'differences');
      assert.equal(c.a.sameRow(c.b), c.differ.length === 0, 'sameRow');
      assert.equal(c.b.sameRow(c.a), c.differ.length === 0, 'sameRow the other way');
      for (let i = 0; i < count; i++) {
        if (!c.differ.includes(i)) assert.equal(c.a.hashOf(i), c.b.hashOf(i), `hash of equal column ${i}`);
        assert.deepEqual(c.a.value(i), c.a.decodeAll()[i], `value ${i}`);
      }
    });
  }
  for (const c of completes) {
    test(`binaryComplete: ${c.name}`, () => {
      assert.equal(c.row.binaryComplete, c.complete);
      assert.equal(c.row.binaryComplete, c.complete, 'asked again');
    });
  }

  test('binary array parameters from encoded rows are those from the decoded values', () => {
    const rows = [
      row(b('0000000000000001'), b('00000007'), b(LONG), null),
      row(b('0000000000000002'), null, b(''), b('ff')),
      row(b('0000000000000003'), b('00000009'), b('61626364'), b('00')),
    ];
    const oids = [20, 23, 17, 17];
    for (const columns of [[0], [1, 3], [0, 1, 2, 3], [2]]) {
      const expected = columns.map((i) => binaryArray(oids[i] as number, rows.map((r) => r.decodeAll()[i])));
      assert.deepEqual(binaryArraysOfRows(columns.map((i) => oids[i] as number), rows, columns), expected, `columns ${columns.join(',')}`);
    }
    assert.deepEqual(binaryArraysOfRows([20], [], [0]), [binaryArray(20, [])], 'no rows');
    assert.throws(() => binaryArraysOfRows([25], [row(t('x'))], [0]), /not a binary value/, 'a text value');
  });
});
