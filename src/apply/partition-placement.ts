import type pg from 'pg';
import type { Relation } from '../change/change.js';
import type { PartitionLineage } from '../catalog/partition-lineage.js';
import { createPartitionSql, createSchemaSql } from '../copy/target-table-sql.js';
import { FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { qualifiedName } from '../pg/connect.js';
import { bindTargetRelation, type TargetRelation } from './target-relation.js';

/**
 * Source catalog facts the applier needs about a relation the target lacks.
 * Whoever runs the applier provides them (the group runner reads the
 * source), so the apply stage never opens a source connection itself.
 */
export interface SourcePartitions {
  /** Where source relation `relationId` sits, if it is a partition; undefined otherwise. */
  lineage(relationId: number): Promise<PartitionLineage | undefined>;
}

/**
 * Where a source partition's changes go on a target that has no table of
 * its name: 'created' when the partition (and any missing level above it)
 * was created under its parent, or the root, whose own partitions (or
 * default partition) take the rows, with the condition that picks the
 * partition's rows out of the root's for a TRUNCATE.
 */
export type Placement =
  | { readonly kind: 'created'; readonly tables: readonly string[] }
  | { readonly kind: 'root'; readonly root: { readonly schema: string; readonly name: string }; readonly constraint: string };

/** SQLSTATEs of a partition the target cannot take as the source has it: it overlaps one of the target's own, or rows in the default partition. */
const CANNOT_CREATE = new Set(['42P17', '23514']);

/**
 * A partition created on the source after `init` (a new month) is created
 * on the target from the source catalog, under the same parent with the
 * same bound (and key, when it is partitioned again), inside the apply
 * transaction, so it commits with the first rows that need it. Partitions
 * inherit the parent's columns, primary key, indexes and CHECK constraints.
 * Where the target is partitioned differently (its parent is an ordinary
 * table, or its own partitions already cover these values) the rows go to
 * the root. Undefined when the target lacks the root too.
 */
export async function placePartition(
  client: pg.Client, relation: Relation, lineage: PartitionLineage, log: Logger,
): Promise<Placement | undefined> {
  const kind = async (schema: string, name: string) =>
    (await client.query<{ relkind: string }>('SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)', [qualifiedName(schema, name)])).rows[0]?.relkind;
  let parent = { schema: lineage.root.schema, name: lineage.root.name };
  let parentKind = await kind(parent.schema, parent.name);
  if (parentKind === undefined) return undefined;
  const toRoot: Placement = { kind: 'root', root: lineage.root, constraint: lineage.constraint };
  const created: string[] = [];
  // The stream names the partition as it was when the change was made; the catalog's levels above it are current.
  const path = lineage.path.map((p, i) => (i === lineage.path.length - 1 ? { ...p, schema: relation.schema, name: relation.table } : p));
  for (const level of path) {
    const existing = await kind(level.schema, level.name);
    if (existing !== undefined) {
      parent = level;
      parentKind = existing;
      continue;
    }
    if (parentKind !== 'p') return toRoot;
    const statement = createPartitionSql(level, parent);
    await client.query('SAVEPOINT ferry_partition');
    try {
      await client.query(createSchemaSql(level.schema));
      await client.query(statement);
      await client.query('RELEASE SAVEPOINT ferry_partition');
    } catch (err) {
      await client.query('ROLLBACK TO SAVEPOINT ferry_partition');
      await client.query('RELEASE SAVEPOINT ferry_partition');
      const pgErr = err as { code?: string; message?: string };
      if (pgErr.code !== undefined && CANNOT_CREATE.has(pgErr.code)) {
        log.info({ table: `${relation.schema}.${relation.table}`, root: `${lineage.root.schema}.${lineage.root.name}`, reason: pgErr.message },
          'the target is partitioned differently: changes of this source partition go to the root');
        return toRoot;
      }
      throw new FerryError('FERRY_PARTITION_CREATE', `creating partition ${level.schema}.${level.name} on the target failed: ${pgErr.message ?? String(err)}`,
        `create it on the target yourself (${statement}) and run again`, { context: { table: `${relation.schema}.${relation.table}` }, cause: err });
    }
    created.push(`${level.schema}.${level.name}`);
    log.info({ table: `${level.schema}.${level.name}`, parent: `${parent.schema}.${parent.name}` }, 'created partition on the target');
    parent = level;
    parentKind = level.partitionKey ? 'p' : 'r';
  }
  return { kind: 'created', tables: created };
}

/**
 * Binds `relation` to its target table. A source partition the target has
 * no table of that name for is placed first (placePartition); the error of
 * a missing table stands when it is no partition or the target lacks its
 * root as well.
 */
export async function bindPlaced(
  client: pg.Client, relation: Relation, group: string, partitions: SourcePartitions | undefined, log: Logger,
): Promise<TargetRelation> {
  try {
    return await bindTargetRelation(client, relation, group);
  } catch (err) {
    if (!(err instanceof FerryError && err.code === 'FERRY_TARGET_TABLE_MISSING') || !partitions) throw err;
    const lineage = await partitions.lineage(relation.relationId);
    const placement = lineage && await placePartition(client, relation, lineage, log);
    if (!placement) throw err;
    if (placement.kind === 'created') return bindTargetRelation(client, relation, group);
    const root = await bindTargetRelation(client, { ...relation, schema: placement.root.schema, table: placement.root.name }, group);
    return { ...root, label: `${root.label} (for partition ${relation.schema}.${relation.table})`, partitionConstraint: placement.constraint };
  }
}
