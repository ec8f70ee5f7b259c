import type pg from 'pg';
import { columnTypesSql, serverVersionSql } from '../../catalog/catalog-sql.js';
import { binaryIncompatibility, columnTypeOf, type BinaryTypeRow } from '../../pg/binary-format.js';
import { walSql } from './wal-setup-sql.js';

interface ColumnTypeRow extends BinaryTypeRow {
  readonly table_name: string;
  readonly column_name: string;
}

/**
 * Why a group's changes cannot stream in binary, or undefined when they can:
 * the source must be PostgreSQL 14 or later (pgoutput's `binary` option),
 * and every column of every published table must have the same built-in
 * type on the target (see binaryIncompatibility). Binary values cost the
 * source's walsender and the target less than text, and go into COPY as
 * they are. Checked at every connect; a column changed while streaming is
 * caught when its table's new description is bound on the target.
 */
export async function binaryTransferBlocker(source: pg.Client, target: pg.Client, publication: string): Promise<string | undefined> {
  const version = async (client: pg.Client) => (await client.query<{ version: number }>(serverVersionSql)).rows[0]?.version ?? 0;
  const [sourceVersion, targetVersion] = await Promise.all([version(source), version(target)]);
  if (sourceVersion < 140000) return 'the source is older than PostgreSQL 14';
  const tables = (await source.query<{ name: string }>(walSql.publishedTables, [publication])).rows.map((r) => r.name);
  const [sourceColumns, targetColumns] = await Promise.all([
    source.query<ColumnTypeRow>(columnTypesSql(sourceVersion), [tables]),
    target.query<ColumnTypeRow>(columnTypesSql(targetVersion), [tables]),
  ]);
  const onTarget = new Map(targetColumns.rows.map((r) => [`${r.table_name}.${r.column_name}`, columnTypeOf(r)]));
  for (const row of sourceColumns.rows) {
    // A column the target lacks or generates itself is not written; binding the table reports a missing one.
    const target = onTarget.get(`${row.table_name}.${row.column_name}`);
    if (!target) continue;
    const why = binaryIncompatibility(columnTypeOf(row), target);
    if (why !== undefined) return `column ${row.column_name} of ${row.table_name}: ${why}`;
  }
  return undefined;
}
