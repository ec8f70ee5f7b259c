import type pg from 'pg';
import { tableLabel, type SourceTable } from '../catalog/source-tables.js';
import { qualifiedName, quoteIdent } from '../pg/connect.js';

/**
 * How one piece of a table is read. Key ranges are preferred: a row stays in
 * its range whatever happens to it (short of a key change), so after a crash
 * finished ranges are kept and only the rest is copied again. Page (ctid)
 * ranges are used where there is no integer key (PostgreSQL 14+ scans them
 * efficiently); rows move between pages when updated, so a table copied by
 * pages is copied again whole if interrupted. A partitioned table is read per
 * leaf partition.
 */
export type ChunkPlan =
  | { readonly kind: 'whole'; readonly schema: string; readonly relation: string; readonly only: boolean }
  | { readonly kind: 'key'; readonly schema: string; readonly relation: string; readonly column: string; readonly from: string | null; readonly to: string | null }
  | { readonly kind: 'pages'; readonly schema: string; readonly relation: string; readonly from: number | null; readonly to: number | null };

export interface PlannedChunk {
  readonly plan: ChunkPlan;
  readonly estimatedBytes: number;
}

const PAGE = 8192;
const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

/**
 * `chunkBytes` of heap per chunk: small enough to spread a big table over
 * every worker, big enough to keep the per-chunk overhead low.
 */
export async function planChunks(source: pg.Client, table: SourceTable, serverVersion: number, chunkBytes: number): Promise<PlannedChunk[]> {
  if (table.partitioned) {
    const leaves = await source.query<{ schema: string; name: string; bytes: string }>(
      `SELECT n.nspname AS schema, c.relname AS name, pg_relation_size(c.oid) AS bytes
         FROM pg_partition_tree($1::regclass) t JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE t.isleaf ORDER BY 1, 2`, [qualifiedName(table.schema, table.name)]);
    const chunks: PlannedChunk[] = [];
    for (const leaf of leaves.rows) {
      chunks.push(...await planRelation(source, leaf.schema, leaf.name, Number(leaf.bytes), undefined, serverVersion, chunkBytes));
    }
    return chunks;
  }
  const bytes = Number((await source.query<{ b: string }>('SELECT pg_relation_size($1::regclass) AS b', [qualifiedName(table.schema, table.name)])).rows[0]?.b ?? 0);
  const keyColumn = table.primaryKey.length === 1 ? table.columns.find((c) => c.name === table.primaryKey[0]) : undefined;
  // Streaming must find a change's chunk from the row it carries: only when the
  // replica identity includes the key (the primary key itself, or FULL).
  const keyInIdentity = table.replicaIdentity === 'd' || table.replicaIdentity === 'f';
  const integerKey = keyColumn && keyInIdentity && INTEGER_TYPES.has(keyColumn.type) ? keyColumn.name : undefined;
  return planRelation(source, table.schema, table.name, bytes, integerKey, serverVersion, chunkBytes);
}

async function planRelation(
  source: pg.Client, schema: string, relation: string, bytes: number, integerKey: string | undefined, serverVersion: number, chunkBytes: number,
): Promise<PlannedChunk[]> {
  const count = Math.ceil(bytes / chunkBytes);
  if (count <= 1) return [{ plan: { kind: 'whole', schema, relation, only: true }, estimatedBytes: bytes }];
  const share = Math.ceil(bytes / count);
  if (integerKey) {
    const range = (await source.query<{ lo: string | null; hi: string | null }>(
      `SELECT min(${quoteIdent(integerKey)})::text AS lo, max(${quoteIdent(integerKey)})::text AS hi FROM ONLY ${qualifiedName(schema, relation)}`)).rows[0];
    if (range?.lo != null && range.hi != null) {
      const lo = BigInt(range.lo);
      const span = BigInt(range.hi) - lo + 1n;
      const n = BigInt(count) > span ? Number(span) : count;
      const bounds = Array.from({ length: n - 1 }, (_, i) => (lo + (span * BigInt(i + 1)) / BigInt(n)).toString());
      // Open at both ends: rows outside [min, max] at copy time still land in a chunk.
      return Array.from({ length: n }, (_, i) => ({
        plan: { kind: 'key', schema, relation, column: integerKey, from: i === 0 ? null : bounds[i - 1] ?? null, to: i === n - 1 ? null : bounds[i] ?? null },
        estimatedBytes: share,
      }));
    }
  }
  if (serverVersion >= 140000) {
    const pages = Math.ceil(bytes / PAGE);
    const step = Math.ceil(pages / count);
    return Array.from({ length: count }, (_, i) => ({
      plan: { kind: 'pages', schema, relation, from: i === 0 ? null : i * step, to: i === count - 1 ? null : (i + 1) * step },
      estimatedBytes: share,
    }));
  }
  return [{ plan: { kind: 'whole', schema, relation, only: true }, estimatedBytes: bytes }];
}

/** The SELECT a chunk is copied from. */
export function chunkQuery(plan: ChunkPlan, columns: readonly string[]): string {
  const cols = columns.map(quoteIdent).join(', ');
  const from = `ONLY ${qualifiedName(plan.schema, plan.relation)}`;
  const conds: string[] = [];
  if (plan.kind === 'key') {
    if (plan.from !== null) conds.push(`${quoteIdent(plan.column)} >= ${BigInt(plan.from)}`);
    if (plan.to !== null) conds.push(`${quoteIdent(plan.column)} < ${BigInt(plan.to)}`);
  } else if (plan.kind === 'pages') {
    if (plan.from !== null) conds.push(`ctid >= '(${Math.trunc(plan.from)},0)'::tid`);
    if (plan.to !== null) conds.push(`ctid < '(${Math.trunc(plan.to)},0)'::tid`);
  }
  return `SELECT ${cols} FROM ${from}${conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : ''}`;
}

export function describeChunk(table: SourceTable, plan: ChunkPlan): string {
  const name = `${plan.schema}.${plan.relation}` === tableLabel(table) ? tableLabel(table) : `${tableLabel(table)} (partition ${plan.schema}.${plan.relation})`;
  if (plan.kind === 'key') return `${name} ${plan.column} in [${plan.from ?? '-∞'}, ${plan.to ?? '∞'})`;
  if (plan.kind === 'pages') return `${name} pages [${plan.from ?? 0}, ${plan.to ?? 'end'})`;
  return name;
}
