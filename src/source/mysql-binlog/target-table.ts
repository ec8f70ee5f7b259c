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
  /** The same without keys: the keys and secondary indexes (`indexes`) are built once the rows are copied, faster than maintained row by row. */
  readonly bare: string;
  /** `CREATE [UNIQUE] INDEX IF NOT EXISTS …` of the primary key's index, the unique keys and the other indexes. */
  readonly indexes: readonly string[];
  /** `ALTER TABLE … PRIMARY KEY USING INDEX …`: makes the primary key's index the table's primary key; undefined without one. */
  readonly primaryKey: string | undefined;
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
  const index = (name: string, unique: boolean, on: readonly string[]) =>
    `CREATE ${unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${quoteIdent(indexName(table.name, name))} ON ${qualified} (${on.map(quoteIdent).join(', ')})`;
  const pkey = indexName(table.name, 'pkey');
  const indexes = [
    ...(table.primaryKey.length > 0 ? [index('pkey', true, table.primaryKey)] : []),
    ...table.uniqueKeys.map((k) => index(k.name, true, k.columns)),
    ...table.indexes.map((i) => index(i.name, i.unique, i.columns)),
  ];
  const primaryKey = table.primaryKey.length > 0
    ? `ALTER TABLE ${qualified} ADD CONSTRAINT ${quoteIdent(pkey)} PRIMARY KEY USING INDEX ${quoteIdent(pkey)}`
    : undefined;
  return { schema, name: table.name, columns, ddl, bare, indexes, primaryKey };
}

/** `orders_idx_customer`, cut to PostgreSQL's 63 bytes with a hash of the whole so that two long names stay apart. */
function indexName(table: string, index: string): string {
  const name = `${table}_${index}`;
  if (Buffer.byteLength(name) <= 63) return name;
  let h = 0;
  for (const ch of name) h = (Math.imul(h, 31) + (ch.codePointAt(0) ?? 0)) >>> 0;
  return `${Buffer.from(name).subarray(0, 54).toString('utf8').replace(/\uFFFD$/, '')}_${h.toString(16).padStart(8, '0')}`;
}
