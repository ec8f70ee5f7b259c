import type pg from 'pg';
import { missingTablePrivilegesSql, schemaCreatePrivilegeSql } from './catalog-sql.js';
import { relationsOf } from './source-relations.js';
import { tableLabel, type SourceTable } from './source-tables.js';
import { qualifiedName, quoteIdent } from '../pg/connect.js';

/**
 * What the target role lacks to receive a table: CREATE on the schema of a
 * table init will create, or SELECT, INSERT, UPDATE, DELETE and TRUNCATE on
 * an existing table and its partitions (a copy may write a partition
 * directly). Found before anything is created, with the GRANT to run, rather
 * than as "permission denied" halfway through a copy or a stream.
 */
export async function privilegeProblems(target: pg.Client, group: string, table: SourceTable, exists: boolean): Promise<string[]> {
  if (!exists) {
    const row = (await target.query<{ role: string; allowed: boolean | null }>(schemaCreatePrivilegeSql, [table.schema])).rows[0];
    // A missing schema is created by init, which needs CREATE on the database (checked with the control schema).
    if (!row || row.allowed !== false) return [];
    return [`group ${group}: target role ${row.role} may not create table ${tableLabel(table)} in schema ${table.schema}: ` +
      `run GRANT CREATE ON SCHEMA ${quoteIdent(table.schema)} TO ${quoteIdent(row.role)}; on the target, or create the table there yourself`];
  }
  const problems: string[] = [];
  for (const relation of relationsOf(table)) {
    const name = qualifiedName(relation.schema, relation.name);
    const row = (await target.query<{ role: string; missing: string[] | null }>(missingTablePrivilegesSql, [name])).rows[0];
    // A partition missing on the target is a column/creation problem reported elsewhere.
    if (!row?.missing || row.missing.length === 0) continue;
    problems.push(`group ${group}: target role ${row.role} lacks ${row.missing.join(', ')} on table ${relation.schema}.${relation.name}: ` +
      `run GRANT ${row.missing.join(', ')} ON ${name} TO ${quoteIdent(row.role)}; on the target`);
  }
  return problems;
}
