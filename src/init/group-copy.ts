import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import { tableLabel, type SourceTable } from '../catalog/source-tables.js';
import { planChunks, describeChunk, type ChunkPlan } from '../copy/chunk-plan.js';
import { copyFormat } from '../copy/copy-format.js';
import { foreignKeyWaves, targetSkipsChecks } from '../copy/copy-order.js';
import { CopyProgress } from '../copy/copy-progress.js';
import { copyChunks, type ChunkJob } from '../copy/table-copy.js';
import { targetTableSql } from '../copy/target-table-sql.js';
import type { Logger } from '../observe/logger.js';
import { qualifiedName } from '../pg/connect.js';
import { inTransaction } from '../pg/in-transaction.js';
import type { CopySnapshot } from '../source/capture.js';
import { sql } from '../target/control-sql.js';

interface ChunkRow {
  readonly table_name: string;
  readonly chunk: number;
  readonly chunk_count: number;
  readonly plan: ChunkPlan;
  readonly estimated_bytes: string;
  readonly rows: string | null;
  readonly snapshot_position: string | null;
}

/**
 * Cuts every table of a group into chunks and records the plan, once, before
 * anything is copied. `replacing`: the tables had a plan (a copy made again),
 * which is forgotten in the same target transaction, so that a stream never
 * sees such a table without chunks to wait for and applies its changes to a
 * half-copied table.
 */
export async function recordChunkPlan(
  source: pg.Client, target: pg.Client, group: string, tables: readonly SourceTable[], serverVersion: number, chunkBytes: number,
  replacing = false,
): Promise<void> {
  const plans: { table: string; chunks: Awaited<ReturnType<typeof planChunks>> }[] = [];
  for (const table of tables) plans.push({ table: tableLabel(table), chunks: await planChunks(source, table, serverVersion, chunkBytes) });
  await inTransaction(target, async () => {
    if (replacing) await target.query(sql.forgetTables, [group, plans.map((p) => p.table)]);
    for (const { table, chunks } of plans) {
      for (const [i, chunk] of chunks.entries()) {
        await target.query(sql.insertChunk, [group, table, i, chunks.length, JSON.stringify(chunk.plan), chunk.estimatedBytes]);
      }
    }
  });
}

/**
 * A table read by pages or partitions that was only partly copied must be
 * copied again whole: its rows may have moved between pages or partitions
 * since. Empties such tables on the target and forgets their chunks. Key
 * ranges keep what is finished.
 */
export async function resetPartialTables(target: pg.Client, group: string, tables: readonly SourceTable[], log: Logger): Promise<void> {
  await copyPartlyCopiedAgain(target, group, tables.map((t) => ({ label: tableLabel(t), name: qualifiedName(t.schema, t.name) })),
    (chunks) => chunks.every((c) => c.plan.kind === 'key'), 'the table was read by pages or partitions', log);
}

/**
 * Each of `tables` whose copy stopped part way, unless `keep` says its
 * finished chunks stay good, is emptied on the target and its chunks are
 * forgotten, in one transaction: the next copy reads it whole.
 */
export async function copyPartlyCopiedAgain(
  target: pg.Client, group: string, tables: readonly { readonly label: string; readonly name: string }[],
  keep: (chunks: readonly ChunkRow[]) => boolean, why: string, log: Logger,
): Promise<void> {
  const rows = (await target.query<ChunkRow>(sql.chunks, [group])).rows;
  for (const table of tables) {
    const mine = rows.filter((r) => r.table_name === table.label);
    const done = mine.filter((r) => r.snapshot_position !== null).length;
    if (done === 0 || done === mine.length || keep(mine)) continue;
    log.warn({ table: table.label, chunksDone: done, chunks: mine.length }, `${why}; copying it again whole`);
    await inTransaction(target, async () => {
      await target.query(targetTableSql.truncate([table.name]));
      await target.query(sql.forgetTableChunks, [group, table.label]);
    });
  }
}

/** Copies every chunk of the group not yet copied, under `snapshot`, with progress. Returns rows copied. */
export async function copyPendingChunks(
  config: FerryConfig, source: pg.Client, target: pg.Client, group: string, tables: readonly SourceTable[], snapshot: CopySnapshot, log: Logger,
): Promise<number> {
  const rows = (await target.query<ChunkRow>(sql.chunks, [group])).rows;
  const jobs: ChunkJob[] = [];
  const byLabel = new Map(tables.map((t) => [tableLabel(t), t]));
  // Per table being copied: its written columns and the COPY format they allow.
  const copying = new Map<SourceTable, { columns: string[]; format: 'binary' | 'text' }>();
  for (const row of rows) {
    if (row.snapshot_position !== null) continue;
    const table = byLabel.get(row.table_name);
    if (!table) continue;
    let how = copying.get(table);
    if (!how) {
      const columns = table.columns.filter((c) => !c.generated).map((c) => c.name);
      how = { columns, format: await copyFormat(source, target, table, columns) };
      copying.set(table, how);
    }
    jobs.push({
      group, table: row.table_name, targetTable: { schema: table.schema, name: table.name }, chunk: row.chunk, plan: row.plan,
      columns: how.columns, format: how.format, estimatedBytes: Number(row.estimated_bytes), describe: describeChunk(table, row.plan),
    });
  }
  // Largest first, so the long chunks do not start last.
  const ordered = jobs.sort((a, b) => b.estimatedBytes - a.estimatedBytes);
  const tableEstimate = new Map<string, number>();
  for (const r of rows) tableEstimate.set(r.table_name, (tableEstimate.get(r.table_name) ?? 0) + Number(r.estimated_bytes));
  const progress = new CopyProgress(group, ordered.reduce((n, j) => n + j.estimatedBytes, 0), ordered.length, log);
  let copied = 0;
  const session = {
    sourceUrl: config.source.url,
    targetUrl: config.target.url,
    snapshot: snapshot.snapshotName,
    snapshotPosition: snapshot.position,
    onBytes: (job: ChunkJob, bytes: number) => progress.advance(job.table, tableEstimate.get(job.table) ?? 0, bytes),
    onDone: (job: ChunkJob, n: number) => {
      copied += n;
      progress.chunkDone(n);
      log.debug({ chunk: job.describe, rows: n, format: job.format }, 'chunk copied');
    },
  };
  try {
    if (await targetSkipsChecks(target)) {
      await copyChunks(ordered, config.copy.parallel, session);
    } else {
      log.warn('the target role may not set session_replication_role: tables load parents first and target triggers fire for copied rows');
      for (const wave of await foreignKeyWaves(target, [...new Set(ordered.map((j) => j.table))])) {
        await copyChunks(ordered.filter((j) => wave.includes(j.table)), config.copy.parallel, session);
      }
    }
  } finally {
    progress.stop();
  }
  for (const table of copying.keys()) await target.query(targetTableSql.analyze(qualifiedName(table.schema, table.name)));
  return copied;
}
