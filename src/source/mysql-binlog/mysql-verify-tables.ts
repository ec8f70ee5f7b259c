import type { Connection } from 'mysql2/promise';
import type pg from 'pg';
import { formatTableRef, type GroupConfig, type TableRef } from '../../config/schema.js';
import { ExitCode, FerryError } from '../../errors.js';
import { targetLabel, type GroupTable } from './group-table.js';
import { rowKeyColumns } from './mysql-catalog.js';
import { nameMatcher, groupTables } from './mysql-tables.js';
import { quoteIdent, type TypeMapOptions } from './type-map.js';

/** One MySQL table as verify compares it with its PostgreSQL table. */
export interface MySqlVerifyTable {
  readonly group: string;
  /** The target's `schema.table`, as reports and `status` name tables. */
  readonly label: string;
  /** The target table, qualified and quoted. */
  readonly relation: string;
  readonly table: GroupTable;
  /** Compared columns: their place in the source row and the target column's type as written in a cast. */
  readonly columns: readonly { readonly name: string; readonly index: number; readonly type: string }[];
  /** Columns on one side only: not compared. */
  readonly skippedColumns: readonly string[];
  /** The columns a row is found by: the primary key, else the first unique key over NOT NULL columns. */
  readonly key: readonly string[];
}

/**
 * The groups' tables as `init` and `run` resolve them (groupTables), or
 * those `selection` names (by the MySQL name `database.table` or the
 * target's `schema.table`), each with the columns both sides have. Every
 * column the type map gives is compared, generated ones included: the copy
 * and the stream write the source's computed values into plain target
 * columns.
 */
export async function mysqlVerifyTables(
  source: Connection, target: pg.Client, groups: readonly GroupConfig[], selection: readonly TableRef[] | undefined,
  typeMap: TypeMapOptions, schemas: Readonly<Record<string, string>>,
): Promise<MySqlVerifyTable[]> {
  const all: { group: string; table: GroupTable }[] = [];
  for (const group of groups) {
    for (const table of await groupTables(source, group.tables, typeMap, schemas)) all.push({ group: group.name, table });
  }
  let chosen = all;
  if (selection) {
    chosen = all.filter((t) => selection.some((ref) => refMatches(ref, t.table)));
    const unknown = selection.filter((ref) => !all.some((t) => refMatches(ref, t.table)));
    if (unknown.length > 0) {
      const labels = all.map((t) => targetLabel(t.table));
      const shown = labels.length > 10 ? `${labels.slice(0, 10).join(', ')} and ${labels.length - 10} more` : labels.join(', ') || 'none';
      throw new FerryError('FERRY_VERIFY_TABLES', unknown.map((ref) => `table ${formatTableRef(ref)} is not replicated by any group (replicated: ${shown})`).join('; '),
        'name tables of the configured groups as schema.table, e.g. --tables app.orders', { exitCode: ExitCode.usage });
    }
  }
  const out: MySqlVerifyTable[] = [];
  for (const { group, table } of chosen) out.push(await describe(target, group, table));
  return out;
}

function refMatches(ref: TableRef, t: GroupTable): boolean {
  const schema = nameMatcher(ref.schema, ref.pattern);
  const name = nameMatcher(ref.table, ref.pattern);
  return (schema(t.target.schema) && name(t.target.name)) || (schema(t.source.database) && name(t.source.name));
}

async function describe(target: pg.Client, group: string, table: GroupTable): Promise<MySqlVerifyTable> {
  const { schema, name } = table.target;
  const label = `${schema}.${name}`;
  const relation = `${quoteIdent(schema)}.${quoteIdent(name)}`;
  const context = { group, table: label };
  // The target's own types: the source's text is cast to exactly what the target column holds (numeric(10,2), timestamp(6) …).
  const rows = (await target.query<{ name: string; type: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, [relation])).rows;
  if (rows.length === 0) {
    throw new FerryError('FERRY_VERIFY_TARGET_TABLE', `table ${label} does not exist on the target`, 'run "ferry init" to create and copy it',
      { exitCode: ExitCode.usage, context });
  }
  const onTarget = new Map(rows.map((r) => [r.name, r.type]));
  const columns = table.target.columns.flatMap((c, index) => {
    const type = onTarget.get(c.name);
    return type === undefined ? [] : [{ name: c.name, index, type }];
  });
  const compared = new Set(columns.map((c) => c.name));
  const skippedColumns = [...table.target.columns.map((c) => c.name), ...rows.map((r) => r.name)]
    .filter((n, i, names) => !compared.has(n) && names.indexOf(n) === i);
  const key = rowKeyColumns(table.source);
  const missingKey = key.filter((k) => !compared.has(k));
  if (key.length === 0 || missingKey.length > 0) {
    throw new FerryError('FERRY_VERIFY_TARGET_TABLE', `key column(s) ${missingKey.join(', ') || '(none)'} of ${label} are missing on the target`,
      'add them on the target as the type map gives them, or "ferry init" the table again', { exitCode: ExitCode.usage, context });
  }
  return { group, label, relation, table, columns, skippedColumns, key };
}
