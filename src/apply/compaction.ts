import type { EncodedRow, Tuple } from '../change/change.js';
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
  | { readonly op: 'replace'; readonly key: Tuple; readonly row: InsertRow }
  /** `values` may hold `undefined`: columns to leave as they are. */
  | { readonly op: 'update'; readonly key: Tuple; readonly values: Tuple }
  | { readonly op: 'delete'; readonly key: Tuple };

/** A row to insert; an insert change is one, and keeps its row encoded for COPY. */
export interface InsertRow {
  readonly values: Tuple;
  readonly encoded?: EncodedRow;
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

export function keyOf(rel: TargetRelation, tuple: Tuple | EncodedRow): string {
  let key = '';
  for (const i of rel.identity) {
    const v = Array.isArray(tuple) ? tuple[i] : (tuple as EncodedRow).value(i);
    if (v === undefined) throw new NotCompactable('key value not sent');
    // Length-prefixed, so no two different keys can spell the same string;
    // binary values byte for byte (latin1 maps each byte to one character).
    if (v === null) key += 'N;';
    else if (typeof v === 'string') key += `${v.length}:${v}`;
    else key += `${v.length}b${v.latin1}`;
  }
  return key;
}

function merge(base: Tuple, next: Tuple): Tuple {
  return next.map((v, i) => (v === undefined ? base[i] : v));
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
    remove(net, keyOf(rel, change.old), change.old);
    return;
  }
  const newKey = keyOf(rel, change.values);
  const oldKey = change.old ? keyOf(rel, change.old) : newKey;
  if (oldKey === newKey) {
    const current = net.rows.get(newKey);
    if (!current) net.rows.set(newKey, { op: 'update', key: change.old ?? change.values, values: change.values });
    else if (current.op === 'delete') throw new NotCompactable('update of a deleted row');
    else if (current.op === 'update') net.rows.set(newKey, { op: 'update', key: current.key, values: merge(current.values, change.values) });
    else net.rows.set(newKey, { ...current, row: { values: merge(current.row.values, change.values) } });
    return;
  }
  // A key change is the old row leaving and a new row arriving.
  const before = valuesSoFar(net.rows.get(oldKey));
  const full = before ? merge(before, change.values) : change.values;
  if (full.some((v, i) => v === undefined && rel.written.includes(i))) throw new NotCompactable('key change with unchanged TOAST values');
  remove(net, oldKey, change.old as Tuple);
  insert(net, newKey, { values: full });
}

/** The row as the batch has left it so far, unless the batch deleted it. */
function valuesSoFar(change: NetChange | undefined): Tuple | undefined {
  if (!change || change.op === 'delete') return undefined;
  return change.op === 'update' ? change.values : change.row.values;
}

function insert(net: TableNet, key: string, row: InsertRow): void {
  const current = net.rows.get(key);
  if (!current) net.rows.set(key, { op: 'insert', row });
  else if (current.op === 'delete') net.rows.set(key, { op: 'replace', key: current.key, row });
  else throw new NotCompactable('insert of an existing key');
}

function remove(net: TableNet, key: string, old: Tuple): void {
  const current = net.rows.get(key);
  if (!current) net.rows.set(key, { op: 'delete', key: old });
  else if (current.op === 'insert') net.rows.delete(key);
  else if (current.op === 'delete') throw new NotCompactable('delete of a deleted row');
  else net.rows.set(key, { op: 'delete', key: current.key });
}
