import type pg from 'pg';
import type { Change, Lsn, Tuple } from '../../change/change.js';
import { ExitCode, FerryError } from '../../errors.js';
import { formatLsn } from './lsn.js';
import { PgOutputDecoder } from './pgoutput-decoder.js';
import { TableChanges } from '../../verify/table-changes.js';
import type { VerifyTable } from '../../verify/verify-tables.js';
import { verifySql } from '../../verify/verify-sql.js';

interface Decoded {
  readonly table: VerifyTable;
  /** The partition this relation is, when it is one of the table's leaf partitions. */
  readonly leaf?: string;
  readonly changes: TableChanges;
  /** For each compared column, its place in the relation's tuples. */
  readonly columns: readonly number[];
}

/**
 * Reads, from the temporary slot whose snapshot the source side was read
 * under, every change committed after that snapshot and before the position
 * each table's group has reached on the target (`positions`), and folds them
 * per table. These are exactly the changes the target holds and the source
 * snapshot does not.
 */
export async function readWindowChanges(
  replication: pg.Client, slot: string, tables: readonly VerifyTable[], positions: ReadonlyMap<string, Lsn>, publications: readonly string[],
): Promise<Map<string, TableChanges>> {
  const out = new Map<string, TableChanges>();
  const upto = [...positions.values()].reduce((a, b) => (a > b ? a : b), 0n);
  if (upto === 0n || publications.length === 0) return out;
  const byLabel = new Map(tables.map((t) => [t.label, t]));
  // Partitions' changes are published under their own names: each is a change of its table.
  const partitions = (await replication.query<{ label: string; index: number; leaf: boolean }>(verifySql.partitionsOf(tables.map((t) => t.relation)))).rows;
  const leaves = new Map<string, Set<string>>();
  for (const p of partitions) {
    const table = tables[p.index];
    if (!table || byLabel.has(p.label)) continue;
    byLabel.set(p.label, table);
    if (p.leaf) leaves.set(table.label, (leaves.get(table.label) ?? new Set()).add(p.label));
  }
  const relations = new Map<number, Decoded | null>();
  const decoder = new PgOutputDecoder(1);
  const rows = (await replication.query<{ data: Buffer }>(verifySql.windowChanges(slot, formatLsn(upto), publications))).rows;
  let commitAt: Lsn = 0n;
  for (const { data } of rows) {
    const change = decoder.decode(data);
    if (change.kind === 'begin') commitAt = change.finalLsn;
    else if (change.kind === 'relation') relations.set(change.relation.relationId, describe(change, byLabel, out));
    else fold(change, relations, positions, commitAt, leaves);
  }
  return out;
}

function describe(change: Extract<Change, { kind: 'relation' }>, byLabel: ReadonlyMap<string, VerifyTable>, out: Map<string, TableChanges>): Decoded | null {
  const { schema, table: name, columns: relationColumns } = change.relation;
  const label = `${schema}.${name}`;
  const table = byLabel.get(label);
  if (!table) return null;
  const columns = table.columns.map((c) => relationColumns.findIndex((rc) => rc.name === c));
  const missing = table.columns.filter((_, i) => columns[i] === -1);
  if (missing.length > 0) {
    throw new FerryError('FERRY_VERIFY_UNRESOLVED', `the source's changes of ${table.label} do not carry column(s) ${missing.join(', ')}`,
      'check the publication of the group (a column list?)', { exitCode: ExitCode.usage, context: { group: table.group, table: table.label } });
  }
  let changes = out.get(table.label);
  if (!changes) {
    changes = new TableChanges(table.label, table.key ? table.key.map((k) => table.columns.indexOf(k)) : null);
    out.set(table.label, changes);
  }
  return { table, changes, columns, ...(label === table.label ? {} : { leaf: label }) };
}

function fold(
  change: Change, relations: ReadonlyMap<number, Decoded | null>, positions: ReadonlyMap<string, Lsn>, commitAt: Lsn,
  leaves: ReadonlyMap<string, ReadonlySet<string>>,
): void {
  // A transaction is on the target when its commit record starts before the
  // group's position (which is a commit's end or another record boundary).
  const applied = (d: Decoded) => commitAt < (positions.get(d.table.group) ?? 0n);
  // The decoder here reads text (no binary option), so every value is a string, null or unchanged.
  const project = (d: Decoded, tuple: Tuple) => d.columns.map((i) => tuple[i] as string | null | undefined);
  switch (change.kind) {
    case 'insert': {
      const d = relations.get(change.relationId);
      if (d && applied(d)) d.changes.insert(project(d, change.values));
      return;
    }
    case 'update': {
      const d = relations.get(change.relationId);
      if (d && applied(d)) d.changes.update(change.old && project(d, change.old), project(d, change.values));
      return;
    }
    case 'delete': {
      const d = relations.get(change.relationId);
      if (d && applied(d)) d.changes.delete(project(d, change.old));
      return;
    }
    case 'truncate': {
      const truncated = change.relationIds.map((id) => relations.get(id)).filter((d): d is Decoded => d !== null && d !== undefined && applied(d));
      for (const d of new Set(truncated.map((t) => t.table))) {
        const of = truncated.filter((t) => t.table === d);
        // A TRUNCATE of the root reaches every leaf; of some leaves, only part of the table, which net changes per key cannot express.
        const whole = of.some((t) => t.leaf === undefined) || [...(leaves.get(d.label) ?? [])].every((leaf) => of.some((t) => t.leaf === leaf));
        if (!whole) {
          throw new FerryError('FERRY_VERIFY_UNRESOLVED', `a partition of ${d.label} was truncated while ${d.label} was compared; it cannot be matched to rows`,
            'run "ferry verify" again', { exitCode: ExitCode.usage, context: { group: d.group, table: d.label } });
        }
        of[0]?.changes.truncate();
      }
      return;
    }
    default:
      return;
  }
}
