import type { MySqlTable } from './mysql-catalog.js';
import { mapColumn, quoteIdent, targetSchema, type PgColumn, type TypeMapOptions } from './type-map.js';

/**
 * The PostgreSQL table a MySQL table becomes: its columns through the type
 * map, in source order, in the schema named like the MySQL database (or the
 * one `schemas` maps it to), with the primary key and the unique keys over
 * NOT NULL columns. Column defaults and secondary indexes are not carried
 * over (MySQL's default expressions need a translation of their own).
 * Generated columns become plain columns: the copy and the stream write the
 * values the source computed into them.
 */
export interface TargetTable {
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly PgColumn[];
  /** `CREATE TABLE …` for the target. */
  readonly ddl: string;
}

export function targetTable(table: MySqlTable, options: TypeMapOptions, schemas: Readonly<Record<string, string>> = {}): TargetTable {
  const source = `${table.database}.${table.name}`;
  const schema = targetSchema(table.database, schemas);
  const columns = table.columns.map((c) => mapColumn(c, options, source));
  const lines = columns.map((c) => `  ${quoteIdent(c.name)} ${c.type}${c.notNull ? ' NOT NULL' : ''}${c.check ? ` CHECK (${c.check})` : ''}`);
  if (table.primaryKey.length > 0) lines.push(`  PRIMARY KEY (${table.primaryKey.map(quoteIdent).join(', ')})`);
  for (const key of table.uniqueKeys) lines.push(`  UNIQUE (${key.columns.map(quoteIdent).join(', ')})`);
  const ddl = `CREATE TABLE ${quoteIdent(schema)}.${quoteIdent(table.name)} (\n${lines.join(',\n')}\n)`;
  return { schema, name: table.name, columns, ddl };
}
