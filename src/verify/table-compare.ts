import type pg from 'pg';
import { ExitCode, FerryError } from '../errors.js';
import { BucketReader } from './bucket-reader.js';
import { planScan } from './scan-plan.js';
import type { SnapshotPool } from './snapshot-pool.js';
import { digest, recordText } from './row-text.js';
import { keyId, type KeyState, type TableChanges } from './table-changes.js';
import { emptyDiff, type DiffList, type TableReport } from './verify-report.js';
import { typedKeyLookup, verifySql, type ScanPiece } from './verify-sql.js';
import type { VerifyTable } from './verify-tables.js';

export interface CompareContext {
  readonly source: SnapshotPool;
  readonly target: SnapshotPool;
  readonly sourceVersion: number;
  readonly targetVersion: number;
  /** How many keys (or rows) of each kind of difference to report. */
  readonly limit: number;
}

interface Totals { n: bigint; s: bigint }
interface KeyedRow { readonly b: number; readonly key: string[]; readonly h: string }
interface KeylessRow { readonly b: number; readonly h: string; readonly n: number; readonly row: string }

/** Rows per bucket aimed at: what is read again when a bucket differs. */
const ROWS_PER_BUCKET = 128;
const MAX_BUCKETS = 2 ** 18;

/**
 * Compares one table: per bucket of rows, count and sum of row hashes on
 * each side (computed by the servers, pieces in parallel); then, only for
 * buckets that differ or that a source change made during the comparison
 * touched, the rows' keys and hashes, merged bucket by bucket.
 */
export async function compareTable(table: VerifyTable, ctx: CompareContext, changes: TableChanges | undefined): Promise<TableReport> {
  const [sourcePlan, targetPlan] = await Promise.all([
    ctx.source.with((c) => planScan(c, table.relation, ctx.sourceVersion)),
    ctx.target.with((c) => planScan(c, table.relation, ctx.targetVersion)),
  ]);
  const buckets = bucketCount(Math.max(sourcePlan.estimatedRows, targetPlan.estimatedRows));
  const mask = buckets - 1;
  const [sourceTotals, targetTotals] = await Promise.all([
    changes?.truncated ? new Map<number, Totals>() : totals(ctx.source, table, sourcePlan.pieces, mask),
    totals(ctx.target, table, targetPlan.pieces, mask),
  ]);
  const touched = touchedBuckets(table, changes, mask);
  const differing = new Set(touched.keys());
  for (const b of new Set([...sourceTotals.keys(), ...targetTotals.keys()])) {
    const s = sourceTotals.get(b);
    const t = targetTotals.get(b);
    if (s?.n !== t?.n || s?.s !== t?.s) differing.add(b);
  }
  const sum = (m: Map<number, Totals>) => [...m.values()].reduce((a, v) => a + v.n, 0n);
  const report = {
    table: table.label, group: table.group, key: table.key, columns: table.columns, skippedColumns: table.skippedColumns,
    sourceRows: Number(sum(sourceTotals)), targetRows: Number(sum(targetTotals)),
    missing: emptyDiff(), extra: emptyDiff(), differing: emptyDiff(),
    chunks: buckets, chunksDrilled: differing.size, rowsFetched: 0, changesReconciled: changes?.changes ?? 0,
  };
  if (differing.size === 0) return { ...report, equal: true };

  const order = [...differing].sort((a, b) => a - b);
  const merged = table.key
    ? await compareKeyed(table as VerifyTable & { key: readonly string[] }, ctx, sourcePlan.whole, targetPlan.whole, mask, order, touched as Map<number, KeyState[]>, changes)
    : await compareKeyless(table, ctx, sourcePlan.whole, targetPlan.whole, mask, order, touched as Map<number, string[]>, changes);
  return {
    ...report, ...merged, sourceRows: report.sourceRows + merged.sourceRowsChange,
    equal: merged.missing.count + merged.extra.count + merged.differing.count === 0,
  };
}

function bucketCount(rows: number): number {
  let b = 1;
  while (b < rows / ROWS_PER_BUCKET && b < MAX_BUCKETS) b *= 2;
  return b;
}

async function totals(pool: SnapshotPool, table: VerifyTable, pieces: readonly ScanPiece[], mask: number): Promise<Map<number, Totals>> {
  const out = new Map<number, Totals>();
  await Promise.all(pieces.map((piece) => pool.with(async (client) => {
    const rows = (await client.query<{ b: number; n: string; s: string }>(verifySql.bucketTotals(table, piece, mask))).rows;
    for (const r of rows) {
      const t = out.get(r.b) ?? { n: 0n, s: 0n };
      t.n += BigInt(r.n);
      t.s += BigInt(r.s);
      out.set(r.b, t);
    }
  })));
  return out;
}

/** Buckets holding rows the window's changes touched: keyed, their final states; keyless, the row texts. */
function touchedBuckets(table: VerifyTable, changes: TableChanges | undefined, mask: number): Map<number, KeyState[] | string[]> {
  const out = new Map<number, (KeyState | string)[]>();
  const add = (text: string, item: KeyState | string) => {
    const b = digest(text, mask).bucket;
    const items = out.get(b);
    if (items) items.push(item);
    else out.set(b, [item]);
  };
  if (changes && table.key) for (const state of changes.keyed.values()) add(recordText(state.key), state);
  if (changes && !table.key) for (const text of changes.multiset.keys()) add(text, text);
  return out as Map<number, KeyState[] | string[]>;
}

interface Merged {
  readonly missing: DiffList;
  readonly extra: DiffList;
  readonly differing: DiffList;
  readonly rowsFetched: number;
  /** Source rows at the common point minus rows in the source snapshot. */
  readonly sourceRowsChange: number;
}

async function compareKeyed(
  table: VerifyTable & { key: readonly string[] }, ctx: CompareContext, sourceWhole: ScanPiece, targetWhole: ScanPiece, mask: number,
  order: readonly number[], touched: ReadonlyMap<number, KeyState[]>, changes: TableChanges | undefined,
): Promise<Merged> {
  const finalHashes = await hashesOfChanges(table, ctx, sourceWhole, touched, changes);
  const missing = emptyDiff();
  const extra = emptyDiff();
  const differing = emptyDiff();
  const note = (list: DiffList, key: readonly string[]) => {
    if (list.count++ < ctx.limit) list.keys.push(Object.fromEntries(table.key.map((k, i) => [k, key[i] as string])));
  };
  let sourceRowsChange = 0;
  const fetched = await withReaders<KeyedRow>(ctx, table, sourceWhole, targetWhole, mask, order, changes?.truncated ?? false, (bucket, src, tgt) => {
    const source = new Map(src.map((r) => [keyId(r.key), r]));
    for (const state of touched.get(bucket) ?? []) {
      const id = keyId(state.key);
      sourceRowsChange -= source.has(id) ? 1 : 0;
      if (state.values === null) source.delete(id);
      else source.set(id, { b: bucket, key: [...state.key], h: finalHashes.get(id) as string });
      sourceRowsChange += state.values === null ? 0 : 1;
    }
    for (const t of tgt) {
      const s = source.get(keyId(t.key));
      if (!s) note(extra, t.key);
      else if (s.h !== t.h) note(differing, t.key);
      source.delete(keyId(t.key));
    }
    for (const s of source.values()) note(missing, s.key);
  });
  return { missing, extra, differing, rowsFetched: fetched + finalHashes.size, sourceRowsChange };
}

/**
 * Hashes of the rows the window's changes left, by key. Columns a change
 * left untouched (unchanged TOASTed values) are read from the source
 * snapshot's row they came from.
 */
async function hashesOfChanges(
  table: VerifyTable & { key: readonly string[] }, ctx: CompareContext, whole: ScanPiece,
  touched: ReadonlyMap<number, KeyState[]>, changes: TableChanges | undefined,
): Promise<Map<string, string>> {
  const states = [...touched.values()].flat().filter((s) => s.values !== null);
  const inherited = new Map<string, readonly (string | null)[]>();
  const sources = [...new Map(states.filter((s) => s.inheritFrom).map((s) => [keyId(s.inheritFrom ?? []), s.inheritFrom ?? []])).values()];
  if (sources.length > 0 && !changes?.truncated) {
    const params = typedKeyLookup(table.keyTypes)
      ? table.key.map((_, i) => sources.map((k) => k[i]))
      : [sources.map((k) => recordText(k))];
    const rows = await ctx.source.with((c: pg.Client) => c.query<{ key: string[]; values: (string | null)[] }>(verifySql.rowsByKey(table, table.keyTypes, whole), params));
    for (const r of rows.rows) inherited.set(keyId(r.key), r.values);
  }
  const out = new Map<string, string>();
  for (const state of states) {
    const base = state.inheritFrom ? inherited.get(keyId(state.inheritFrom)) : undefined;
    const values = (state.values ?? []).map((v, i) => {
      if (v !== undefined) return v;
      const b = base?.[i];
      if (b === undefined) {
        throw new FerryError('FERRY_VERIFY_UNRESOLVED', `a change made while ${table.label} was compared left a value unchanged that the source snapshot does not hold`,
          'run "ferry verify" again', { exitCode: ExitCode.usage, context: { group: table.group, table: table.label } });
      }
      return b;
    });
    out.set(keyId(state.key), digest(recordText(values), -1).hash);
  }
  return out;
}

async function compareKeyless(
  table: VerifyTable, ctx: CompareContext, sourceWhole: ScanPiece, targetWhole: ScanPiece, mask: number,
  order: readonly number[], touched: ReadonlyMap<number, string[]>, changes: TableChanges | undefined,
): Promise<Merged> {
  const missing = emptyDiff();
  const extra = emptyDiff();
  const note = (list: DiffList, row: string, count: number) => {
    if (list.rows.length < ctx.limit) list.rows.push({ row, count });
    list.count += count;
  };
  let sourceRowsChange = 0;
  const fetched = await withReaders<KeylessRow>(ctx, table, sourceWhole, targetWhole, mask, order, changes?.truncated ?? false, (bucket, src, tgt) => {
    const counts = new Map<string, { n: number; row: string }>(src.map((r) => [r.h, { n: r.n, row: r.row }]));
    for (const text of touched.get(bucket) ?? []) {
      const delta = changes?.multiset.get(text) ?? 0;
      const h = digest(text, mask).hash;
      const c = counts.get(h) ?? { n: 0, row: text };
      counts.set(h, { n: c.n + delta, row: c.row });
      sourceRowsChange += delta;
    }
    for (const t of tgt) {
      const s = counts.get(t.h)?.n ?? 0;
      if (t.n > s) note(extra, t.row, t.n - s);
      else if (s > t.n) note(missing, t.row, s - t.n);
      counts.delete(t.h);
    }
    for (const s of counts.values()) if (s.n > 0) note(missing, s.row, s.n);
  });
  return { missing, extra, differing: emptyDiff(), rowsFetched: fetched, sourceRowsChange };
}

/**
 * Reads the rows of the differing buckets from both sides at once, through
 * one cursor per side, and hands them over a bucket at a time.
 */
async function withReaders<R extends { readonly b: number }>(
  ctx: CompareContext, table: VerifyTable, sourceWhole: ScanPiece, targetWhole: ScanPiece, mask: number, order: readonly number[],
  sourceEmpty: boolean, onBucket: (bucket: number, source: R[], target: R[]) => void,
): Promise<number> {
  // Always the source connection first, then the target's: tables compared
  // in parallel then never wait for each other's connections in a circle.
  return ctx.source.with((sc) => ctx.target.with(async (tc) => {
    const source = sourceEmpty ? BucketReader.empty<R>() : await BucketReader.open<R>(sc, 'ferry_verify_rows', verifySql.bucketRows(table, sourceWhole, mask, order));
    const target = await BucketReader.open<R>(tc, 'ferry_verify_rows', verifySql.bucketRows(table, targetWhole, mask, order));
    for (const bucket of order) {
      const [s, t] = await Promise.all([source.take(bucket), target.take(bucket)]);
      onBucket(bucket, s, t);
    }
    await Promise.all([source.close(), target.close()]);
    return source.fetched + target.fetched;
  }));
}
