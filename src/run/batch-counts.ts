import type { Batch } from '../apply/batch.js';
import type { RowOp } from '../observe/metrics.js';

/**
 * Rows of a batch per table and operation, for metrics. Tables are named by
 * the source relation descriptions seen on this stream (`names` keeps them
 * across batches); one pass over the changes, no per-row allocation.
 */
export function countRows(batch: Batch, names: Map<number, string>): Map<string, Partial<Record<RowOp, number>>> {
  const out = new Map<string, Partial<Record<RowOp, number>>>();
  let lastId = -1;
  let last: Partial<Record<RowOp, number>> | undefined;
  const bucket = (id: number) => {
    if (id === lastId && last) return last;
    const table = names.get(id) ?? 'unknown';
    let counts = out.get(table);
    if (!counts) out.set(table, counts = {});
    lastId = id;
    last = counts;
    return counts;
  };
  for (const change of batch.changes) {
    switch (change.kind) {
      case 'relation':
        names.set(change.relation.relationId, `${change.relation.schema}.${change.relation.table}`);
        lastId = -1;
        break;
      case 'insert': case 'update': case 'delete': {
        const counts = bucket(change.relationId);
        counts[change.kind] = (counts[change.kind] ?? 0) + 1;
        break;
      }
      case 'truncate':
        for (const id of change.relationIds) {
          const counts = bucket(id);
          counts.truncate = (counts.truncate ?? 0) + 1;
        }
        break;
      default:
        break;
    }
  }
  return out;
}
