import type { EncodedRow, Tuple } from '../change/change.js';
import { quoteIdent } from '../pg/connect.js';
import type { BatchChange } from './batch.js';
import type { InsertRow } from './compaction.js';
import { encodedRows, fitsEncoded, tupleRows, type FullRows } from './full-rows.js';
import { needsReinsert } from './row-statements.js';
import type { SetStatement } from './set-statements.js';
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
  return matchOf(rel, tupleRows, old);
}

function matchOf<R>(rel: TargetRelation, rows: FullRows<R>, old: R): FullMatch {
  const compared = rel.identity.filter((i) => !rows.unchanged(old, i));
  const index = rel.rowIndex?.columns ?? [];
  if (index.some((i) => rows.unchanged(old, i))) return { compared, equal: [], isNull: [] };
  return { compared, equal: index.filter((i) => !rows.isNull(old, i)), isNull: index.filter((i) => rows.isNull(old, i)) };
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
 *
 * A set holds its rows as decoded tuples, or as the source's encoded bytes
 * where every change's rows allow it (see full-rows.ts); a change of the
 * other kind starts the next set.
 */
/**
 * A set is closed at this many changes: the target starts on its statements
 * while the next set's parameters are written, rather than wait for all of a
 * large batch's.
 */
export const FULL_SET_ROWS = 2000;

export class FullNet {
  readonly deletes: Row[] = [];
  readonly updates: Update[] = [];
  readonly inserts: InsertRow[] = [];
  /** Whether this set's rows are encoded rows, else tuples. */
  readonly encoded: boolean;
  readonly rows: FullRows<Row>;
  /**
   * Old rows and produced rows by the value of one column; rows are compared
   * in full only when that value is shared, so most changes cost one lookup.
   */
  private readonly olds: Remembered = { first: new Map(), more: new Map() };
  private readonly produced: Remembered = { first: new Map(), more: new Map() };
  /** Inserts not yet in `produced`: an insert-only set never needs them there. */
  private unindexed = 0;
  /** The column rows are looked up by: the index's first, the most likely to tell rows apart. */
  private readonly by: number;

  /** A set for `first` and the changes like it. */
  constructor(readonly rel: TargetRelation, first: FullChange) {
    this.by = rel.rowIndex?.columns[0] ?? (rel.identity[0] as number);
    this.encoded = fitsEncoded(rel, first);
    this.rows = (this.encoded ? encodedRows : tupleRows) as FullRows<Row>;
  }

  get size(): number {
    return this.deletes.length + this.updates.length + this.inserts.length;
  }

  /** Whether the change may join this set; if not, write the set first and start a new one. */
  accepts(change: FullChange): boolean {
    if (fitsEncoded(this.rel, change) !== this.encoded) return false;
    if (change.kind === 'insert') return true;
    for (; this.unindexed < this.inserts.length; this.unindexed++) this.remember(this.produced, this.insertedRow(this.inserts[this.unindexed] as InsertRow));
    const old = this.oldOf(change);
    return !this.seen(this.olds, old) && !this.seen(this.produced, old);
  }

  add(change: FullChange): void {
    if (change.kind === 'insert') {
      this.inserts.push(change);
      return;
    }
    const old = this.oldOf(change);
    this.remember(this.olds, old);
    if (change.kind === 'delete') {
      this.deletes.push(old);
      return;
    }
    const values = this.encoded ? change.encodedValues as EncodedRow : change.values;
    this.updates.push({ old, values });
    this.remember(this.produced, this.rows.produced(old, values));
  }

  private oldOf(change: Exclude<FullChange, { kind: 'insert' }>): Row {
    return this.encoded ? change.encodedOld as EncodedRow : change.old as Tuple;
  }

  private insertedRow(row: InsertRow): Row {
    return this.encoded ? row.encoded as EncodedRow : row.values;
  }

  private remember(rows: Remembered, row: Row): void {
    const key = this.rows.key(row, this.by);
    const first = rows.first.get(key);
    if (first === undefined) {
      rows.first.set(key, row);
      return;
    }
    const more = rows.more.get(key);
    if (more) more.push(row);
    else rows.more.set(key, [row]);
  }

  private seen(rows: Remembered, row: Row): boolean {
    const key = this.rows.key(row, this.by);
    const first = rows.first.get(key);
    if (first === undefined) return false;
    if (this.rows.same(this.rel, first, row)) return true;
    return rows.more.get(key)?.some((other) => this.rows.same(this.rel, other, row)) === true;
  }
}

/** Rows by a key: the first of each key alone (no array for the usual key that no other row shares), the others after it. */
interface Remembered {
  readonly first: Map<string | number | null, Row>;
  readonly more: Map<string | number | null, Row[]>;
}

type Row = Tuple | EncodedRow;
interface Update { readonly old: Row; readonly values: Row }

export type FullChange = Extract<BatchChange, { kind: 'insert' | 'update' | 'delete' }>;

/**
 * Whether a change can be written set-based at all. Not: an update without
 * its old row, an old row with an unchanged TOASTed value (the match would
 * be incomplete), and a key change a GENERATED ALWAYS identity column makes
 * into a delete and an insert. Those are written row by row in their place.
 */
export function settable(rel: TargetRelation, change: FullChange): boolean {
  if (change.kind === 'insert') return true;
  // Encoded rows that fit have every value (none is an unchanged TOASTed one).
  if (!fitsEncoded(rel, change)) {
    const old = change.old;
    if (!old || (old.includes(undefined) && rel.identity.some((i) => old[i] === undefined))) return false;
  }
  return change.kind === 'delete' || rel.identityAlways.size === 0 || !needsReinsert(rel, change.old, change.values);
}

/** The set's deletes and updates as statements, one per shape of old row and set of changed columns (its inserts go by COPY). */
export function fullStatements(net: FullNet): SetStatement[] {
  const rel = net.rel;
  const rows = net.rows;
  const statements: SetStatement[] = [];
  for (const { first, rows: olds } of groupBy(net.deletes, (old) => matchSignature(rel, rows, old) ?? 0)) {
    const match = matchOf(rel, rows, first);
    statements.push(deleteMany(rel, match, olds.length, rows.columns(rel, olds, match.compared)));
  }
  const updates = groupBy(net.updates, (u) => {
    const match = matchSignature(rel, rows, u.old);
    const set = setSignature(rel, rows, u);
    return match === undefined ? set : `${match}/${set}`;
  });
  for (const { first, rows: group } of updates) {
    const match = matchOf(rel, rows, first.old);
    const set = rel.written.filter((i) => changed(rel, rows, first, i));
    if (set.length === 0) continue;
    const olds = group.map((u) => u.old);
    const news = group.map((u) => u.values);
    const columns = [...rows.columns(rel, olds, match.compared), ...rows.columns(rel, news, set)];
    statements.push(updateMany(rel, match, set, group.length, columns));
  }
  return statements;
}

/**
 * Equal for old rows of the same `FullMatch`: which columns are unchanged
 * TOAST ('u') or NULL in an index column ('n'). Undefined for the usual row
 * that has neither, so most rows cost no string.
 */
function matchSignature(rel: TargetRelation, rows: FullRows<Row>, old: Row): string | undefined {
  const index = rel.rowIndex?.columns ?? [];
  let sig: string | undefined;
  for (const i of rel.identity) {
    if (rows.unchanged(old, i)) sig = `${sig ?? ''}${i}u,`;
    else if (index.includes(i) && rows.isNull(old, i)) sig = `${sig ?? ''}${i}n,`;
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
function changed(rel: TargetRelation, rows: FullRows<Row>, u: Update, i: number): boolean {
  return rows.differs(u.old, u.values, i) && !rel.identityAlways.has(i);
}

/** Equal for updates that SET the same columns: a bit mask where the columns fit in one. */
function setSignature(rel: TargetRelation, rows: FullRows<Row>, u: Update): number | string {
  // Encoded rows: every column is written and compared, so a column's bit is its index.
  const differences = rows.differences(rel, u.old, u.values);
  if (differences !== undefined) return rel.identityAlways.size === 0 ? differences : differences & ~alwaysMask(rel);
  if (rel.written.length > 30) return rel.written.map((i) => (changed(rel, rows, u, i) ? 'v' : '-')).join('');
  let sig = 0;
  for (let n = 0; n < rel.written.length; n++) if (changed(rel, rows, u, rel.written[n] as number)) sig |= 1 << n;
  return sig;
}

function alwaysMask(rel: TargetRelation): number {
  let mask = 0;
  for (const i of rel.identityAlways) if (i < 31) mask |= 1 << i;
  return mask;
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

type Param = (string | null)[] | Buffer;

/**
 * `unnest($1::t1[], …) WITH ORDINALITY AS s(c0, …, n)`: parameter n holds
 * `columns[n]`, the values of column `indexes[n]`; `read(n)` is that column
 * as its type (arrays travel as text and are cast one by one).
 */
function unnestRows(rel: TargetRelation, indexes: readonly number[], columns: Param[]) {
  const params = indexes.map((i, n) => `$${n + 1}::${rel.arrayColumns.has(i) ? 'text' : rel.types[i]}[]`);
  return {
    from: `unnest(${params.join(', ')}) WITH ORDINALITY AS s(${indexes.map((_, n) => `c${n}, `).join('')}n)`,
    read: (n: number) => (rel.arrayColumns.has(indexes[n] as number) ? `s.c${n}::${rel.types[indexes[n] as number]}` : `s.c${n}`),
    values: columns,
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
function deleteMany(rel: TargetRelation, m: FullMatch, rows: number, columns: Param[]): SetStatement {
  const src = unnestRows(rel, m.compared, columns);
  return {
    text: `DELETE FROM ${rel.qualifiedName} WHERE ctid = ANY (ARRAY(SELECT m.tid FROM (${matchedRows(rel, m, src, [])}) m))`,
    values: src.values,
    expectRows: rows,
    describe: `delete of ${rows} row(s) from ${rel.label}`,
  };
}

/** `columns`: the old rows' values of each compared column, then the new values of each column in `set`. */
function updateMany(rel: TargetRelation, m: FullMatch, set: readonly number[], rows: number, columns: Param[]): SetStatement {
  const src = unnestRows(rel, [...m.compared, ...set], columns);
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
