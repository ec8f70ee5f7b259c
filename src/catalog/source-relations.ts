import type pg from 'pg';
import { constraintsSql, identityIndexNameSql, indexesSql, partitionsSql } from './catalog-sql.js';

/** A table constraint, with its definition as pg_get_constraintdef writes it. */
export interface SourceConstraint {
  readonly name: string;
  /** 'c' CHECK, 'u' UNIQUE, 'x' EXCLUDE, 'f' FOREIGN KEY, 'p' PRIMARY KEY. */
  readonly kind: 'c' | 'u' | 'x' | 'f' | 'p';
  readonly definition: string;
  /** The index behind a UNIQUE, EXCLUDE or primary key constraint. */
  readonly index: string | null;
}

/** An index that no constraint builds, as pg_get_indexdef writes it (partial and expression indexes included). */
export interface SourceIndex {
  readonly name: string;
  readonly definition: string;
}

/**
 * What a relation (a table or one of its partitions) carries besides its
 * columns, defined on that relation itself: what it inherits from a parent
 * is recreated with the parent.
 */
export interface RelationObjects {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  readonly constraints: readonly SourceConstraint[];
  readonly indexes: readonly SourceIndex[];
  /** 'd' default (primary key), 'n' nothing, 'f' full, 'i' index. */
  readonly replicaIdentity: 'd' | 'n' | 'f' | 'i';
  /** Unqualified name of the replica identity index. */
  readonly replicaIdentityIndex: string | null;
}

export interface SourcePartition extends RelationObjects {
  /** `FOR VALUES …` or `DEFAULT`, as pg_get_expr(relpartbound) writes it. */
  readonly bound: string;
  /** Its own partition key (pg_get_partkeydef) if it is partitioned again, else null. */
  readonly partitionKey: string | null;
  readonly partitions: readonly SourcePartition[];
}

interface RelationRef { readonly oid: number; readonly schema: string; readonly name: string; readonly replicaIdentity: 'd' | 'n' | 'f' | 'i' }

export async function relationObjects(client: pg.Client, relation: RelationRef): Promise<RelationObjects> {
  const constraints = (await client.query<SourceConstraint>(constraintsSql, [relation.oid])).rows;
  const indexes = (await client.query<SourceIndex>(indexesSql, [relation.oid])).rows;
  const identity = (await client.query<{ name: string }>(identityIndexNameSql, [relation.oid])).rows[0]?.name ?? null;
  return { ...relation, constraints, indexes, replicaIdentityIndex: identity };
}

interface PartitionRow { oid: number; schema: string; name: string; replica_identity: 'd' | 'n' | 'f' | 'i'; bound: string; partition_key: string | null }

/** The partitions of a partitioned table, recursively (sub-partitions included), in a stable order. */
export async function partitionTree(client: pg.Client, parentOid: number): Promise<SourcePartition[]> {
  const rows = (await client.query<PartitionRow>(partitionsSql, [parentOid])).rows;
  const partitions: SourcePartition[] = [];
  for (const r of rows) {
    const objects = await relationObjects(client, { oid: r.oid, schema: r.schema, name: r.name, replicaIdentity: r.replica_identity });
    partitions.push({
      ...objects, bound: r.bound, partitionKey: r.partition_key,
      partitions: r.partition_key === null ? [] : await partitionTree(client, r.oid),
    });
  }
  return partitions;
}

/** The table and all its partitions, parents before their partitions. */
export function relationsOf(table: RelationObjects & { readonly partitions: readonly SourcePartition[] }): RelationObjects[] {
  const all: RelationObjects[] = [table];
  const walk = (parts: readonly SourcePartition[]): void => {
    for (const p of parts) {
      all.push(p);
      walk(p.partitions);
    }
  };
  walk(table.partitions);
  return all;
}
