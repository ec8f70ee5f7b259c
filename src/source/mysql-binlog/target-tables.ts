import type pg from 'pg';
import { inTransaction } from '../../pg/in-transaction.js';
import type { Logger } from '../../observe/logger.js';
import type { GroupTable } from './group-table.js';
import { quoteIdent } from './type-map.js';

/**
 * The target side of a MySQL group's tables before `ferry init` copies:
 * a table that exists must be empty (unless an interrupted copy of this
 * group resumes into it) and have every column the type map gives.
 */
export async function targetTableProblems(target: pg.Client, tables: readonly GroupTable[], resuming: boolean): Promise<string[]> {
  const problems: string[] = [];
  for (const { source, target: t } of tables) {
    const label = `${t.schema}.${t.name}`;
    const columns = (await target.query<{ name: string }>(
      `SELECT a.attname AS name FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
      [`${quoteIdent(t.schema)}.${quoteIdent(t.name)}`])).rows.map((r) => r.name);
    if (columns.length === 0) continue;
    const missing = t.columns.filter((c) => !columns.includes(c.name)).map((c) => c.name);
    if (missing.length > 0) {
      problems.push(`target table ${label} (for ${source.database}.${source.name}) lacks columns ${missing.join(', ')}: drop the table and let "ferry init" create it, or add them`);
    }
    if (!resuming && (await target.query(`SELECT 1 FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)} LIMIT 1`)).rows.length > 0) {
      problems.push(`target table ${label} (for ${source.database}.${source.name}) has rows: empty it (TRUNCATE ${label}) or drop it before "ferry init" copies into it`);
    }
  }
  return problems;
}

/**
 * Creates the schemas and the tables the target lacks, without keys (see
 * createTargetIndexes), each in one transaction with `record` of it: a
 * table that exists is one Ferry created exactly when it was recorded.
 */
export async function createTargetTables(target: pg.Client, tables: readonly GroupTable[], log: Logger, record: (label: string) => Promise<unknown>): Promise<void> {
  const created: string[] = [];
  for (const { target: t } of tables) {
    const label = `${t.schema}.${t.name}`;
    await inTransaction(target, async () => {
      await target.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(t.schema)}`);
      const exists = (await target.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${quoteIdent(t.schema)}.${quoteIdent(t.name)}`])).rows[0]?.ok;
      if (exists) return;
      await target.query(t.bare);
      await record(label);
      created.push(label);
    });
  }
  if (created.length > 0) log.info({ tables: created }, 'created target tables from the MySQL catalog');
}

/** Once the rows are in: the primary key, unique keys and secondary indexes of the tables Ferry created. */
export async function createTargetIndexes(target: pg.Client, tables: readonly GroupTable[], log: Logger): Promise<void> {
  for (const { target: t } of tables) {
    const started = Date.now();
    for (const statement of t.afterCopy) await target.query(statement);
    if (t.afterCopy.length > 0) log.info({ table: `${t.schema}.${t.name}`, statements: t.afterCopy.length, seconds: (Date.now() - started) / 1000 }, 'keys and indexes built');
  }
}
