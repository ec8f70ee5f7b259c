import { BinaryValue, type Tuple, type Value } from '../change/change.js';
import { quoteIdent } from '../pg/connect.js';
import { fullMatchOf, oneRowCtid } from './full-identity.js';
import type { TargetRelation } from './target-relation.js';

/** A parameterised statement; `text` doubles as the prepared-statement cache key. */
export interface Statement {
  readonly text: string;
  /** Text values, or Buffers in their type's binary format (pg sends those as binary parameters). */
  readonly values: Param[];
}

/**
 * One statement per changed row, in source order: the exact replay used for
 * every batch until set-based apply takes over, and its fallback afterwards.
 */
export function insertStatement(rel: TargetRelation, values: Tuple): Statement {
  const cols: string[] = [];
  const params: string[] = [];
  const out: Param[] = [];
  for (const i of rel.written) {
    const value = values[i];
    if (value === undefined) continue;
    out.push(param(value));
    cols.push(quoteIdent(rel.columnNames[i] as string));
    params.push(`$${out.length}`);
  }
  const overriding = rel.identityAlways.size > 0 ? ' OVERRIDING SYSTEM VALUE' : '';
  return { text: `INSERT INTO ${rel.qualifiedName} (${cols.join(', ')})${overriding} VALUES (${params.join(', ')})`, values: out };
}

export function updateStatement(rel: TargetRelation, old: Tuple | undefined, values: Tuple): Statement {
  const sets: string[] = [];
  const out: Param[] = [];
  const keyUnchanged = old === undefined || !rel.identity.some((i) => rel.identityAlways.has(i) && !sameValue(old[i], values[i]));
  for (const i of rel.written) {
    const value = values[i];
    // Unchanged TOASTed values are not sent: leave the target's value alone.
    if (value === undefined) continue;
    // An ALWAYS identity key that did not change may not be SET, even to its own value.
    if (keyUnchanged && rel.identityAlways.has(i) && rel.identity.includes(i)) continue;
    out.push(param(value));
    sets.push(`${quoteIdent(rel.columnNames[i] as string)} = $${out.length}`);
  }
  if (sets.length === 0) return { text: 'SELECT 1', values: [] };
  const where = rowMatch(rel, old ?? values, out);
  return { text: `UPDATE ${rel.qualifiedName} SET ${sets.join(', ')} WHERE ${where}`, values: out };
}

/** A key change on a target with an ALWAYS identity key: UPDATE cannot move it, so delete and insert. */
export function needsReinsert(rel: TargetRelation, old: Tuple | undefined, values: Tuple): boolean {
  return old !== undefined && rel.identity.some((i) => rel.identityAlways.has(i) && !sameValue(old[i], values[i]));
}

export function deleteStatement(rel: TargetRelation, old: Tuple): Statement {
  const out: Param[] = [];
  const where = rowMatch(rel, old, out);
  return { text: `DELETE FROM ${rel.qualifiedName} WHERE ${where}`, values: out };
}

/**
 * The row an update or delete refers to. With a key, equality on the key.
 * With REPLICA IDENTITY FULL there is no key: one row equal to the old row
 * in every column, touched by ctid (see full-identity.ts).
 */
function rowMatch(rel: TargetRelation, key: Tuple, out: Param[]): string {
  if (rel.fullIdentity) {
    const placeholders = new Map<number, string>();
    const value = (i: number) => {
      let placeholder = placeholders.get(i);
      if (placeholder === undefined) {
        out.push(param(key[i] as string | BinaryValue | null));
        // Typed, so the value reads as the column does (and a binary parameter can be read at all).
        placeholder = `$${out.length}::${rel.types[i]}`;
        placeholders.set(i, placeholder);
      }
      return placeholder;
    };
    return `ctid = (${oneRowCtid(rel, fullMatchOf(rel, key), value)})`;
  }
  const conds: string[] = [];
  for (const i of rel.identity) {
    const value = key[i];
    const col = quoteIdent(rel.columnNames[i] as string);
    if (value === undefined) continue;
    if (value === null) {
      conds.push(`${col} IS NULL`);
      continue;
    }
    out.push(param(value));
    conds.push(`${col} = $${out.length}`);
  }
  return conds.length > 0 ? conds.join(' AND ') : 'true';
}

/** Equal text, or equal bytes of binary values. */
function sameValue(a: Value, b: Value): boolean {
  return a instanceof BinaryValue && b instanceof BinaryValue ? a.latin1 === b.latin1 : a === b;
}

type Param = string | Buffer | null;

function param(value: string | BinaryValue | null): Param {
  return value instanceof BinaryValue ? value.toBuffer() : value;
}

/**
/**
 * Exactly the tables the stream names, never CASCADE: the source already
 * lists every replicated table its cascade reached, and on the target a
 * cascade would also empty tables Ferry does not own (target-only tables,
 * another group's tables) at the wrong stream position. A source partition
 * whose rows go to the target's root (see partition-placement.ts) is emptied
 * by deleting the rows its partition constraint selects, as a TRUNCATE of the
 * root would empty the other partitions too.
 */
export function truncateStatements(rels: readonly TargetRelation[], restartIdentity: boolean): Statement[] {
  const whole = rels.filter((r) => r.partitionConstraint === undefined);
  const statements: Statement[] = rels.filter((r) => r.partitionConstraint !== undefined)
    .map((r) => ({ text: `DELETE FROM ${r.qualifiedName} WHERE ${r.partitionConstraint}`, values: [] }));
  if (whole.length > 0) {
    const names = whole.map((r) => r.qualifiedName).join(', ');
    statements.unshift({ text: `TRUNCATE ${names}${restartIdentity ? ' RESTART IDENTITY' : ''}`, values: [] });
  }
  return statements;
}
