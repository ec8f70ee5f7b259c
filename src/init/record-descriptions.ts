import type pg from 'pg';
import type { LayoutColumn } from '../apply/column-diff.js';
import { describedColumnsSql, serverVersionSql } from '../catalog/catalog-sql.js';
import type { SourcePartition } from '../catalog/source-relations.js';
import type { SourceTable } from '../catalog/source-tables.js';
import { sql } from '../target/control-sql.js';

/**
 * Records how the stream will describe each copied table (and each of its
 * partitions, whose changes come under their own names), with the source's
 * attribute numbers: a column renamed before the group's first change of
 * the table is then told from one dropped and another added.
 */
export async function recordDescriptions(source: pg.Client, target: pg.Client, group: string, tables: readonly SourceTable[]): Promise<void> {
  const relations: { oid: number; schema: string; name: string }[] = [];
  const walk = (partitions: readonly SourcePartition[]) => {
    for (const p of partitions) { relations.push(p); walk(p.partitions); }
  };
  for (const table of tables) { relations.push(table); walk(table.partitions); }
  const version = (await source.query<{ version: number }>(serverVersionSql)).rows[0]?.version ?? 0;
  for (const relation of relations) {
    const rows = (await source.query<{ attnum: number; name: string; type_oid: number; type_mod: number; is_key: boolean }>(describedColumnsSql(version), [relation.oid])).rows;
    const columns: LayoutColumn[] = rows.map((r) => ({ attnum: r.attnum, name: r.name, typeOid: r.type_oid, typeMod: r.type_mod, isKey: r.is_key }));
    await target.query(sql.recordColumns, [group, relation.oid, `${relation.schema}.${relation.name}`, JSON.stringify(columns)]);
  }
}
