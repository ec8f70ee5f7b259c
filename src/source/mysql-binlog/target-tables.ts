import type pg from 'pg';
import { connect } from '../../pg/connect.js';
import { inTransaction } from '../../pg/in-transaction.js';
import type { Logger } from '../../observe/logger.js';
import { columnsSql } from '../../catalog/catalog-sql.js';
import { targetLabel, targetName, type GroupTable } from './group-table.js';
import { quoteIdent } from './type-map.js';

/**
 * The target side of a MySQL group's tables before `ferry init` copies:
 * a table that exists must be empty (unless an interrupted copy of this
 * group resumes into it) and have every column the type map gives.
 */
export async function targetTableProblems(target: pg.Client, tables: readonly GroupTable[], resuming: boolean): Promise<string[]> {
  const problems: string[] = [];
  for (const table of tables) {
    const { source, target: t } = table;
    const label = targetLabel(table);
    const columns = await targetColumnNames(target, table);
    if (!columns) continue;
    const missing = t.columns.filter((c) => !columns.includes(c.name)).map((c) => c.name);
    if (missing.length > 0) {
      problems.push(`target table ${label} (for ${source.database}.${source.name}) lacks columns ${missing.join(', ')}: drop the table and let "ferry init" create it, or add them`);
    }
    if (!resuming && (await target.query(`SELECT 1 FROM ${targetName(table)} LIMIT 1`)).rows.length > 0) {
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
  for (const table of tables) {
    const { target: t } = table;
    const label = targetLabel(table);
    await inTransaction(target, async () => {
      await target.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(t.schema)}`);
      const exists = (await target.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [targetName(table)])).rows[0]?.ok;
      if (exists) return;
      await target.query(t.bare);
      await record(label);
      created.push(label);
    });
  }
  if (created.length > 0) log.info({ tables: created }, 'created target tables from the MySQL catalog');
}

/**
 * Once the rows are in: the primary key's index, the unique keys and the
 * secondary indexes, built `parallel` at a time on connections of their own
 * (PostgreSQL builds indexes of one table side by side), each skipped if an
 * earlier, interrupted init built it. Then, with `finish` (the group's start
 * of streaming) in one transaction, each primary key's index becomes the
 * table's primary key.
 */
export async function createTargetIndexes(
  targetUrl: string, target: pg.Client, tables: readonly GroupTable[], parallel: number, log: Logger, finish: () => Promise<unknown>,
): Promise<void> {
  const jobs = tables.flatMap((t) => t.target.indexes.map((statement) => ({ table: targetLabel(t), statement })));
  let next = 0;
  const started = Date.now();
  await Promise.all(Array.from({ length: Math.min(Math.max(1, parallel), jobs.length) }, async () => {
    const session = await connect(targetUrl, { role: 'target', applicationName: 'ferry:init:indexes' });
    try {
      // pgloader's setting too: sorts for an index build in memory up to this.
      await session.query(`SET maintenance_work_mem = '${INDEX_BUILD_MEMORY}'`);
      for (let job = jobs[next++]; job !== undefined; job = jobs[next++]) await session.query(job.statement);
    } catch (err) {
      next = jobs.length;
      throw err;
    } finally {
      await session.end().catch(() => undefined);
    }
  }));
  if (jobs.length > 0) log.info({ tables: tables.map(targetLabel), indexes: jobs.length, seconds: (Date.now() - started) / 1000 }, 'keys and indexes built');
  await inTransaction(target, async () => {
    for (const table of tables) {
      const { primaryKey } = table.target;
      if (!primaryKey) continue;
      const has = (await target.query(`SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`, [targetName(table)])).rows.length > 0;
      if (!has) await target.query(primaryKey);
    }
    await finish();
  });
}

const INDEX_BUILD_MEMORY = '128MB';

/** The target table's column names in order; undefined when it does not exist. */
export async function targetColumnNames(target: pg.Client, table: GroupTable): Promise<string[] | undefined> {
  const rows = (await target.query<{ name: string }>(columnsSql, [targetName(table)])).rows;
  return rows.length === 0 ? undefined : rows.map((r) => r.name);
}
