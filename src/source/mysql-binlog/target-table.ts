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
  /** `CREATE TABLE …` for the target, keys included. */
  readonly ddl: string;
  /** The same without keys, and the keys and secondary indexes to add once the rows are copied (faster than maintaining them row by row). */
  readonly bare: string;
  readonly afterCopy: readonly string[];
}

export function targetTable(table: MySqlTable, options: TypeMapOptions, schemas: Readonly<Record<string, string>> = {}): TargetTable {
  const source = `${table.database}.${table.name}`;
  const schema = targetSchema(table.database, schemas);
  const columns = table.columns.map((c) => mapColumn(c, options, source));
  const lines = columns.map((c) => `  ${quoteIdent(c.name)} ${c.type}${c.notNull ? ' NOT NULL' : ''}${c.check ? ` CHECK (${c.check})` : ''}`);
  const keys: string[] = [];
  if (table.primaryKey.length > 0) keys.push(`PRIMARY KEY (${table.primaryKey.map(quoteIdent).join(', ')})`);
  for (const key of table.uniqueKeys) keys.push(`UNIQUE (${key.columns.map(quoteIdent).join(', ')})`);
  const qualified = `${quoteIdent(schema)}.${quoteIdent(table.name)}`;
  const ddl = `CREATE TABLE ${qualified} (\n${[...lines, ...keys.map((k) => `  ${k}`)].join(',\n')}\n)`;
  const bare = `CREATE TABLE ${qualified} (\n${lines.join(',\n')}\n)`;
  // PostgreSQL's index names are per schema, MySQL's per table: the table's name goes first.
  const indexes = table.indexes.map((index) => `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${quoteIdent(indexName(table.name, index.name))} ON ${qualified} (${index.columns.map(quoteIdent).join(', ')})`);
  return { schema, name: table.name, columns, ddl, bare, afterCopy: [...keys.map((k) => `ALTER TABLE ${qualified} ADD ${k}`), ...indexes] };
}

/** `orders_idx_customer`, cut to PostgreSQL's 63 bytes with a hash of the whole so that two long names stay apart. */
function indexName(table: string, index: string): string {
  const name = `${table}_${index}`;
  if (Buffer.byteLength(name) <= 63) return name;
  let h = 0;
  for (const ch of name) h = (Math.imul(h, 31) + (ch.codePointAt(0) ?? 0)) >>> 0;
  return `${Buffer.from(name).subarray(0, 54).toString('utf8').replace(/\uFFFD$/, '')}_${h.toString(16).padStart(8, '0')}`;
}
