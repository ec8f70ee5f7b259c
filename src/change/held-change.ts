import { BinaryValue, type Relation, type Tuple, type Value } from './change.js';
import type { Position } from '../source/position.js';
import type { SourceEvent } from '../source/source.js';

/** A change of a table that joins a streaming group, kept on the target until the table is copied. */
export type HoldableChange = Extract<SourceEvent, { kind: 'relation' | 'insert' | 'update' | 'delete' | 'truncate' | 'unreadable' | 'message' }>;

export interface HeldChange {
  readonly kind: 'held';
  /** The joining table, as the group names it (a partition's changes are held under its partitioned table). */
  readonly table: string;
  /** Commit position of the source transaction the change belongs to. */
  readonly position: Position;
  readonly change: HoldableChange;
}

/**
 * Held changes are stored as JSON: text values as strings, binary ones as
 * base64, an unchanged TOASTed value as 0 (JSON has no undefined).
 */
type StoredValue = string | null | 0 | { readonly b: string };

type StoredChange =
  | { readonly k: 'r'; readonly relation: Relation }
  | { readonly k: 'i'; readonly id: number; readonly v: StoredValue[] }
  | { readonly k: 'u'; readonly id: number; readonly o: StoredValue[] | null; readonly key: boolean; readonly v: StoredValue[] }
  | { readonly k: 'd'; readonly id: number; readonly o: StoredValue[]; readonly key: boolean }
  | { readonly k: 't'; readonly ids: readonly number[]; readonly cascade: boolean; readonly restart: boolean }
  | { readonly k: 'x'; readonly relation: Relation; readonly reason: string }
  | { readonly k: 'm'; readonly prefix: string; readonly content: string };

export function encodeHeld(change: HoldableChange): string {
  return JSON.stringify(toStored(change));
}

function toStored(change: HoldableChange): StoredChange {
  switch (change.kind) {
    case 'relation': return { k: 'r', relation: change.relation };
    case 'insert': return { k: 'i', id: change.relationId, v: storeTuple(change.values) };
    case 'update': return { k: 'u', id: change.relationId, o: change.old ? storeTuple(change.old) : null, key: change.oldIsKeyOnly, v: storeTuple(change.values) };
    case 'delete': return { k: 'd', id: change.relationId, o: storeTuple(change.old), key: change.oldIsKeyOnly };
    case 'truncate': return { k: 't', ids: change.relationIds, cascade: change.cascade, restart: change.restartIdentity };
    case 'unreadable': return { k: 'x', relation: change.relation, reason: change.reason };
    case 'message': return { k: 'm', prefix: change.prefix, content: change.content.toString('base64') };
  }
}

export function decodeHeld(stored: unknown): HoldableChange {
  const s = stored as StoredChange;
  switch (s.k) {
    case 'r': return { kind: 'relation', relation: s.relation };
    case 'i': return { kind: 'insert', relationId: s.id, values: loadTuple(s.v) };
    case 'u': return { kind: 'update', relationId: s.id, ...(s.o ? { old: loadTuple(s.o) } : {}), oldIsKeyOnly: s.key, values: loadTuple(s.v) };
    case 'd': return { kind: 'delete', relationId: s.id, old: loadTuple(s.o), oldIsKeyOnly: s.key };
    case 't': return { kind: 'truncate', relationIds: s.ids, cascade: s.cascade, restartIdentity: s.restart };
    case 'x': return { kind: 'unreadable', relation: s.relation, reason: s.reason };
    case 'm': return { kind: 'message', transactional: true, lsn: 0n, prefix: s.prefix, content: Buffer.from(s.content, 'base64') };
  }
}

function storeTuple(tuple: Tuple): StoredValue[] {
  return tuple.map((v: Value) => (v === undefined ? 0 : v instanceof BinaryValue ? { b: v.toBuffer().toString('base64') } : v));
}

function loadTuple(stored: readonly StoredValue[]): Tuple {
  return stored.map((v) => (v === 0 ? undefined : v !== null && typeof v === 'object' ? new BinaryValue(Buffer.from(v.b, 'base64').toString('latin1')) : v));
}
