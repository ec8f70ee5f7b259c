import type pg from 'pg';
import { partitionLineageSql } from './catalog-sql.js';
import { withQualifiedNames } from './qualified-names.js';

/** One partition between a partitioned root and a leaf, as CREATE TABLE … PARTITION OF needs it. */
export interface LineagePartition {
  readonly schema: string;
  readonly name: string;
  /** `FOR VALUES …` or `DEFAULT`. */
  readonly bound: string;
  /** Its own key if it is partitioned again (a sub-partitioned level), else null. */
  readonly partitionKey: string | null;
}

/**
 * Where a source partition sits: its root (the partitioned table that is not
 * itself a partition) and the partitions from just below the root down to
 * the partition itself, each under the one before.
 */
export interface PartitionLineage {
  readonly root: { readonly schema: string; readonly name: string };
  readonly path: readonly LineagePartition[];
  /** The partition's whole partition constraint, as a condition on the root's rows. */
  readonly constraint: string;
}

interface LineageRow {
  schema: string; name: string; is_partition: boolean; bound: string | null; partition_key: string | null; constraint_def: string | null;
}

/**
 * The lineage of relation `oid` in the source catalog as it is now, or
 * undefined when it is no partition (or no longer exists). Read with
 * qualified names, so bounds and keys mean the same on the target.
 */
export async function partitionLineage(client: pg.Client, oid: number): Promise<PartitionLineage | undefined> {
  const rows = await withQualifiedNames(client, async () => (await client.query<LineageRow>(partitionLineageSql, [oid])).rows);
  const [root, ...path] = rows;
  const leaf = path[path.length - 1];
  if (!root || root.is_partition || !leaf) return undefined;
  return {
    root: { schema: root.schema, name: root.name },
    path: path.map((p) => ({ schema: p.schema, name: p.name, bound: p.bound ?? 'DEFAULT', partitionKey: p.partition_key })),
    constraint: leaf.constraint_def ?? 'true',
  };
}
