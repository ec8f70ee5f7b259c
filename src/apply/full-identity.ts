import type { Tuple } from '../change/change.js';
import { quoteIdent } from '../pg/connect.js';
import type { BatchChange } from './batch.js';
import { keyOf, type InsertRow } from './compaction.js';
import { needsReinsert } from './row-statements.js';
import { columnArray, type SetStatement } from './set-statements.js';
import type { TargetRelation } from './target-relation.js';

/**
 * REPLICA IDENTITY FULL: a row has no key, only its values. An update or
 * delete finds one target row whose every column reads the same as the old
 * row's (as text, so types without an equality operator, like json or point,
 * compare too, and exactly: 1.0 and 1.00 are different numerics), and
 * touches that one row by ctid, so of two identical rows only one changes, as
 * on the source. Where the target has an index (see `rowIndex`), its columns
 * are also compared with `=`, which makes the search an index lookup.
 */

/** Which columns of an old row take part in finding it; the same shape means the same statement text. */
export interface FullMatch {
  /** Columns with a value (an unchanged TOASTed one is not sent and cannot be compared). */
  readonly compared: readonly number[];
  /** Index columns compared with `=`; empty when the index cannot be used for this row. */
  readonly equal: readonly number[];
  /** Index columns that are NULL in the old row: `=` never matches NULL, IS NULL does (and is an index condition too). */
  readonly isNull: readonly number[];
}

export function fullMatchOf(rel: TargetRelation, old: Tuple): FullMatch {
  const compared = rel.identity.filter((i) => old[i] !== undefined);
  const index = rel.rowIndex?.columns ?? [];
  if (index.some((i) => old[i] === undefined)) return { compared, equal: [], isNull: [] };
  return { compared, equal: index.filter((i) => old[i] !== null), isNull: index.filter((i) => old[i] === null) };
}

function shapeKey(m: FullMatch): string {
  return `${m.compared.join(',')}|${m.equal.join(',')}|${m.isNull.join(',')}`;
}

function column(rel: TargetRelation, i: number): string {
  return quoteIdent(rel.columnNames[i] as string);
}

/** `ROW(a, b, …)::text`: one text for the whole row, NULL and '' told apart, hashable. */
function rowText(parts: readonly string[]): string {
  return `ROW(${parts.join(', ')})::text`;
}

/**
 * The condition on target row `x` that it equals the old row whose column
 * `i` reads as `value(i)` (an SQL expression of the column's type).
 */
function matches(rel: TargetRelation, m: FullMatch, value: (i: number) => string): string {
  const conds = [
    ...m.equal.map((i) => `x.${column(rel, i)} = ${value(i)}`),
    ...m.isNull.map((i) => `x.${column(rel, i)} IS NULL`),
  ];
  if (m.compared.length > 0) conds.push(`${rowText(m.compared.map((i) => `x.${column(rel, i)}`))} = ${rowText(m.compared.map(value))}`);
  return conds.length > 0 ? conds.join(' AND ') : 'true';
}

/** The ctid of one target row equal to the old row (row-by-row apply; parameters as `value(i)`). */
export function oneRowCtid(rel: TargetRelation, m: FullMatch, value: (i: number) => string): string {
  return `SELECT x.ctid FROM ${rel.qualifiedName} x WHERE ${matches(rel, m, value)} LIMIT 1`;
}

/**
 * Changes to one REPLICA IDENTITY FULL table that can be written as a few
 * set-based statements: deletes, then updates, then inserts, each set
 * matching against the table as it was before them. That gives the same
 * rows as replaying the changes in order when no change's old row is one an
 * earlier change in the set produced or already matched; `accepts` keeps it
 * so, and a change it refuses starts the next set. Equal rows are
 * interchangeable, so which of several identical target rows is touched does
 * not matter, only that each old row takes a row of its own.
 */
export class FullNet {
  readonly deletes: Tuple[] = [];
  readonly updates: { readonly old: Tuple; readonly values: Tuple }[] = [];
  readonly inserts: InsertRow[] = [];
  private readonly olds = new Set<string>();
  private readonly produced = new Set<string>();
  /** Inserts not yet in `produced`: an insert-only set never needs their keys. */
  private unhashed = 0;

  constructor(readonly rel: TargetRelation) {}

  get empty(): boolean {
    return this.deletes.length === 0 && this.updates.length === 0 && this.inserts.length === 0;
  }

  /** Whether the change may join this set; if not, write the set first and start a new one. */
  accepts(change: FullChange): boolean {
    if (change.kind === 'insert') return true;
    const old = oldRow(change) as Tuple;
    for (; this.unhashed < this.inserts.length; this.unhashed++) {
      const row = this.inserts[this.unhashed] as InsertRow;
      this.produced.add(keyOf(this.rel, row.encoded ?? row.values));
    }
    const key = keyOf(this.rel, old);
    return !this.olds.has(key) && !this.produced.has(key);
  }

  add(change: FullChange): void {
    if (change.kind === 'insert') {
      this.inserts.push(change);
      return;
    }
    const old = oldRow(change) as Tuple;
    this.olds.add(keyOf(this.rel, old));
    if (change.kind === 'delete') {
      this.deletes.push(old);
      return;
    }
    this.updates.push({ old, values: change.values });
    this.produced.add(keyOf(this.rel, change.values.map((v, i) => (v === undefined ? old[i] : v))));
  }
}

export type FullChange = Extract<BatchChange, { kind: 'insert' | 'update' | 'delete' }>;

function oldRow(change: FullChange): Tuple | undefined {
  return change.kind === 'delete' ? change.old : change.kind === 'update' ? change.old : undefined;
}

/**
 * Whether a change can be written set-based at all. Not: an update without
 * its old row, an old row with an unchanged TOASTed value (the match would
 * be incomplete), and a key change a GENERATED ALWAYS identity column makes
 * into a delete and an insert. Those are written row by row in their place.
 */
export function settable(rel: TargetRelation, change: FullChange): boolean {
  if (change.kind === 'insert') return true;
  const old = oldRow(change);
  if (!old || rel.identity.some((i) => old[i] === undefined)) return false;
  return change.kind === 'delete' || !needsReinsert(rel, old, change.values);
}

/** The set's deletes and updates as statements, one per shape of old row and set of changed columns; its inserts for COPY. */
export function fullStatements(net: FullNet): { statements: SetStatement[]; inserts: readonly InsertRow[] } {
  const rel = net.rel;
  const statements: SetStatement[] = [];
  for (const { match, rows } of groupBy(net.deletes, (old) => fullMatchOf(rel, old), shapeKey)) {
    statements.push(deleteMany(rel, match, rows));
  }
  // An ALWAYS identity column is never SET: `settable` let only updates through that leave it unchanged.
  const setOf = (values: Tuple) => rel.written.filter((i) => values[i] !== undefined && !rel.identityAlways.has(i));
  const updates = groupBy(net.updates, (u) => ({ match: fullMatchOf(rel, u.old), set: setOf(u.values) }),
    (s) => `${shapeKey(s.match)}/${s.set.join(',')}`);
  for (const { match, rows } of updates) {
    if (match.set.length > 0) statements.push(updateMany(rel, match.match, match.set, rows));
  }
  return { statements, inserts: net.inserts };
}

function groupBy<T, S>(items: readonly T[], shapeOf: (item: T) => S, keyOfShape: (shape: S) => string): { match: S; rows: T[] }[] {
  const groups = new Map<string, { match: S; rows: T[] }>();
  for (const item of items) {
    const shape = shapeOf(item);
    const key = keyOfShape(shape);
    const group = groups.get(key) ?? { match: shape, rows: [] };
    group.rows.push(item);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/**
 * `unnest($1::t1[], …) WITH ORDINALITY AS s(c0, …, n)`: parameter n holds
 * column `indexes[n]` of every row in `rows` (projected to those columns);
 * `read(n)` is that column as its type (arrays travel as text and are cast
 * one by one).
 */
function unnestRows(rel: TargetRelation, indexes: readonly number[], rows: readonly Tuple[]) {
  const params = indexes.map((i, n) => `$${n + 1}::${rel.arrayColumns.has(i) ? 'text' : rel.types[i]}[]`);
  return {
    from: `unnest(${params.join(', ')}) WITH ORDINALITY AS s(${indexes.map((_, n) => `c${n}, `).join('')}n)`,
    read: (n: number) => (rel.arrayColumns.has(indexes[n] as number) ? `s.c${n}::${rel.types[indexes[n] as number]}` : `s.c${n}`),
    values: indexes.map((i, n) => columnArray(rel, i, rows.map((r) => r[n] ?? null))),
  };
}

/**
 * `SELECT <ctid of the matching target row> AS tid, <extra> FROM <old rows>`.
 * With an index, one lookup per old row (LIMIT 1: one row each). Without,
 * one hash join of the table against the old rows' text, one target row per
 * old row (DISTINCT ON): a single scan of the table instead of one per row.
 * Two old rows in a set are never equal, so they never take the same row.
 */
function matchedRows(rel: TargetRelation, m: FullMatch, src: ReturnType<typeof unnestRows>, extra: readonly string[]): string {
  const more = extra.map((e, n) => `, ${e} AS v${n}`).join('');
  if (m.equal.length > 0 || m.isNull.length > 0) {
    return `SELECT (${oneRowCtid(rel, m, (i) => src.read(m.compared.indexOf(i)))}) AS tid${more} FROM ${src.from}`;
  }
  const x = rowText(m.compared.map((i) => `x.${column(rel, i)}`));
  const s = rowText(m.compared.map((_, n) => src.read(n)));
  return `SELECT DISTINCT ON (o.n) x.ctid AS tid${extra.map((_, n) => `, o.v${n}`).join('')} FROM ${rel.qualifiedName} x
    JOIN (SELECT ${s} AS r, s.n${more} FROM ${src.from}) o ON ${x} = o.r ORDER BY o.n`;
}

function deleteMany(rel: TargetRelation, m: FullMatch, olds: readonly Tuple[]): SetStatement {
  const src = unnestRows(rel, m.compared, olds.map((old) => m.compared.map((i) => old[i])));
  return {
    text: `DELETE FROM ${rel.qualifiedName} WHERE ctid = ANY (ARRAY(SELECT m.tid FROM (${matchedRows(rel, m, src, [])}) m))`,
    values: src.values,
    expectRows: olds.length,
    describe: `delete of ${olds.length} row(s) from ${rel.label}`,
  };
}

function updateMany(rel: TargetRelation, m: FullMatch, set: readonly number[], rows: readonly { old: Tuple; values: Tuple }[]): SetStatement {
  const src = unnestRows(rel, [...m.compared, ...set], rows.map((r) => [...m.compared.map((i) => r.old[i]), ...set.map((i) => r.values[i])]));
  const extra = set.map((_, k) => src.read(m.compared.length + k));
  const sets = set.map((i, n) => `${column(rel, i)} = m.v${n}`).join(', ');
  return {
    text: `UPDATE ${rel.qualifiedName} t SET ${sets} FROM (${matchedRows(rel, m, src, extra)}) m WHERE t.ctid = m.tid`,
    values: src.values,
    expectRows: rows.length,
    describe: `update of ${rows.length} row(s) of ${rel.label}`,
  };
}
