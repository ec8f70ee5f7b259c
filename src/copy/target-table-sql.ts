import type { SourceColumn, SourceTable } from '../catalog/source-tables.js';
import type { RelationObjects, SourceConstraint, SourceIndex, SourcePartition } from '../catalog/source-relations.js';
import type { UserType } from '../catalog/user-types.js';
import { qualifiedName, quoteIdent, quoteLiteral } from '../pg/connect.js';

/**
 * Every DDL statement Ferry runs on the target to recreate source tables and
 * types from the source catalog. Types, defaults and definitions arrive
 * schema-qualified (read under withQualifiedNames), so the statements do not
 * depend on the target connection's search path.
 *
 * Two phases: before the copy, the types, the tables with their columns
 * (types, collations, defaults, identity and generated columns, NOT NULL),
 * the primary key and the partitions; after the copy, CHECK, UNIQUE and
 * EXCLUDE constraints, the other indexes and the replica identity, because
 * building an index over loaded rows is much faster than maintaining it row
 * by row, and a CHECK is verified in one pass.
 */

export interface TableDdlOptions {
  /** The target has virtual generated columns (PostgreSQL 18+); older ones store them, which gives the same values. */
  readonly virtualColumns: boolean;
}

export function createTableSql(table: SourceTable, options: TableDdlOptions): string {
  const columns = table.columns.map((c) => columnSql(c, options));
  if (table.primaryKeyConstraint) columns.push(`CONSTRAINT ${quoteIdent(table.primaryKeyConstraint.name)} ${table.primaryKeyConstraint.definition}`);
  else if (table.primaryKey.length > 0) columns.push(`PRIMARY KEY (${table.primaryKey.map(quoteIdent).join(', ')})`);
  const partitionBy = table.partitionKey ? ` PARTITION BY ${table.partitionKey}` : '';
  return `CREATE TABLE ${qualifiedName(table.schema, table.name)} (\n  ${columns.join(',\n  ')}\n)${partitionBy}`;
}

function columnSql(c: SourceColumn, options: TableDdlOptions): string {
  let sql = `${quoteIdent(c.name)} ${c.type}`;
  if (c.collation) sql += ` COLLATE ${c.collation}`;
  if (c.generated) sql += ` GENERATED ALWAYS AS (${c.generated}) ${c.virtual && options.virtualColumns ? 'VIRTUAL' : 'STORED'}`;
  else if (c.identity !== '') sql += ` GENERATED ${c.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY${identityOptions(c)}`;
  else if (c.default !== null) sql += ` DEFAULT ${c.default}`;
  if (c.notNull && c.identity === '') sql += ' NOT NULL';
  return sql;
}

/**
 * The identity sequence as the source made it: same name, start, step,
 * bounds, cache and cycling. Its current value is synchronised separately.
 */
function identityOptions(c: SourceColumn): string {
  const s = c.identitySequence;
  if (!s) return '';
  return ` (SEQUENCE NAME ${s.name} START WITH ${s.start} INCREMENT BY ${s.increment} MINVALUE ${s.min} MAXVALUE ${s.max} CACHE ${s.cache}${s.cycle ? ' CYCLE' : ' NO CYCLE'})`;
}

/** A partition, under its parent, with its bounds and its own partition key if it is sub-partitioned. */
export function createPartitionSql(
  partition: Pick<SourcePartition, 'schema' | 'name' | 'bound' | 'partitionKey'>, parent: { schema: string; name: string },
): string {
  const partitionBy = partition.partitionKey ? ` PARTITION BY ${partition.partitionKey}` : '';
  return `CREATE TABLE ${qualifiedName(partition.schema, partition.name)} PARTITION OF ${qualifiedName(parent.schema, parent.name)} ${partition.bound}${partitionBy}`;
}

/** Statements that create a user-defined type (a domain's checks are added one by one, which also allows NOT VALID). */
export function createTypeSql(type: UserType): string[] {
  switch (type.kind) {
    case 'enum':
      return [`CREATE TYPE ${type.sql} AS ENUM (${type.labels.map(quoteLiteral).join(', ')})`];
    case 'composite':
      return [`CREATE TYPE ${type.sql} AS (${type.attributes.map((a) => `${quoteIdent(a.name)} ${a.type}${a.collation ? ` COLLATE ${a.collation}` : ''}`).join(', ')})`];
    case 'domain': {
      let create = `CREATE DOMAIN ${type.sql} AS ${type.base}`;
      if (type.collation) create += ` COLLATE ${type.collation}`;
      if (type.default !== null) create += ` DEFAULT ${type.default}`;
      if (type.notNull) create += ' NOT NULL';
      return [create, ...type.checks.map((k) => `ALTER DOMAIN ${type.sql} ADD CONSTRAINT ${quoteIdent(k.name)} ${k.definition}`)];
    }
    case 'range': {
      const options = [`SUBTYPE = ${type.subtype}`];
      if (type.opclass) options.push(`SUBTYPE_OPCLASS = ${type.opclass}`);
      if (type.collation) options.push(`COLLATION = ${type.collation}`);
      if (type.diff) options.push(`SUBTYPE_DIFF = ${type.diff}`);
      return [`CREATE TYPE ${type.sql} AS RANGE (${options.join(', ')})`];
    }
    default:
      return [];
  }
}

/** All of a relation's new constraints in one ALTER TABLE, so the rows are scanned once to verify them. */
export function addConstraintsSql(relation: { schema: string; name: string }, constraints: readonly SourceConstraint[]): string {
  return `ALTER TABLE ${qualifiedName(relation.schema, relation.name)} ${constraints.map((k) => `ADD CONSTRAINT ${quoteIdent(k.name)} ${k.definition}`).join(', ')}`;
}

/**
 * pg_get_indexdef writes an index of a partitioned table as `ON ONLY`, which
 * would leave the partitions without it; without ONLY it is created on every
 * partition too.
 */
export function createIndexSql(index: SourceIndex): string {
  return index.definition.replace(/^(CREATE (?:UNIQUE )?INDEX (?:"(?:[^"]|"")*"|\S+) ON )ONLY /, '$1');
}

/** The source's replica identity, so the target could publish the table the same way; null for the default. */
export function replicaIdentitySql(relation: RelationObjects): string | null {
  const name = qualifiedName(relation.schema, relation.name);
  switch (relation.replicaIdentity) {
    case 'f': return `ALTER TABLE ${name} REPLICA IDENTITY FULL`;
    case 'n': return `ALTER TABLE ${name} REPLICA IDENTITY NOTHING`;
    case 'i': return relation.replicaIdentityIndex ? `ALTER TABLE ${name} REPLICA IDENTITY USING INDEX ${quoteIdent(relation.replicaIdentityIndex)}` : null;
    default: return null;
  }
}

/** A foreign key as a statement to run later (Ferry does not create foreign keys; see buildIndexesAndConstraints). */
export function foreignKeySql(relation: { schema: string; name: string }, fk: SourceConstraint): string {
  return `ALTER TABLE ${qualifiedName(relation.schema, relation.name)} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition}`;
}

/** Sequences named in `nextval('…'::regclass)` defaults (serial columns) that must exist first. */
export function sequencesInDefaults(table: SourceTable): string[] {
  const names: string[] = [];
  for (const c of table.columns) {
    const match = c.default?.match(/nextval\('((?:[^']|'')+)'::regclass\)/);
    if (match?.[1]) names.push(match[1].replace(/''/g, "'"));
  }
  return names;
}

export function createSchemaSql(schema: string): string {
  return `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`;
}

export function createSequenceSql(name: string): string {
  // The name comes from regclass output, so it is already quoted as needed.
  return `CREATE SEQUENCE IF NOT EXISTS ${name}`;
}


export const targetTableSql = {
  hasRows: (qualified: string) => `SELECT EXISTS (SELECT 1 FROM ${qualified}) AS has_rows`,
  truncate: (qualified: readonly string[]) => `TRUNCATE ${qualified.join(', ')}`,
  analyze: (qualified: string) => `ANALYZE ${qualified}`,
};
