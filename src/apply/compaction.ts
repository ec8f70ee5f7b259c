import type { Tuple } from '../change/change.js';
import type { BatchChange } from './batch.js';
import type { TargetRelation } from './target-relation.js';

/**
 * The net effect of a batch on one table, per key. Many changes to one row
 * become one write: insert+update → insert of the final row, update+update →
 * one update, insert+delete → nothing, delete+insert → replace. The target
 * ends in the same state as replaying every change in order.
 */
export type NetChange =
  | { readonly op: 'insert'; readonly values: Tuple }
  /** The row existed before the batch: delete it by `key`, then insert `values`. */
  | { readonly op: 'replace'; readonly key: Tuple; readonly values: Tuple }
  /** `values` may hold `undefined`: columns to leave as they are. */
  | { readonly op: 'update'; readonly key: Tuple; readonly values: Tuple }
  | { readonly op: 'delete'; readonly key: Tuple };

export class TableNet {
  readonly rows = new Map<string, NetChange>();
  constructor(readonly rel: TargetRelation) {}
}

/** The batch has a sequence compaction cannot express; it is replayed in order instead. */
export class NotCompactable extends Error {}

export function keyOf(rel: TargetRelation, tuple: Tuple): string {
  let key = '';
  for (const i of rel.identity) {
    const v = tuple[i];
    if (v === undefined) throw new NotCompactable('key value not sent');
    // Length-prefixed, so no two different keys can spell the same string.
    key += v === null ? 'N;' : `${v.length}:${v}`;
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
    insert(net, keyOf(rel, change.values), change.values);
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
    else net.rows.set(newKey, { ...current, values: merge(current.values, change.values) });
    return;
  }
  // A key change is the old row leaving and a new row arriving.
  const before = net.rows.get(oldKey);
  const full = before && before.op !== 'delete' ? merge(before.values, change.values) : change.values;
  if (full.some((v, i) => v === undefined && rel.written.includes(i))) throw new NotCompactable('key change with unchanged TOAST values');
  remove(net, oldKey, change.old as Tuple);
  insert(net, newKey, full);
}

function insert(net: TableNet, key: string, values: Tuple): void {
  const current = net.rows.get(key);
  if (!current) net.rows.set(key, { op: 'insert', values });
  else if (current.op === 'delete') net.rows.set(key, { op: 'replace', key: current.key, values });
  else throw new NotCompactable('insert of an existing key');
}

function remove(net: TableNet, key: string, old: Tuple): void {
  const current = net.rows.get(key);
  if (!current) net.rows.set(key, { op: 'delete', key: old });
  else if (current.op === 'insert') net.rows.delete(key);
  else if (current.op === 'delete') throw new NotCompactable('delete of a deleted row');
  else net.rows.set(key, { op: 'delete', key: current.key });
}
