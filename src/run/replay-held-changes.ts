import type pg from 'pg';
import { decodeHeld } from '../change/held-change.js';
import type { Applier } from '../apply/applier.js';
import type { Batch, BatchChange } from '../apply/batch.js';
import type { ChunkPlan } from '../copy/chunk-plan.js';
import { skipCopiedChanges } from '../copy/overlap-filter.js';
import type { Logger } from '../observe/logger.js';
import { storedPosition, type Position } from '../source/position.js';
import type { SourceEvent } from '../source/source.js';
import { sql } from '../target/control-sql.js';

/** Held changes read from the target at a time. */
const PAGE = 5_000;

/**
 * Before a group streams again: the changes held for tables whose copy has
 * finished (see hold-joining-changes.ts), those the copy does not already
 * have, are applied in source order and deleted, all in one target
 * transaction. The group's position is already past them and stays.
 */
export async function replayHeldChanges(
  target: pg.Client, applier: Applier, group: string, position: Position, maxRows: number, log: Logger,
  /** Told of each batch applied and how, for metrics. */
  onApplied?: (batch: Batch, mode: 'set_based' | 'in_order' | undefined, seconds: number) => void,
): Promise<void> {
  const tables = (await target.query<{ table_name: string }>(sql.heldTablesCopied, [group])).rows.map((r) => r.table_name);
  if (tables.length === 0) return;
  const chunks = (await target.query<{ table_name: string; plan: ChunkPlan; snapshot_position: string }>(sql.copiedChunks, [group, tables])).rows
    .map((r) => ({ table: r.table_name, plan: r.plan, snapshotPosition: storedPosition(r.snapshot_position) }));
  const apply = async (batch: Batch) => {
    const started = performance.now();
    const { mode } = await applier.apply(batch, position);
    onApplied?.(batch, mode, (performance.now() - started) / 1000);
  };
  let changes: BatchChange[] = [];
  let rows = 0;
  let held = 0;
  let applied = 0;
  for await (const run of skipCopiedChanges(readHeld(target, group, tables, () => held++), chunks, group)) {
    for (const event of run) {
      if (event.kind !== 'relation' && event.kind !== 'insert' && event.kind !== 'update' && event.kind !== 'delete' && event.kind !== 'truncate'
        && event.kind !== 'unreadable' && event.kind !== 'message') continue;
      changes.push(event);
      if (event.kind === 'relation') continue;
      rows++;
      applied++;
      if (rows >= maxRows) {
        await apply({ changes, rows });
        changes = [];
        rows = 0;
      }
    }
  }
  if (rows > 0) await apply({ changes, rows });
  await applier.releaseHeld(tables, position);
  log.info({ tables, held, applied, skipped: held - applied }, 'applied the changes held while the tables were copied (those the copy did not have)');
}

/** The held changes of `tables` in source order, each transaction's after a `begin` with its position. */
async function* readHeld(target: pg.Client, group: string, tables: readonly string[], count: () => void): AsyncGenerator<readonly SourceEvent[]> {
  let after = '0';
  let position: string | undefined;
  for (;;) {
    const page = (await target.query<{ seq: string; position: string; change: unknown }>(sql.heldChanges, [group, tables, after, PAGE])).rows;
    if (page.length === 0) return;
    const out: SourceEvent[] = [];
    for (const row of page) {
      if (row.position !== position) {
        position = row.position;
        out.push({ kind: 'begin', xid: 0, commitTime: 0n, commitPosition: storedPosition(row.position) });
      }
      const change = decodeHeld(row.change);
      if (change.kind !== 'relation') count();
      out.push(change);
    }
    after = page[page.length - 1]?.seq ?? after;
    yield out;
  }
}
