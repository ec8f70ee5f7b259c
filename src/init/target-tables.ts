import type pg from 'pg';
import { tableLabel, type SourceTable } from '../catalog/source-tables.js';
import { createSchemaSql, createSequenceSql, createTableSql, sequencesInDefaults, targetTableSql } from '../copy/target-table-sql.js';
import type { Logger } from '../observe/logger.js';
import { qualifiedName } from '../pg/connect.js';

interface TargetColumn { readonly name: string; readonly type: string }

async function targetColumns(target: pg.Client, table: SourceTable): Promise<TargetColumn[]> {
  return (await target.query<TargetColumn>(targetTableSql.columns, [qualifiedName(table.schema, table.name)])).rows;
}

/**
 * Why the target cannot receive a group's tables: a missing column or type,
 * or rows already there (ferry copies into empty tables; when it redoes its
 * own unfinished copy it empties them itself).
 */
export async function targetTableProblems(target: pg.Client, group: string, tables: readonly SourceTable[], redo: boolean): Promise<string[]> {
  const problems: string[] = [];
  for (const table of tables) {
    const label = tableLabel(table);
    const existing = await targetColumns(target, table);
    if (existing.length === 0) {
      for (const column of table.columns) {
        const known = (await target.query<{ ok: boolean }>('SELECT to_regtype($1) IS NOT NULL AS ok', [column.type])).rows[0]?.ok;
        if (!known) problems.push(`group ${group}: column ${label}.${column.name} has type ${column.type}, which does not exist on the target: create the type on the target first`);
      }
      continue;
    }
    const names = new Map(existing.map((c) => [c.name, c]));
    for (const column of table.columns) {
      const there = names.get(column.name);
      if (!there) {
        problems.push(`group ${group}: target table ${label} has no column ${column.name} (${column.type}): run ALTER TABLE ${qualifiedName(table.schema, table.name)} ADD COLUMN ${column.name} ${column.type}; on the target`);
      }
    }
    if (!redo) {
      const hasRows = (await target.query<{ has_rows: boolean }>(targetTableSql.hasRows(qualifiedName(table.schema, table.name)))).rows[0]?.has_rows;
      if (hasRows) problems.push(`group ${group}: target table ${label} already has rows; ferry copies into empty tables: empty it (TRUNCATE ${qualifiedName(table.schema, table.name)};) or remove it from the group`);
    }
  }
  return problems;
}

/**
 * Creates missing target tables (with their schema and serial sequences) and,
 * when redoing an unfinished copy, empties the ones that exist. Returns the
 * tables it created.
 */
export async function prepareTargetTables(target: pg.Client, tables: readonly SourceTable[], redo: boolean, log: Logger): Promise<SourceTable[]> {
  const created: SourceTable[] = [];
  const existingNames: string[] = [];
  await target.query('BEGIN');
  try {
    for (const table of tables) {
      if ((await targetColumns(target, table)).length > 0) {
        existingNames.push(qualifiedName(table.schema, table.name));
        continue;
      }
      await target.query(createSchemaSql(table.schema));
      for (const seq of sequencesInDefaults(table)) await target.query(createSequenceSql(seq));
      await target.query(createTableSql(table));
      created.push(table);
      log.info({ table: tableLabel(table) }, 'created target table');
    }
    if (redo && existingNames.length > 0) await target.query(targetTableSql.truncate(existingNames));
    await target.query('COMMIT');
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  return created;
}

/** The replica identity index, built after the copy: updates and deletes find rows by it. */
export async function buildIdentityIndexes(target: pg.Client, created: readonly SourceTable[]): Promise<void> {
  for (const table of created) {
    if (table.replicaIdentity === 'i' && table.identityIndexDef) await target.query(table.identityIndexDef);
  }
}
