import type pg from 'pg';
import type { Logger } from '../../observe/logger.js';
import type { GroupPoint } from '../../verify/common-point.js';
import { beginSnapshot, groupStates, positionsIn, waitForTarget } from '../../verify/target-progress.js';
import type { Position } from '../position.js';
import { binlogBaseName, binlogPosition, formatBinlogPosition } from './binlog-stream-position.js';
import { openConsistentSnapshot, type ConsistentSnapshot, type SnapshotLock } from './consistent-snapshot.js';
import type { MySqlVerifyTable } from './mysql-verify-tables.js';

/**
 * Where a MySQL source and the target are compared. The source is read in a
 * consistent snapshot (one InnoDB read view per worker) whose rows hold
 * exactly the transactions ending at or before the worker's binlog place;
 * on MariaDB without a lock each worker has its own place, so there is a
 * lowest and a highest one. The target is read in one REPEATABLE READ
 * snapshot, in which each group's position Q says which source
 * transactions its tables hold (the applier writes rows and position in one
 * transaction).
 *
 * A group a `ferry run` applies is waited for until Q reaches the highest
 * source place, so the two sides differ only by what was committed between
 * them; a group nothing applies stands still, possibly behind. Either way a
 * row can legitimately differ only if a transaction in the binlog between
 * the lowest and the highest of all these places changed it: `window` is
 * that stretch, and the keys it changed are the only ones whose difference
 * is not a real one (mysql-verify-window.ts reads them).
 */
export interface MySqlVerifyPoint {
  readonly method: 'snapshot' | 'binlog';
  readonly sourcePosition: string;
  readonly groups: readonly GroupPoint[];
  readonly snapshot: ConsistentSnapshot;
  /** Exported from `target`'s transaction, for the workers' target connections. */
  readonly targetSnapshot: string;
  /** `[from, to)`: binlog events starting in it may have changed rows one side shows and the other does not. */
  readonly window: { readonly from: Position; readonly to: Position; readonly baseName: string };
  close(): Promise<void>;
}

export interface PointOptions {
  readonly url: string;
  readonly workers: number;
  readonly lock: SnapshotLock | 'auto';
  readonly timeoutSeconds: number;
  readonly log: Logger;
}

/** `target` is the caller's connection; its snapshot transaction lives until `close` (which ends the source snapshot, not `target`). */
export async function mysqlVerifyPoint(target: pg.Client, tables: readonly MySqlVerifyTable[], options: PointOptions): Promise<MySqlVerifyPoint> {
  const names = [...new Set(tables.map((t) => t.group))];
  const states = await groupStates(target, names);
  const snapshot = await openConsistentSnapshot(options.url, {
    workers: options.workers, lock: options.lock,
    tables: tables.map((t) => ({ database: t.table.source.database, name: t.table.source.name })),
  });
  try {
    const places = snapshot.workers.map((w) => binlogPosition(w.position.file));
    const lowest = places.reduce((a, b) => (b < a ? b : a));
    const highest = places.reduce((a, b) => (b > a ? b : a));
    const running = [...states.values()].some((g) => g.running);
    if (running) {
      options.log.info({ position: formatBinlogPosition(highest) }, 'waiting for the running groups to apply the source snapshot');
      await waitForTarget(target, states, new Map(names.map((n) => [n, highest])), options.timeoutSeconds,
        () => `the source snapshot's binlog place ${formatBinlogPosition(highest)}`);
    }
    const targetSnapshot = await beginSnapshot(target);
    const positions = await positionsIn(target, names);
    let from = lowest;
    let to = highest;
    for (const q of positions.values()) {
      if (q === null) continue;
      if (q < from) from = q;
      if (q > to) to = q;
    }
    const sourcePosition = lowest === highest ? formatBinlogPosition(lowest)
      : `${formatBinlogPosition(lowest)} … ${formatBinlogPosition(highest)}`;
    return {
      method: running ? 'binlog' : 'snapshot', sourcePosition, snapshot, targetSnapshot,
      window: { from, to, baseName: binlogBaseName(snapshot.workers[0]?.position.file.file ?? '') },
      groups: names.map((group) => {
        const q = positions.get(group) ?? null;
        return { group, position: q === null ? null : formatBinlogPosition(q), running: states.get(group)?.running ?? false, caughtUp: q === null ? null : q >= highest };
      }),
      close: () => snapshot.close(),
    };
  } catch (err) {
    await snapshot.close();
    throw err;
  }
}
