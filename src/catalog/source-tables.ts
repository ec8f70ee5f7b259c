import type pg from 'pg';
import type { TableRef } from '../config/schema.js';
import { serverVersionSql, tablesSql } from './catalog-sql.js';
import { objectDependencies, type ObjectDependency } from './object-dependencies.js';
import { withQualifiedNames } from './qualified-names.js';
import { partitionTree, relationObjects, relationsOf, type RelationObjects, type SourceConstraint, type SourcePartition } from './source-relations.js';
import { typeClosure, type UserType } from './user-types.js';

/**
 * A source table as the catalog describes it: enough to check it, publish it
 * and recreate it on the target. Names of types, functions and relations in
 * its texts (column types, defaults, constraint and index definitions) are
 * schema-qualified, so they mean the same on the target.
 */
export interface SourceTable extends RelationObjects {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** 'd' default (primary key), 'n' nothing, 'f' full, 'i' index. */
  readonly replicaIdentity: 'd' | 'n' | 'f' | 'i';
  readonly hasPrimaryKey: boolean;
  /** Qualified name of the replica identity index, if any. */
  readonly identityIndex: string | null;
  /** CREATE UNIQUE INDEX statement of the replica identity index, if any. */
  readonly identityIndexDef: string | null;
  readonly partitioned: boolean;
  readonly columns: readonly SourceColumn[];
  readonly primaryKey: readonly string[];
  /** The primary key constraint, created with the table. */
  readonly primaryKeyConstraint: SourceConstraint | null;
  /** `RANGE (…)`, `LIST (…)` or `HASH (…)` of a partitioned table, else null. */
  readonly partitionKey: string | null;
  readonly partitions: readonly SourcePartition[];
  /** User-defined types its columns use, with the types they are built from; dependencies first. */
  readonly types: readonly UserType[];
  /** Functions, operator classes, collations … that it needs and Ferry does not create. */
  readonly dependencies: readonly ObjectDependency[];
}

export interface SourceColumn {
  readonly name: string;
  /** format_type: `integer`, `character varying(10)`, `"Sales".mood[]`. */
  readonly type: string;
  readonly typeOid: number;
  readonly notNull: boolean;
  readonly default: string | null;
  /** '' none, 'a' ALWAYS, 'd' BY DEFAULT. */
  readonly identity: '' | 'a' | 'd';
  /** The identity column's sequence and the options it was created with. */
  readonly identitySequence: IdentitySequence | null;
  /** Expression of a generated column (stored or virtual), else null. */
  readonly generated: string | null;
  /** A virtual generated column (PostgreSQL 18+): computed when read, not stored. */
  readonly virtual: boolean;
  /** Qualified collation when it is not the type's own (e.g. `pg_catalog."C"`), else null. */
  readonly collation: string | null;
}

export interface IdentitySequence {
  readonly name: string;
  readonly start: string;
  readonly increment: string;
  readonly min: string;
  readonly max: string;
  readonly cache: string;
  readonly cycle: boolean;
}

export function tableLabel(t: { schema: string; name: string }): string {
  return `${t.schema}.${t.name}`;
}

/**
 * Resolves the configured table names and patterns against the source
 * catalog. Patterns match ordinary and partitioned tables (not partitions);
 * a literal name that matches nothing is reported by the caller.
 */
export async function resolveTables(client: pg.Client, refs: readonly TableRef[]): Promise<{ tables: SourceTable[]; unmatched: TableRef[] }> {
  return withQualifiedNames(client, async () => {
    const version = (await client.query<{ version: number }>(serverVersionSql)).rows[0]?.version ?? 0;
    const found = new Map<number, SourceTable>();
    const unmatched: TableRef[] = [];
    for (const ref of refs) {
      const rows = (await client.query<TableRow>(tablesSql(version), [likePattern(ref.schema, ref.pattern), likePattern(ref.table, ref.pattern)])).rows;
      if (rows.length === 0) unmatched.push(ref);
      for (const row of rows) {
        if (!found.has(row.oid)) found.set(row.oid, await describe(client, version, row));
      }
    }
    return { tables: [...found.values()], unmatched };
  });
}

function likePattern(text: string, isPattern: boolean): string {
  const escaped = text.replace(/[\\%_]/g, (c) => `\\${c}`);
  return isPattern ? escaped.replace(/\*/g, '%') : escaped;
}

interface TableRow {
  oid: number; schema: string; name: string; replica_identity: 'd' | 'n' | 'f' | 'i'; partitioned: boolean; partition_key: string | null;
  identity_index: string | null; identity_index_def: string | null; primary_key: string[];
  columns: (Omit<SourceColumn, 'identity'> & { identity: SourceColumn['identity'] | null })[] | null;
}

async function describe(client: pg.Client, version: number, r: TableRow): Promise<SourceTable> {
  const objects = await relationObjects(client, { oid: r.oid, schema: r.schema, name: r.name, replicaIdentity: r.replica_identity });
  const partitions = r.partitioned ? await partitionTree(client, r.oid) : [];
  const columns = (r.columns ?? []).map((c) => ({ ...c, identity: c.identity ?? '' }));
  const types = await typeClosure(client, version, columns.map((c) => c.typeOid));
  const relations = relationsOf({ ...objects, partitions }).map((o) => o.oid);
  const dependencies = await objectDependencies(client, relations, types.map((t) => t.oid));
  return {
    ...objects,
    hasPrimaryKey: r.primary_key.length > 0,
    identityIndex: r.identity_index,
    identityIndexDef: r.identity_index_def,
    partitioned: r.partitioned,
    primaryKey: r.primary_key,
    primaryKeyConstraint: objects.constraints.find((k) => k.kind === 'p') ?? null,
    partitionKey: r.partition_key,
    partitions,
    columns,
    types,
    dependencies,
  };
}
