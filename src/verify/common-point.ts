import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { captureOf, type Capture } from '../source/capture.js';
import type { TableChanges } from './table-changes.js';
import { beginSnapshot, groupStates, positionsIn, type GroupState } from './target-progress.js';
import { verifySql } from './verify-sql.js';
import type { VerifyTable } from './verify-tables.js';

export interface GroupPoint {
  readonly group: string;
  /** The group's position in the target snapshot, as its capture shows it: everything the source committed up to here is in it. */
  readonly position: string | null;
  /** A ferry process was applying the group when verify started. */
  readonly running: boolean;
  /** The target snapshot holds all the source snapshot holds; null when unknown (nothing was applying the group). */
  readonly caughtUp: boolean | null;
}

/**
 * A source snapshot and a target snapshot that can be compared exactly:
 * the source's rows plus `changes` (per table label) are the source's rows
 * at each group's target position.
 */
export interface CommonPoint {
  /** `snapshot`: nothing applied the groups; else the capture's window (`slot`, `tick`): compared while they were applied. */
  readonly method: string;
  /** Where the source snapshot stands, as the capture says it (a WAL position, a transaction snapshot). */
  readonly sourcePosition: string;
  readonly groups: readonly GroupPoint[];
  readonly sourceSnapshot: string;
  readonly targetSnapshot: string;
  readonly changes: ReadonlyMap<string, TableChanges>;
  /** Ends the transactions that keep both snapshots alive. */
  close(): Promise<void>;
}

/** What a capture's verify window works with (see Capture.verifyWindow). */
export interface VerifyWindow {
  readonly config: FerryConfig;
  /** Takes the source snapshot, in a transaction that lives until `close`. */
  readonly source: pg.Client;
  /** Takes the target snapshot, likewise. */
  readonly target: pg.Client;
  readonly tables: readonly VerifyTable[];
  /** The compared groups as verify found them on the target. */
  readonly groups: ReadonlyMap<string, GroupState>;
  readonly timeoutSeconds: number;
  readonly log: Logger;
  /** Ends both transactions and connections: the returned point's `close`. */
  readonly close: () => Promise<void>;
}

/**
 * Finds a point where source and target can be compared without lag showing
 * up as a difference (see docs/verify.md).
 *
 * When no ferry process applies the compared groups, the target stands still:
 * plain snapshots of both sides are compared, and if a group's position moved
 * meanwhile (a `ferry run` started) the capture's window is used instead.
 *
 * Otherwise the groups' capture gives a source snapshot, waits until every
 * running group has applied past it, takes the target snapshot, and reads
 * the changes committed in between, which the target holds and the source
 * snapshot does not (a temporary slot with WAL capture, ticks with trigger
 * capture).
 */
export async function establishCommonPoint(
  config: FerryConfig, tables: readonly VerifyTable[], options: { readonly timeoutSeconds: number; readonly log: Logger },
): Promise<CommonPoint> {
  const capture = captureOf(config.source.capture);
  const names = [...new Set(tables.map((t) => t.group))];
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:verify' });
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:verify' }).catch(async (err: unknown) => {
    await source.end().catch(() => undefined);
    throw err;
  });
  const close = async () => {
    await Promise.all([source.end().catch(() => undefined), target.end().catch(() => undefined)]);
  };
  try {
    const groups = await groupStates(target, names);
    if (![...groups.values()].some((g) => g.running)) {
      const point = await atSnapshots(capture, source, target, groups, close);
      if (point) return point;
      options.log.info('a group was applied while verify began; comparing at a point of its stream instead');
    }
    return await capture.verifyWindow({ config, source, target, tables, groups, timeoutSeconds: options.timeoutSeconds, log: options.log, close });
  } catch (err) {
    await close();
    throw err;
  }
}

async function atSnapshots(
  capture: Capture, source: pg.Client, target: pg.Client, groups: ReadonlyMap<string, GroupState>, close: () => Promise<void>,
): Promise<CommonPoint | undefined> {
  const sourceSnapshot = await beginSnapshot(source);
  const sourcePosition = await capture.sourcePoint(source);
  const targetSnapshot = await beginSnapshot(target);
  const positions = await positionsIn(target, groups.keys());
  // Unchanged positions: nothing was applied between the two reads, so all
  // the target holds was committed on the source before its snapshot.
  if ([...groups].some(([name, g]) => positions.get(name) !== g.row.position)) {
    await Promise.all([source.query(verifySql.rollback), target.query(verifySql.rollback)]);
    return undefined;
  }
  return {
    method: 'snapshot', sourcePosition, sourceSnapshot, targetSnapshot, changes: new Map(), close,
    groups: [...groups].map(([group, g]) => ({
      group, position: g.row.position === null ? null : capture.formatPosition(g.row.position), running: false, caughtUp: null,
    })),
  };
}
