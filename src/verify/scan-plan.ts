import type pg from 'pg';
import { verifySql, type ScanPiece } from './verify-sql.js';

/** How one side of a table is read: pieces scanned in parallel for bucket totals, and the whole for rows. */
export interface ScanPlan {
  readonly pieces: readonly ScanPiece[];
  readonly whole: ScanPiece;
  readonly estimatedRows: number;
}

/** Heap bytes per piece: big tables are summed by several connections at once. */
const PIECE_BYTES = 32 * 2 ** 20;
const PAGE = 8192;
/** Without statistics, assume narrow rows: more buckets only cost a little. */
const BYTES_PER_ROW_GUESS = 64;

/**
 * Cuts a table into pieces by leaf partition and, from PostgreSQL 14 on
 * (efficient ctid range scans), by page ranges. Each side is cut on its own:
 * bucket totals are added up per bucket, so pieces need not line up.
 */
export async function planScan(client: pg.Client, relation: string, serverVersion: number): Promise<ScanPlan> {
  const size = (await client.query<{ kind: string | null; bytes: number; tuples: number }>(verifySql.relationSize, [relation])).rows[0];
  const bytes = size?.bytes ?? 0;
  const estimatedRows = size && size.tuples > 0 ? size.tuples : bytes / BYTES_PER_ROW_GUESS;
  if (size?.kind === 'p') {
    const whole = { relation, only: false, pages: null };
    if (serverVersion < 120000) return { pieces: [whole], whole, estimatedRows };
    const leaves = (await client.query<{ relation: string; kind: string; bytes: number }>(verifySql.leafPartitions, [relation])).rows;
    return { pieces: leaves.flatMap((l) => split(l.relation, l.kind, l.bytes, serverVersion)), whole, estimatedRows };
  }
  return { pieces: split(relation, size?.kind ?? 'r', bytes, serverVersion), whole: { relation, only: true, pages: null }, estimatedRows };
}

function split(relation: string, kind: string, bytes: number, serverVersion: number): ScanPiece[] {
  const count = Math.ceil(bytes / PIECE_BYTES);
  if (kind !== 'r' || serverVersion < 140000 || count <= 1) return [{ relation, only: true, pages: null }];
  const step = Math.ceil(bytes / PAGE / count);
  // Open at both ends: pages added since the size was read still belong to a piece.
  return Array.from({ length: count }, (_, i) => ({
    relation, only: true, pages: { from: i === 0 ? null : i * step, to: i === count - 1 ? null : (i + 1) * step },
  }));
}
