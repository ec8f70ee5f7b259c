import type pg from 'pg';
import { resolveTables, tableLabel, type SourceTable } from '../catalog/source-tables.js';
import { formatTableRef, type FerryConfig, type TableRef } from '../config/schema.js';
import { ExitCode, FerryError } from '../errors.js';
import { qualifiedName } from '../pg/connect.js';
import { verifySql, type TableShape } from './verify-sql.js';

/** One replicated table as verify compares it. */
export interface VerifyTable extends TableShape {
  readonly group: string;
  /** `schema.name`, as status and errors write it. */
  readonly label: string;
  /** Qualified and quoted; the same name on both sides. */
  readonly relation: string;
  /** Source types of the key columns (schema-qualified), to look rows up by key. */
  readonly keyTypes: readonly string[];
  /** Columns left out: generated on either side, or present on one side only. */
  readonly skippedColumns: readonly string[];
}

/**
 * The tables of every group, or those `selection` names, resolved on the
 * source as `init` resolves them, with the columns both sides have and the
 * key that identifies a row: the primary key or the replica identity index.
 * A table without either (REPLICA IDENTITY FULL) is compared as a multiset.
 */
export async function verifyTables(
  config: FerryConfig, source: pg.Client, target: pg.Client, selection: readonly TableRef[] | undefined,
): Promise<VerifyTable[]> {
  const problems: string[] = [];
  const all: { group: string; table: SourceTable }[] = [];
  for (const group of config.groups) {
    const { tables, unmatched } = await resolveTables(source, group.tables);
    for (const ref of unmatched) problems.push(`group ${group.name}: ${formatTableRef(ref)} matches no table on the source`);
    all.push(...tables.map((table) => ({ group: group.name, table })));
  }
  let chosen = all;
  if (selection) {
    chosen = all.filter((t) => selection.some((ref) => refMatches(ref, t.table)));
    const labels = all.map((t) => tableLabel(t.table));
    const replicated = labels.length > 10 ? `${labels.slice(0, 10).join(', ')} and ${labels.length - 10} more` : labels.join(', ') || 'none';
    for (const ref of selection.filter((r) => !all.some((t) => refMatches(r, t.table)))) {
      problems.push(`table ${formatTableRef(ref)} is not replicated by any group (replicated: ${replicated})`);
    }
  }
  if (problems.length > 0) {
    throw new FerryError('FERRY_VERIFY_TABLES', problems.join('; '), 'name tables of the configured groups as schema.table, e.g. --tables public.orders',
      { exitCode: ExitCode.usage });
  }
  const targetVersion = (await target.query<{ version: number }>(verifySql.serverVersion)).rows[0]?.version ?? 0;
  const out: VerifyTable[] = [];
  for (const { group, table } of chosen) out.push(await describe(source, target, targetVersion, group, table));
  return out;
}

function refMatches(ref: TableRef, table: SourceTable): boolean {
  const like = (pattern: string, text: string) => (ref.pattern
    ? new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's').test(text)
    : pattern === text);
  return like(ref.schema, table.schema) && like(ref.table, table.name);
}

async function describe(source: pg.Client, target: pg.Client, targetVersion: number, group: string, table: SourceTable): Promise<VerifyTable> {
  const label = tableLabel(table);
  const relation = qualifiedName(table.schema, table.name);
  const context = { group, table: label };
  const targetColumns = (await target.query<{ name: string; generated: boolean }>(verifySql.targetColumns(targetVersion), [relation])).rows;
  if (targetColumns.length === 0) {
    throw new FerryError('FERRY_VERIFY_TARGET_TABLE', `table ${label} does not exist on the target`,
      'run "ferry init" to create and copy it', { exitCode: ExitCode.usage, context });
  }
  const onTarget = new Set(targetColumns.filter((c) => !c.generated).map((c) => c.name));
  const columns = table.columns.filter((c) => c.generated === null && onTarget.has(c.name)).map((c) => c.name);
  const compared = new Set(columns);
  const skippedColumns = [...table.columns.map((c) => c.name), ...targetColumns.map((c) => c.name)]
    .filter((name, i, names) => !compared.has(name) && names.indexOf(name) === i);

  let key: readonly string[] | null = table.primaryKey.length > 0 ? table.primaryKey : null;
  if (table.replicaIdentity === 'i') {
    key = (await source.query<{ columns: string[] }>(verifySql.identityColumns, [table.oid])).rows[0]?.columns ?? key;
  }
  const missingKey = (key ?? []).filter((k) => !compared.has(k));
  if (missingKey.length > 0) {
    throw new FerryError('FERRY_VERIFY_TARGET_TABLE', `key column(s) ${missingKey.join(', ')} of ${label} are missing on the target or generated`,
      `add them on the target as on the source`, { exitCode: ExitCode.usage, context });
  }
  const typeOf = new Map(table.columns.map((c) => [c.name, c.type]));
  return {
    group, label, relation, columns, key, skippedColumns,
    keyTypes: (key ?? []).map((k) => typeOf.get(k) ?? 'text'),
  };
}
