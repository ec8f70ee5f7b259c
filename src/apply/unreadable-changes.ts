import type { Batch, BatchChange } from './batch.js';

/**
 * The batch without the changes of `tables` (source relation ids): tables
 * with a change whose values could not be read, which are copied again.
 * Their other changes up to the copy are not written either: they may
 * depend on the unreadable one (an update of a row whose insert could not
 * be read), and the copy, read after them, holds their effect.
 */
export function withoutTables(batch: Batch, tables: ReadonlySet<number>): Batch {
  if (tables.size === 0) return batch;
  const changes: BatchChange[] = [];
  let rows = 0;
  for (const change of batch.changes) {
    switch (change.kind) {
      case 'relation': case 'message':
        changes.push(change);
        continue;
      case 'unreadable':
        continue;
      case 'truncate': {
        const kept = change.relationIds.filter((id) => !tables.has(id));
        if (kept.length === 0) continue;
        changes.push(kept.length === change.relationIds.length ? change : { ...change, relationIds: kept });
        break;
      }
      default:
        if (tables.has(change.relationId)) continue;
        changes.push(change);
    }
    rows++;
  }
  return { ...batch, changes, rows };
}
