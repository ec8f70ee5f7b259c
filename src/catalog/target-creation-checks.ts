import type pg from 'pg';
import { FIRST_USER_OID, takenRelationNamesSql } from './catalog-sql.js';
import { dependencyExists } from './object-dependencies.js';
import { relationsOf } from './source-relations.js';
import { tableLabel, type SourceTable } from './source-tables.js';
import { qualifiedName } from '../pg/connect.js';

/**
 * Why Ferry cannot create a missing target table from the source catalog:
 * a built-in type the target's version lacks, an object Ferry does not copy
 * (a function, operator class, collation … used by a default, a constraint or
 * an index) missing on the target, or a name it would create (partition,
 * index, identity sequence) already taken there. Found before anything is
 * created, so init fails early instead of after a long copy.
 */
export async function creationProblems(target: pg.Client, group: string, table: SourceTable): Promise<string[]> {
  const problems: string[] = [];
  const label = tableLabel(table);
  // User-defined types are created or checked by typeProblems; built-in ones must simply be there.
  for (const column of table.columns) {
    if (column.typeOid >= FIRST_USER_OID) continue;
    const known = (await target.query<{ ok: boolean }>('SELECT to_regtype($1) IS NOT NULL AS ok', [column.type])).rows[0]?.ok;
    if (!known) problems.push(`group ${group}: column ${label}.${column.name} has type ${column.type}, which does not exist on the target: create the type on the target first`);
  }
  for (const dep of table.dependencies) {
    if (await dependencyExists(target, dep)) continue;
    problems.push(dep.extension
      ? `group ${group}: table ${label} needs ${dep.description} from extension ${dep.extension}, which is not on the target: run CREATE EXTENSION IF NOT EXISTS ${dep.extension}; on the target`
      : `group ${group}: table ${label} needs ${dep.description}, which does not exist on the target (ferry does not copy functions, operators or collations): create it on the target first`);
  }
  const taken = (await target.query<{ name: string }>(takenRelationNamesSql, [namesToCreate(table)])).rows;
  for (const { name } of taken) {
    problems.push(`group ${group}: creating table ${label} on the target needs the name ${name}, which is taken there: drop or rename that relation, or create the table yourself`);
  }
  return problems;
}

/** Qualified names of the relations created with the table, besides the table itself. */
function namesToCreate(table: SourceTable): string[] {
  const names: string[] = [];
  for (const relation of relationsOf(table)) {
    if (relation !== table) names.push(qualifiedName(relation.schema, relation.name));
    for (const index of relation.indexes) names.push(qualifiedName(relation.schema, index.name));
    for (const k of relation.constraints) if (k.index) names.push(qualifiedName(relation.schema, k.index));
  }
  for (const column of table.columns) if (column.identitySequence) names.push(column.identitySequence.name);
  return names;
}
