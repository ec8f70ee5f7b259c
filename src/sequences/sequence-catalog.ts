import type pg from 'pg';
import type { GroupConfig } from '../config/schema.js';
import { resolveTables } from '../catalog/source-tables.js';
import { sequenceSql } from './sequence-sql.js';

/** How a column uses a sequence. */
export type SequenceUseKind = 'serial' | 'identity' | 'default';

export interface SequenceUse {
  readonly schema: string;
  readonly table: string;
  readonly column: string;
  readonly kind: SequenceUseKind;
}

/** A source sequence that a group's tables use, with its options (from pg_sequence). */
export interface SourceSequence {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** Groups whose tables use it (a standalone sequence may serve tables of several groups). */
  readonly groups: readonly string[];
  /** Columns that use it; owners (serial, identity) come before defaults. */
  readonly usedBy: readonly SequenceUse[];
  readonly dataType: string;
  readonly increment: string;
  readonly min: string;
  readonly max: string;
  readonly start: string;
  readonly cache: string;
  readonly cycle: boolean;
}

export function sequenceLabel(s: { schema: string; name: string }): string {
  return `${s.schema}.${s.name}`;
}

interface UseRow {
  oid: number; schema: string; name: string; table_schema: string; table_name: string; column_name: string;
  kind: SequenceUseKind; data_type: string; increment: string; min: string; max: string; start: string; cache: string; cycle: boolean;
}

/**
 * The sequences the given source tables use: sequences owned by their
 * columns (serial and identity columns, or `ALTER SEQUENCE … OWNED BY`) and
 * sequences their column defaults call (`DEFAULT nextval('…')`), each once.
 */
export async function sequencesOfTables(source: pg.Client, tableOids: readonly number[], group: string): Promise<SourceSequence[]> {
  if (tableOids.length === 0) return [];
  const rows = (await source.query<UseRow>(sequenceSql.usedByTables, [tableOids])).rows;
  const byOid = new Map<number, SourceSequence & { usedBy: SequenceUse[] }>();
  for (const r of rows) {
    let seq = byOid.get(r.oid);
    if (!seq) {
      seq = {
        oid: r.oid, schema: r.schema, name: r.name, groups: [group], usedBy: [],
        dataType: r.data_type, increment: r.increment, min: r.min, max: r.max, start: r.start, cache: r.cache, cycle: r.cycle,
      };
      byOid.set(r.oid, seq);
    }
    const use = { schema: r.table_schema, table: r.table_name, column: r.column_name, kind: r.kind };
    if (!seq.usedBy.some((u) => u.schema === use.schema && u.table === use.table && u.column === use.column)) seq.usedBy.push(use);
  }
  return [...byOid.values()];
}

/**
 * The sequences of every given group, resolving each group's tables on the
 * source as `init` does. A sequence used by several groups is listed once,
 * naming all of them. Ordered by schema and name.
 */
export async function sequencesOfGroups(source: pg.Client, groups: readonly GroupConfig[]): Promise<SourceSequence[]> {
  const all = new Map<number, SourceSequence>();
  for (const group of groups) {
    const { tables } = await resolveTables(source, group.tables);
    for (const seq of await sequencesOfTables(source, tables.map((t) => t.oid), group.name)) {
      const seen = all.get(seq.oid);
      all.set(seq.oid, seen ? mergeUses(seen, seq) : seq);
    }
  }
  return [...all.values()].sort((a, b) => compareText(a.schema, b.schema) || compareText(a.name, b.name));
}

function mergeUses(a: SourceSequence, b: SourceSequence): SourceSequence {
  const usedBy = [...a.usedBy];
  for (const u of b.usedBy) {
    if (!usedBy.some((x) => x.schema === u.schema && x.table === u.table && x.column === u.column)) usedBy.push(u);
  }
  usedBy.sort((x, y) => Number(x.kind === 'default') - Number(y.kind === 'default'));
  return { ...a, groups: [...new Set([...a.groups, ...b.groups])], usedBy };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
