import type { Connection } from 'mysql2/promise';
import { formatTableRef, type TableRef } from '../../config/schema.js';
import { FerryError } from '../../errors.js';
import { relationIdOf, type GroupTable } from './group-table.js';
import { readMySqlTable, type MySqlTable } from './mysql-catalog.js';
import type { MySqlTableName } from './mysql-prerequisites.js';
import { targetTable } from './target-table.js';
import type { TypeMapOptions } from './type-map.js';

/**
 * A group's configured tables on a MySQL/MariaDB source. A reference's
 * schema is the MySQL database; `*` in a pattern matches any run of
 * characters. Only base tables count (views, sequences and MariaDB's
 * system-versioned tables have no rows of their own the binlog would carry
 * the way a plain table's are), and the server's own databases are never
 * matched, even by `*.*`.
 *
 * Names are compared exactly, case included: MySQL on Linux keeps table
 * names case-sensitive, and the configuration folds unquoted names to lower
 * case, so a mixed-case table must be quoted in the configuration.
 */
const SYSTEM_DATABASES = ['mysql', 'information_schema', 'performance_schema', 'sys'];

const TABLES_SQL = `SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name FROM information_schema.TABLES
  WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN (${SYSTEM_DATABASES.map((d) => `'${d}'`).join(', ')})
  ORDER BY TABLE_SCHEMA, TABLE_NAME`;

export interface ResolvedTables {
  /** Every table some reference matched, once, ordered by database and name. */
  readonly tables: MySqlTableName[];
  /** References that matched no table: the caller reports them. */
  readonly unmatched: TableRef[];
}

export async function resolveMySqlTables(connection: Connection, refs: readonly TableRef[]): Promise<ResolvedTables> {
  const [rows] = await connection.query(TABLES_SQL);
  const all = (rows as { db: string; name: string }[]).map((r) => ({ database: r.db, name: r.name }));
  const found = new Map<string, MySqlTableName>();
  const unmatched: TableRef[] = [];
  for (const ref of refs) {
    const matchDb = nameMatcher(ref.schema, ref.pattern);
    const matchTable = nameMatcher(ref.table, ref.pattern);
    const hits = all.filter((t) => matchDb(t.database) && matchTable(t.name));
    if (hits.length === 0) unmatched.push(ref);
    for (const t of hits) found.set(`${t.database}\0${t.name}`, t);
  }
  const tables = [...found.values()].sort((a, b) => compare(a.database, b.database) || compare(a.name, b.name));
  return { tables, unmatched };
}

/** Exact equality, or for a pattern `*` as any run of characters (nothing else is special). */
export function nameMatcher(text: string, pattern: boolean): (name: string) => boolean {
  if (!pattern || !text.includes('*')) return (name) => name === text;
  const re = new RegExp(`^${text.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return (name) => re.test(name);
}

/** One error for every reference that matched nothing, each with its fix. */
export function unmatchedTablesError(unmatched: readonly TableRef[], group?: string): FerryError {
  const lines = unmatched.map((ref) => (ref.pattern
    ? `pattern ${formatTableRef(ref)} matches no table on the MySQL source`
    : `table ${formatTableRef(ref)} does not exist on the MySQL source (or the source user cannot see it)`));
  return new FerryError('FERRY_MYSQL_TABLE_UNMATCHED', `${group ? `group ${group}: ` : ''}${lines.join('; ')}`,
    'fix the names (database.table; quote names with upper-case letters, MySQL compares them case-sensitively), grant SELECT on them to the source user, or remove them from the group',
    group ? { context: { group } } : {});
}

/**
 * The group's tables as the copy and the stream use them: the catalog,
 * the PostgreSQL table each becomes, and its relation id. Fails, naming
 * the table and the fix, on a reference that matches nothing, on a table
 * that has no key a row can be found by (no primary key and no unique key
 * over NOT NULL columns: an update or delete streamed later could not say
 * which target row it is for), on two tables that would become the same
 * target table, and on two tables whose relation ids collide.
 */
export async function groupTables(connection: Connection, refs: readonly TableRef[], options: TypeMapOptions,
  schemas: Readonly<Record<string, string>> = {}): Promise<GroupTable[]> {
  const { tables, unmatched } = await resolveMySqlTables(connection, refs);
  if (unmatched.length > 0) throw unmatchedTablesError(unmatched);
  const result: GroupTable[] = [];
  const byId = new Map<number, MySqlTable>();
  const byTarget = new Map<string, MySqlTable>();
  for (const name of tables) {
    const source = await readMySqlTable(connection, name.database, name.name);
    const label = `${source.database}.${source.name}`;
    if (source.primaryKey.length === 0 && source.uniqueKeys.length === 0) {
      throw new FerryError('FERRY_MYSQL_NO_KEY',
        `table ${label} has neither a primary key nor a unique key over NOT NULL columns, so a streamed update or delete could not name its row`,
        `add a primary key on the source (ALTER TABLE ${label} ADD PRIMARY KEY (…)), or remove ${label} from the group`, { context: { table: label } });
    }
    const target = targetTable(source, options, schemas);
    const targetLabel = `${target.schema}.${target.name}`;
    const sameTarget = byTarget.get(targetLabel);
    if (sameTarget) {
      throw new FerryError('FERRY_MYSQL_TARGET_COLLISION',
        `tables ${sameTarget.database}.${sameTarget.name} and ${label} would both become ${targetLabel} on the target`,
        'map their databases to different target schemas, or remove one of them from the group', { context: { table: label } });
    }
    byTarget.set(targetLabel, source);
    const relationId = relationIdOf(source.database, source.name);
    const other = byId.get(relationId);
    if (other) {
      throw new FerryError('FERRY_MYSQL_RELATION_ID_COLLISION',
        `tables ${other.database}.${other.name} and ${label} hash to the same relation id ${relationId}, so the stream could not tell their changes apart`,
        'put one of them in another group (or rename one of them on the source)', { context: { table: label } });
    }
    byId.set(relationId, source);
    result.push({ source, target, relationId });
  }
  return result;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
