import { BinaryValue, type Tuple, type Value } from '../change/change.js';
import { quoteIdent } from '../pg/connect.js';
import type { BatchChange } from './batch.js';
import type { InsertRow } from './compaction.js';
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
  /**
   * Old rows and produced rows by the value of one column; rows are compared
   * in full only when that value is shared, so most changes cost one lookup.
   */
  private readonly olds = new Map<string | null, Tuple[]>();
  private readonly produced = new Map<string | null, Tuple[]>();
  /** Inserts not yet in `produced`: an insert-only set never needs them there. */
  private unindexed = 0;
  /** The column rows are looked up by: the index's first, the most likely to tell rows apart. */
  private readonly by: number;

  constructor(readonly rel: TargetRelation) {
    this.by = rel.rowIndex?.columns[0] ?? (rel.identity[0] as number);
  }

  /** Whether the change may join this set; if not, write the set first and start a new one. */
  accepts(change: FullChange): boolean {
    if (change.kind === 'insert') return true;
    for (; this.unindexed < this.inserts.length; this.unindexed++) this.remember(this.produced, (this.inserts[this.unindexed] as InsertRow).values);
    const old = oldRow(change) as Tuple;
    return !this.seen(this.olds, old) && !this.seen(this.produced, old);
  }

  add(change: FullChange): void {
    if (change.kind === 'insert') {
      this.inserts.push(change);
      return;
    }
    const old = oldRow(change) as Tuple;
    this.remember(this.olds, old);
    if (change.kind === 'delete') {
      this.deletes.push(old);
      return;
    }
    const values = change.values;
    this.updates.push({ old, values });
    this.remember(this.produced, values.includes(undefined) ? values.map((v, i) => (v === undefined ? old[i] : v)) : values);
  }

  private remember(rows: Map<string | null, Tuple[]>, row: Tuple): void {
    const key = lookupKey(row[this.by]);
    const same = rows.get(key);
    if (same) same.push(row);
    else rows.set(key, [row]);
  }

  private seen(rows: Map<string | null, Tuple[]>, row: Tuple): boolean {
    const same = rows.get(lookupKey(row[this.by]));
    if (same === undefined) return false;
    return same.some((other) => this.rel.identity.every((i) => sameValue(other[i], row[i])));
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
  if (!old || (old.includes(undefined) && rel.identity.some((i) => old[i] === undefined))) return false;
  return change.kind === 'delete' || rel.identityAlways.size === 0 || !needsReinsert(rel, old, change.values);
}

/** The set's deletes and updates as statements, one per shape of old row and set of changed columns; its inserts for COPY. */
export function fullStatements(net: FullNet): { statements: SetStatement[]; inserts: readonly InsertRow[] } {
  const rel = net.rel;
  const statements: SetStatement[] = [];
  for (const { first, rows } of groupBy(net.deletes, (old) => matchSignature(rel, old) ?? 0)) {
    const match = fullMatchOf(rel, first);
    statements.push(deleteMany(rel, match, match.compared.map((i) => rows.map((old) => old[i]))));
  }
  const updates = groupBy(net.updates, (u) => {
    const match = matchSignature(rel, u.old);
    const set = setSignature(rel, u);
    return match === undefined ? set : `${match}/${set}`;
  });
  for (const { first, rows } of updates) {
    const match = fullMatchOf(rel, first.old);
    const set = rel.written.filter((i) => changed(rel, first, i));
    if (set.length === 0) continue;
    const columns = [...match.compared.map((i) => rows.map((u) => u.old[i])), ...set.map((i) => rows.map((u) => u.values[i]))];
    statements.push(updateMany(rel, match, set, columns));
  }
  return { statements, inserts: net.inserts };
}

/**
 * Equal for old rows of the same `FullMatch`: which columns are unchanged
 * TOAST ('u') or NULL in an index column ('n'). Undefined for the usual row
 * that has neither, so most rows cost no string.
 */
function matchSignature(rel: TargetRelation, old: Tuple): string | undefined {
  const index = rel.rowIndex?.columns ?? [];
  let sig: string | undefined;
  for (const i of rel.identity) {
    const v = old[i];
    if (v === undefined) sig = `${sig ?? ''}${i}u,`;
    else if (v === null && index.includes(i)) sig = `${sig ?? ''}${i}n,`;
  }
  return sig;
}

/**
 * Whether an update SETs column `i`: only where the value changed. The row
 * it finds reads the same as the old row in every column, so the others hold
 * their new value already. Not an unchanged TOASTed value (not sent), and
 * never an ALWAYS identity column (`settable` let only updates through that
 * leave it unchanged).
 */
function changed(rel: TargetRelation, u: { readonly old: Tuple; readonly values: Tuple }, i: number): boolean {
  const v = u.values[i];
  return v !== undefined && !sameValue(v, u.old[i]) && !rel.identityAlways.has(i);
}

/** Equal for updates that SET the same columns: a bit mask where the columns fit in one. */
function setSignature(rel: TargetRelation, u: { readonly old: Tuple; readonly values: Tuple }): number | string {
  if (rel.written.length > 30) return rel.written.map((i) => (changed(rel, u, i) ? 'v' : '-')).join('');
  let sig = 0;
  for (let n = 0; n < rel.written.length; n++) if (changed(rel, u, rel.written[n] as number)) sig |= 1 << n;
  return sig;
}

function groupBy<T>(items: readonly T[], signature: (item: T) => string | number): { first: T; rows: T[] }[] {
  const groups = new Map<string | number, { first: T; rows: T[] }>();
  for (const item of items) {
    const key = signature(item);
    const group = groups.get(key);
    if (group) group.rows.push(item);
    else groups.set(key, { first: item, rows: [item] });
  }
  return [...groups.values()];
}

/**
 * `unnest($1::t1[], …) WITH ORDINALITY AS s(c0, …, n)`: parameter n holds
 * `columns[n]`, the values of column `indexes[n]`; `read(n)` is that column
 * as its type (arrays travel as text and are cast one by one).
 */
function unnestRows(rel: TargetRelation, indexes: readonly number[], columns: readonly Value[][]) {
  const params = indexes.map((i, n) => `$${n + 1}::${rel.arrayColumns.has(i) ? 'text' : rel.types[i]}[]`);
  return {
    from: `unnest(${params.join(', ')}) WITH ORDINALITY AS s(${indexes.map((_, n) => `c${n}, `).join('')}n)`,
    read: (n: number) => (rel.arrayColumns.has(indexes[n] as number) ? `s.c${n}::${rel.types[indexes[n] as number]}` : `s.c${n}`),
    values: indexes.map((i, n) => columnArray(rel, i, columns[n] as Value[])),
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

/** `columns`: the old rows' values of each compared column. */
function deleteMany(rel: TargetRelation, m: FullMatch, columns: readonly Value[][]): SetStatement {
  const src = unnestRows(rel, m.compared, columns);
  const rows = columns[0]?.length ?? 0;
  return {
    text: `DELETE FROM ${rel.qualifiedName} WHERE ctid = ANY (ARRAY(SELECT m.tid FROM (${matchedRows(rel, m, src, [])}) m))`,
    values: src.values,
    expectRows: rows,
    describe: `delete of ${rows} row(s) from ${rel.label}`,
  };
}

/** `columns`: the old rows' values of each compared column, then the new values of each column in `set`. */
function updateMany(rel: TargetRelation, m: FullMatch, set: readonly number[], columns: readonly Value[][]): SetStatement {
  const src = unnestRows(rel, [...m.compared, ...set], columns);
  const rows = columns[0]?.length ?? 0;
  const extra = set.map((_, k) => src.read(m.compared.length + k));
  const sets = set.map((i, n) => `${column(rel, i)} = m.v${n}`).join(', ');
  // Read twice, so computed once (a CTE used twice is not inlined): the ctids as an array make a TID scan of
  // the table, where a join on ctid would let the planner hash the whole table.
  return {
    text: `WITH m AS (${matchedRows(rel, m, src, extra)})
      UPDATE ${rel.qualifiedName} t SET ${sets} FROM m WHERE t.ctid = ANY (ARRAY(SELECT m.tid FROM m)) AND t.ctid = m.tid`,
    values: src.values,
    expectRows: rows,
    describe: `update of ${rows} row(s) of ${rel.label}`,
  };
}
