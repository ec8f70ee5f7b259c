import type { EncodedRow, Tuple, Value } from '../change/change.js';
import type { BatchChange } from './batch.js';
import type { TargetRelation } from './target-relation.js';

/**
 * The net effect of a batch on one table, per key. Many changes to one row
 * become one write: insert+update → insert of the final row, update+update →
 * one update, insert+delete → nothing, delete+insert → replace. The target
 * ends in the same state as replaying every change in order.
 */
export type NetChange =
  | { readonly op: 'insert'; readonly row: InsertRow }
  /** The row existed before the batch: delete it by `key`, then insert `row`. */
  | { readonly op: 'replace'; readonly key: Row; readonly row: InsertRow }
  /** `values` may hold unchanged values: columns to leave as they are. */
  | { readonly op: 'update'; readonly key: Row; readonly values: Row }
  | { readonly op: 'delete'; readonly key: Row };

/**
 * A row as decoded values, or still in the bytes the source sent: updates
 * and deletes stay encoded through compaction, so that set-based statements
 * write their parameters from those bytes and most values never become
 * JavaScript strings. Rows are decoded only to merge a row that left a
 * TOASTed value unchanged.
 */
export type Row = Tuple | EncodedRow;

/** A row to insert; an insert change is one, and keeps its row encoded for COPY. */
export interface InsertRow {
  readonly values: Tuple;
  readonly encoded?: EncodedRow;
}

export function valueOf(row: Row, i: number): Value {
  return Array.isArray(row) ? row[i] : (row as EncodedRow).value(i);
}

export function tupleOf(row: Row): Tuple {
  return Array.isArray(row) ? row : (row as EncodedRow).decodeAll();
}

/** The row holds every column's value: none is an unchanged TOASTed value. */
export function isComplete(row: Row): boolean {
  return Array.isArray(row) ? !row.includes(undefined) : !(row as EncodedRow).hasUnchanged;
}

/** An encoded row kept as it is for COPY; its values are decoded only if asked for. */
class EncodedInsertRow implements InsertRow {
  constructor(readonly encoded: EncodedRow) {}

  get values(): Tuple {
    return this.encoded.decodeAll();
  }
}

function insertRowOf(row: Row): InsertRow {
  return Array.isArray(row) ? { values: row } : new EncodedInsertRow(row as EncodedRow);
}

export class TableNet {
  /**
   * Inserts that came before any other change to the table: no key can
   * repeat among them (the source's key is unique, and nothing deleted a
   * row in between), so they are kept as a list and need no lookup.
   */
  private leading: InsertRow[] | undefined = [];
  private readonly byKey = new Map<string, NetChange>();

  constructor(readonly rel: TargetRelation) {}

  /** The batch only inserted rows into the table so far: these. */
  get insertsOnly(): readonly InsertRow[] | undefined {
    return this.leading;
  }

  /** Per key; the leading inserts join it the first time it is needed. */
  get rows(): Map<string, NetChange> {
    const leading = this.leading;
    if (leading) {
      this.leading = undefined;
      for (const row of leading) insert(this, keyOf(this.rel, row.encoded ?? row.values), row);
    }
    return this.byKey;
  }

  addInsert(row: InsertRow): void {
    if (this.leading) this.leading.push(row);
    else insert(this, keyOf(this.rel, row.encoded ?? row.values), row);
  }
}

/** The batch has a sequence compaction cannot express; it is replayed in order instead. */
export class NotCompactable extends Error {}

export function keyOf(rel: TargetRelation, row: Row): string {
  let key = '';
  for (const i of rel.identity) {
    const v = valueOf(row, i);
    if (v === undefined) throw new NotCompactable('key value not sent');
    // Length-prefixed, so no two different keys can spell the same string;
    // binary values byte for byte (latin1 maps each byte to one character).
    if (v === null) key += 'N;';
    else if (typeof v === 'string') key += `${v.length}:${v}`;
    else key += `${v.length}b${v.latin1}`;
  }
  return key;
}

/** `next` with its unchanged values taken from `base`. */
function merge(base: Row, next: Row): Row {
  if (isComplete(next)) return next;
  const old = tupleOf(base);
  return tupleOf(next).map((v, i) => (v === undefined ? old[i] : v));
}

/**
 * Folds one change into the table's net state. Throws NotCompactable for
 * sequences only an in-order replay gets right (a double insert, an update
 * of a deleted row, a key change whose new row is incomplete).
 */
export function fold(net: TableNet, change: Extract<BatchChange, { kind: 'insert' | 'update' | 'delete' }>): void {
  const rel = net.rel;
  if (change.kind === 'insert') {
    net.addInsert(change);
    return;
  }
  if (change.kind === 'delete') {
    const old = change.encodedOld ?? change.old;
    remove(net, keyOf(rel, old), old);
    return;
  }
  const values = change.encodedValues ?? change.values;
  const old = change.encodedOld ?? change.old;
  const newKey = keyOf(rel, values);
  const oldKey = old ? keyOf(rel, old) : newKey;
  if (oldKey === newKey) {
    const current = net.rows.get(newKey);
    if (!current) net.rows.set(newKey, { op: 'update', key: old ?? values, values });
    else if (current.op === 'delete') throw new NotCompactable('update of a deleted row');
    else if (current.op === 'update') net.rows.set(newKey, { op: 'update', key: current.key, values: merge(current.values, values) });
    else net.rows.set(newKey, { ...current, row: insertRowOf(merge(current.row.encoded ?? current.row.values, values)) });
    return;
  }
  // A key change is the old row leaving and a new row arriving.
  const before = rowSoFar(net.rows.get(oldKey));
  const full = before ? merge(before, values) : values;
  if (!isComplete(full) && rel.written.some((i) => valueOf(full, i) === undefined)) throw new NotCompactable('key change with unchanged TOAST values');
  remove(net, oldKey, old as Row);
  insert(net, newKey, insertRowOf(full));
}

/** The row as the batch has left it so far, unless the batch deleted it. */
function rowSoFar(change: NetChange | undefined): Row | undefined {
  if (!change || change.op === 'delete') return undefined;
  return change.op === 'update' ? change.values : change.row.encoded ?? change.row.values;
}

function insert(net: TableNet, key: string, row: InsertRow): void {
  const current = net.rows.get(key);
  if (!current) net.rows.set(key, { op: 'insert', row });
  else if (current.op === 'delete') net.rows.set(key, { op: 'replace', key: current.key, row });
  else throw new NotCompactable('insert of an existing key');
}

function remove(net: TableNet, key: string, old: Row): void {
  const current = net.rows.get(key);
  if (!current) net.rows.set(key, { op: 'delete', key: old });
  else if (current.op === 'insert') net.rows.delete(key);
  else if (current.op === 'delete') throw new NotCompactable('delete of a deleted row');
  else net.rows.set(key, { op: 'delete', key: current.key });
}
