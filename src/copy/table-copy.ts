import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { FerryError } from '../errors.js';
import { connect, qualifiedName, quoteIdent, quoteLiteral } from '../pg/connect.js';
import type { Position } from '../source/position.js';
import { sql as controlSql } from '../target/control-sql.js';
import { chunkQuery, type ChunkPlan } from './chunk-plan.js';

export interface ChunkJob {
  readonly group: string;
  /** schema.table as configured; the target table rows go into. */
  readonly table: string;
  readonly targetTable: { readonly schema: string; readonly name: string };
  readonly chunk: number;
  readonly plan: ChunkPlan;
  readonly columns: readonly string[];
  readonly format: 'binary' | 'text';
  readonly estimatedBytes: number;
  readonly describe: string;
}

export interface CopySession {
  readonly sourceUrl: string;
  readonly targetUrl: string;
  /** Exported snapshot and its position: the copy sees exactly the transactions committed before it. */
  readonly snapshot: string;
  readonly snapshotPosition: Position;
  readonly onBytes: (job: ChunkJob, bytes: number) => void;
  readonly onDone: (job: ChunkJob, rows: number) => void;
}

/**
 * Copies chunks with `parallel` workers. Each worker reads under the same
 * exported snapshot (one repeatable-read transaction per worker) and streams
 * COPY output straight into COPY on the target; a chunk's rows commit on the
 * target together with its entry in ferry.copy_chunks, so a finished chunk is
 * never copied twice. The first failure stops the other workers.
 */
export async function copyChunks(jobs: readonly ChunkJob[], parallel: number, session: CopySession): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    if (next >= jobs.length) return;
    const source = await connect(session.sourceUrl, { role: 'source', applicationName: 'ferry:copy' });
    const target = await connect(session.targetUrl, { role: 'target', applicationName: 'ferry:copy' });
    try {
      await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await source.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(session.snapshot)}`);
      const replicaRole = await trySetReplicaRole(target);
      while (failure === undefined && next < jobs.length) {
        const job = jobs[next++] as ChunkJob;
        try {
          session.onDone(job, await copyChunk(source, target, job, session, replicaRole));
        } catch (err) {
          failure ??= err;
        }
      }
      await source.query('COMMIT');
    } catch (err) {
      failure ??= err;
    } finally {
      await source.end().catch(() => undefined);
      await target.end().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, jobs.length)) }, worker));
  if (failure !== undefined) throw failure;
}

async function copyChunk(source: pg.Client, target: pg.Client, job: ChunkJob, session: CopySession, replicaRole: boolean): Promise<number> {
  const options = job.format === 'binary' ? ' (FORMAT binary)' : '';
  const targetName = qualifiedName(job.targetTable.schema, job.targetTable.name);
  try {
    await target.query('BEGIN');
    const out = source.query(copyTo(`COPY (${chunkQuery(job.plan, job.columns)}) TO STDOUT${options}`));
    const into = target.query(copyFrom(`COPY ${targetName} (${job.columns.map(quoteIdent).join(', ')}) FROM STDIN${options}`));
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        session.onBytes(job, chunk.length);
        callback(null, chunk);
      },
    });
    await pipeline(out, counter, into);
    const rows = Number(into.rowCount ?? 0);
    await target.query(controlSql.markChunkCopied, [job.group, job.table, job.chunk, rows, bytes, session.snapshotPosition, job.format]);
    await target.query('COMMIT');
    return rows;
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw new FerryError('FERRY_COPY', `copying ${job.describe} failed: ${(err as Error).message}`,
      replicaRole ? 'fix the cause and run "ferry init" again; finished chunks are kept'
        : 'fix the cause and run "ferry init" again; finished chunks are kept (if a foreign key failed, let the target role set session_replication_role)',
      { context: { group: job.group, table: job.table }, cause: err });
  }
}

/** Foreign keys between tables copied in parallel would fail in arbitrary order; a replica session skips them. */
async function trySetReplicaRole(target: pg.Client): Promise<boolean> {
  try {
    await target.query('SET session_replication_role = replica');
    return true;
  } catch {
    return false;
  }
}
