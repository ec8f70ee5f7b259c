import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { diffColumns, type ColumnChange, type LayoutColumn } from '../src/apply/column-diff.js';

/** Which column changes two descriptions of a table imply: renames by attribute number, and where the catalog moved on, by place. */

const col = (name: string, attnum: number | null, typeOid = 23, isKey = false, typeMod = -1): LayoutColumn => ({ name, attnum, typeOid, typeMod, isKey });
const show = (changes: readonly ColumnChange[]): string[] => changes.map((c) => {
  switch (c.kind) {
    case 'rename': return `rename ${c.from}>${c.to}`;
    case 'add': return `add ${c.column.name}`;
    case 'drop': return `drop ${c.column.name}`;
    case 'type': return `type ${c.column.name}:${c.column.typeOid}`;
  }
});

describe('column changes between two descriptions', () => {
  const base = [col('id', 1, 20, true), col('a', 2), col('b', 3, 25)];
  const cases: { name: string; before: LayoutColumn[] | undefined; after: LayoutColumn[]; expect: string[] }[] = [
    { name: 'nothing changed', before: base, after: base, expect: [] },
    { name: 'a column added', before: base, after: [...base, col('c', 4)], expect: ['add c'] },
    { name: 'a column dropped', before: base, after: [base[0] as LayoutColumn, base[2] as LayoutColumn], expect: ['drop a'] },
    { name: 'a rename, told by the attribute number', before: base, after: [base[0] as LayoutColumn, col('a2', 2), base[2] as LayoutColumn], expect: ['rename a>a2'] },
    { name: 'the last column dropped and another added: not a rename', before: base, after: [base[0] as LayoutColumn, base[1] as LayoutColumn, col('c', 4, 25)], expect: ['drop b', 'add c'] },
    { name: 'a type widened', before: base, after: [base[0] as LayoutColumn, col('a', 2, 20), base[2] as LayoutColumn], expect: ['type a:20'] },
    { name: 'a typmod changed', before: base, after: [base[0] as LayoutColumn, base[1] as LayoutColumn, col('b', 3, 25, false, 14)], expect: ['type b:25'] },
    { name: 'renamed and retyped at once', before: base, after: [base[0] as LayoutColumn, col('a2', 2, 20), base[2] as LayoutColumn], expect: ['rename a>a2', 'type a2:20'] },
    { name: 'renamed again since (the catalog no longer knows the new name): same place and type', before: base, after: [base[0] as LayoutColumn, col('a2', null), base[2] as LayoutColumn], expect: ['rename a>a2'] },
    { name: 'the old description was made after a later rename: same place and type', before: [base[0] as LayoutColumn, col('a', null), base[2] as LayoutColumn], after: [base[0] as LayoutColumn, col('a2', 2), base[2] as LayoutColumn], expect: ['rename a>a2'] },
    { name: 'an unknown number at a place of another type: dropped and added', before: base, after: [base[0] as LayoutColumn, col('a2', null, 25), base[2] as LayoutColumn], expect: ['drop a', 'add a2'] },
    { name: 'first sight: every column is a candidate addition', before: undefined, after: base, expect: ['add id', 'add a', 'add b'] },
  ];
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(show(diffColumns(c.before, c.after)), c.expect));
  }
});
