import { pipeline } from 'node:stream/promises';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { SourceTable } from '../catalog/source-tables.js';
import { tableLabel } from '../catalog/source-tables.js';
import { FerryError } from '../errors.js';
import { connect } from '../pg/connect.js';
import { walSql } from '../source/pg-wal/wal-setup-sql.js';
import { sql as controlSql } from '../target/control-sql.js';
import { qualifiedName } from '../pg/connect.js';
import { copyInSql, targetTableSql } from './target-table-sql.js';

export interface CopyJob {
  readonly group: string;
  readonly table: SourceTable;
  readonly sourceUrl: string;
  readonly targetUrl: string;
  /** Exported snapshot of the slot: the copy sees exactly what precedes the slot's start. */
  readonly snapshot: string;
}

/**
 * Copies one table from the slot's snapshot straight into the target with
 * COPY, text format, without decoding rows. The target side commits the rows
 * together with the table's entry in ferry.copied_tables.
 */
export async function copyTable(job: CopyJob): Promise<number> {
  const columns = job.table.columns.filter((c) => !c.generated).map((c) => c.name);
  const source = await connect(job.sourceUrl, { role: 'source', applicationName: `ferry:${job.group}:copy` });
  const target = await connect(job.targetUrl, { role: 'target', applicationName: `ferry:${job.group}:copy` });
  try {
    await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await source.query(walSql.setSnapshot(job.snapshot));
    await target.query('BEGIN');
    const out = source.query(copyTo(walSql.copyOut(job.table.schema, job.table.name, columns, job.table.partitioned)));
    const into = target.query(copyFrom(copyInSql(job.table, columns)));
    await pipeline(out, into);
    const rows = Number(into.rowCount ?? 0);
    await target.query(controlSql.markTableCopied, [job.group, tableLabel(job.table), rows]);
    await target.query('COMMIT');
    await target.query(targetTableSql.analyze(qualifiedName(job.table.schema, job.table.name)));
    await source.query('COMMIT');
    return rows;
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    const message = (err as Error).message;
    throw new FerryError('FERRY_COPY', `copying ${tableLabel(job.table)} failed: ${message}`,
      'fix the cause and run "ferry init" again; the group\'s copy is redone',
      { context: { group: job.group, table: tableLabel(job.table) }, cause: err });
  } finally {
    await source.end().catch(() => undefined);
    await target.end().catch(() => undefined);
  }
}

/** Runs jobs with at most `parallel` at once; the first failure stops new ones and is thrown. */
export async function copyAll(jobs: readonly CopyJob[], parallel: number, onDone: (job: CopyJob, rows: number) => void): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < jobs.length) {
      const job = jobs[next++] as CopyJob;
      try {
        onDone(job, await copyTable(job));
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, jobs.length)) }, worker));
  if (failure !== undefined) throw failure;
}
