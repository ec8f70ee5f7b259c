import { BinaryValue, type EncodedRow, type Tuple, type Value } from '../change/change.js';
import { binaryArraysOfRows } from '../pg/binary-format.js';
import type { BatchChange } from './batch.js';
import { columnArray } from './set-statements.js';
import type { TargetRelation } from './target-relation.js';

/**
 * What a REPLICA IDENTITY FULL set (full-identity.ts) needs of its rows, for
 * rows as decoded tuples and for rows still in the source's encoded bytes.
 * Encoded rows are compared byte for byte and written into binary array
 * parameters as they came, so their values never become strings.
 */
export interface FullRows<R> {
  /** Column `i` as a map key: equal values, equal keys (unequal ones may share one; rows are compared in full after). */
  key(row: R, i: number): string | number | null;
  /** Every identity column holds the same value in both rows. */
  same(rel: TargetRelation, a: R, b: R): boolean;
  /** Column `i` is an unchanged TOASTed value (not sent). */
  unchanged(row: R, i: number): boolean;
  isNull(row: R, i: number): boolean;
  /** An update's new row has a value in column `i` other than the old row's. */
  differs(old: R, values: R, i: number): boolean;
  /** Where a row has at most 31 columns, a bit for each that `differs`; else undefined. */
  differences(rel: TargetRelation, old: R, values: R): number | undefined;
  /** The row an update leaves: unchanged TOASTed values are the old row's. */
  produced(old: R, values: R): R;
  /** Each of `columns` (ascending) of `rows` as one statement parameter. */
  columns(rel: TargetRelation, rows: readonly R[], columns: readonly number[]): ((string | null)[] | Buffer)[];
}

export const tupleRows: FullRows<Tuple> = {
  key: (row, i) => lookupKey(row[i]),
  same: (rel, a, b) => rel.identity.every((i) => sameValue(a[i], b[i])),
  unchanged: (row, i) => row[i] === undefined,
  isNull: (row, i) => row[i] === null,
  differs: (old, values, i) => values[i] !== undefined && !sameValue(values[i], old[i]),
  differences: () => undefined,
  produced: (old, values) => (values.includes(undefined) ? values.map((v, i) => (v === undefined ? old[i] : v)) : values),
  columns: (rel, rows, columns) => columns.map((i) => columnArray(rel, i, rows.map((row) => row[i]))),
};

/** Only for changes that `fitsEncoded`: every column binary or NULL, and the identity is every column. */
export const encodedRows: FullRows<EncodedRow> = {
  key: (row, i) => row.hashOf(i),
  same: (_rel, a, b) => a.sameRow(b),
  unchanged: () => false,
  isNull: (row, i) => row.isNull(i),
  differs: (old, values, i) => !values.sameValue(i, old),
  differences: (rel, old, values) => (rel.source.columns.length <= 31 ? values.differences(old) : undefined),
  produced: (_old, values) => values,
  columns: (rel, rows, columns) => binaryArraysOfRows(columns.map((i) => rel.typeOids[i] as number), rows, columns),
};

/**
 * Whether a change's rows can be used encoded: binary values (or NULL) in
 * every column, none unchanged, of a relation whose identity is every column
 * (so rows equal byte for byte are equal in their identity, and the other
 * way round) and that has no array columns (those travel as text).
 */
export function fitsEncoded(rel: TargetRelation, change: Extract<BatchChange, { kind: 'insert' | 'update' | 'delete' }>): boolean {
  if (rel.source.binary !== true || rel.arrayColumns.size > 0 || rel.identity.length !== rel.source.columns.length) return false;
  switch (change.kind) {
    case 'insert': return change.encoded?.binaryComplete === true;
    case 'delete': return change.encodedOld?.binaryComplete === true;
    case 'update': return change.encodedOld?.binaryComplete === true && change.encodedValues?.binaryComplete === true;
  }
}

/** Text, or a binary value's bytes: equal values, equal keys (a text and a binary value may share one; rows are compared in full after). */
function lookupKey(v: Value): string | null {
  return v === null || v === undefined ? null : typeof v === 'string' ? v : v.latin1;
}

function sameValue(a: Value, b: Value): boolean {
  if (a instanceof BinaryValue) return b instanceof BinaryValue && a.latin1 === b.latin1;
  return a === b;
}
