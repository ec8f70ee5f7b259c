import { BinaryValue, type EncodedRow, type Value } from '../change/change.js';
import { arrayText, binaryArray, binaryArraysOfRows } from '../pg/binary-format.js';
import { quoteIdent } from '../pg/connect.js';
import { isComplete, valueOf, type InsertRow, type NetChange, type Row, type TableNet } from './compaction.js';
import type { TargetRelation } from './target-relation.js';

type NetUpdate = Extract<NetChange, { op: 'update' }>;

/** A statement over many rows and the number of rows it must touch. */
export interface SetStatement {
  readonly text: string;
  /** Per column: an array of text values, or (binary relations) one binary array. */
  readonly values: ((string | null)[] | Buffer)[];
  readonly expectRows: number;
  readonly describe: string;
}

/**
 * A table's net changes as at most a few statements: one DELETE … USING
 * unnest(…) for rows that go (or are replaced), one UPDATE … FROM unnest(…)
 * per set of changed columns; the rows to insert are returned for COPY. Values
 * travel as one typed array per column: text, or for binary relations one
 * binary array (array columns as text, cast per element, since PostgreSQL
 * has no arrays of arrays).
 */
export function setStatements(net: TableNet): { statements: SetStatement[]; inserts: readonly InsertRow[] } {
  const rel = net.rel;
  const insertsOnly = net.insertsOnly;
  if (insertsOnly) return { statements: [], inserts: insertsOnly };
  const deletes: Row[] = [];
  const inserts: InsertRow[] = [];
  const updates = new Map<string, { columns: number[]; rows: NetUpdate[] }>();
  // Key columns are not SET: they did not change (a key change is a delete and an insert).
  const settable = rel.written.filter((i) => !rel.identity.includes(i));
  const everySettable = settable.join(',');
  for (const change of net.rows.values()) {
    if (change.op === 'delete' || change.op === 'replace') deletes.push(change.key);
    if (change.op === 'insert' || change.op === 'replace') inserts.push(change.row);
    if (change.op === 'update') {
      // A complete row (the usual case) sets every column without looking at each.
      const complete = isComplete(change.values);
      const columns = complete ? settable : settable.filter((i) => valueOf(change.values, i) !== undefined);
      const shape = complete ? everySettable : columns.join(',');
      const group = updates.get(shape) ?? { columns, rows: [] };
      group.rows.push(change);
      updates.set(shape, group);
    }
  }
  const out: SetStatement[] = [];
  if (deletes.length > 0) out.push(deleteMany(rel, deletes));
  for (const { columns, rows } of updates.values()) {
    if (columns.length > 0) out.push(updateMany(rel, columns, rows));
  }
  return { statements: out, inserts };
}

function column(rel: TargetRelation, i: number): string {
  return quoteIdent(rel.columnNames[i] as string);
}

/** `unnest($1::t1[], $2::t2[], …) AS s(c0, c1, …)` and how to read each column back. */
function unnestSource(rel: TargetRelation, indexes: readonly number[], firstParam = 1): { from: string; read: (n: number) => string } {
  const params = indexes.map((i, n) => `$${firstParam + n}::${rel.arrayColumns.has(i) ? 'text' : rel.types[i]}[]`);
  const aliases = indexes.map((_, n) => `c${n}`);
  return {
    from: `unnest(${params.join(', ')}) AS s(${aliases.join(', ')})`,
    read: (n) => (rel.arrayColumns.has(indexes[n] as number) ? `s.c${n}::${rel.types[indexes[n] as number]}` : `s.c${n}`),
  };
}

/**
 * Each of `indexes` (ascending) of `rows` as one parameter: straight from
 * the bytes the source sent where every row is encoded in binary, else
 * value by value.
 */
function columnArrays(rel: TargetRelation, indexes: readonly number[], rows: readonly Row[]): ((string | null)[] | Buffer)[] {
  if (rel.source.binary && indexes.every((i) => !rel.arrayColumns.has(i)) && rows.every((r) => !Array.isArray(r) && (r as EncodedRow).binaryComplete)) {
    return binaryArraysOfRows(indexes.map((i) => rel.typeOids[i] as number), rows as readonly EncodedRow[], indexes);
  }
  return indexes.map((i) => columnArray(rel, i, rows.map((r) => valueOf(r, i) ?? null)));
}

/** One column's values as one parameter. */
export function columnArray(rel: TargetRelation, i: number, values: readonly Value[]): (string | null)[] | Buffer {
  if (!rel.source.binary) return values as (string | null)[];
  if (rel.arrayColumns.has(i)) return values.map((v) => (v instanceof BinaryValue ? arrayText(v.toBuffer()) : null));
  return binaryArray(rel.typeOids[i] as number, values);
}

function deleteMany(rel: TargetRelation, keys: readonly Row[]): SetStatement {
  const src = unnestSource(rel, rel.identity);
  const match = rel.identity.map((i, n) => `t.${column(rel, i)} = ${src.read(n)}`).join(' AND ');
  return {
    text: `DELETE FROM ${rel.qualifiedName} t USING ${src.from} WHERE ${match}`,
    values: columnArrays(rel, rel.identity, keys),
    expectRows: keys.length,
    describe: `delete of ${keys.length} row(s) from ${rel.label}`,
  };
}

function updateMany(rel: TargetRelation, columns: readonly number[], rows: readonly NetUpdate[]): SetStatement {
  const indexes = [...rel.identity, ...columns];
  const src = unnestSource(rel, indexes);
  const match = rel.identity.map((i, n) => `t.${column(rel, i)} = ${src.read(n)}`).join(' AND ');
  const sets = columns.map((i, n) => `${column(rel, i)} = ${src.read(rel.identity.length + n)}`).join(', ');
  return {
    text: `UPDATE ${rel.qualifiedName} t SET ${sets} FROM ${src.from} WHERE ${match}`,
    values: [...columnArrays(rel, rel.identity, rows.map((r) => r.key)), ...columnArrays(rel, columns, rows.map((r) => r.values))],
    expectRows: rows.length,
    describe: `update of ${rows.length} row(s) of ${rel.label}`,
  };
}
