import type pg from 'pg';
import type { Logger } from '../observe/logger.js';
import { formatTick, parseTxidSnapshot } from '../source/pg-trigger/ticks.js';
import { parseLsn } from '../source/pg-wal/lsn.js';
import type { CommonPoint } from './common-point.js';
import { QueueWindow } from './queue-window.js';
import type { TableChanges } from './table-changes.js';
import { beginSnapshot, positionsIn, shownPosition, waitForTarget, type GroupState } from './target-progress.js';
import { verifySql } from './verify-sql.js';
import type { VerifyTable } from './verify-tables.js';

/**
 * The common point of trigger capture while groups are applied (see
 * docs/verify.md). A trigger group at tick T on the target holds exactly the
 * source transactions visible in tick T's snapshot. So:
 *
 * 1. lock the groups' queues (no queue table is emptied until step 5);
 * 2. take the source snapshot S;
 * 3. add a tick K to each queue: its snapshot, taken after S, shows all S
 *    shows, and every running group applies it;
 * 4. wait until each running group stands at T ≥ K on the target, and take
 *    the target snapshot (reading the snapshots of the ticks T with
 *    acknowledgements held, so none is forgotten meanwhile);
 * 5. read from each queue the events of the transactions visible in T's
 *    snapshot and not in S, in event id order, and fold them per key.
 *
 * S plus that net effect is the source at T, which the target holds.
 */
export async function atTicks(
  url: string, source: pg.Client, target: pg.Client, tables: readonly VerifyTable[], before: ReadonlyMap<string, GroupState>,
  options: { readonly timeoutSeconds: number; readonly log: Logger }, close: () => Promise<void>,
): Promise<CommonPoint> {
  const names = [...before.keys()];
  const window = await QueueWindow.open(url, names);
  try {
    const sourceSnapshot = await beginSnapshot(source);
    const from = parseTxidSnapshot((await source.query<{ snapshot: string }>(verifySql.txidSnapshot)).rows[0]?.snapshot ?? '');
    const goals = await window.tick();
    const shown = (groups: readonly string[]) => groups.map((g) => `${formatTick(goals.get(g) ?? 0n)} (${g})`).join(', ');
    options.log.info({ snapshot: from.text, ticks: shown(names) }, 'source snapshot taken; waiting for the target to apply it');
    await waitForTarget(target, before, goals, options.timeoutSeconds, shown);

    let targetSnapshot = '';
    let positions = new Map<string, string | null>();
    const upTo = await window.tickSnapshots(async () => {
      targetSnapshot = await beginSnapshot(target);
      positions = await positionsIn(target, names);
      const ahead = new Map<string, bigint>();
      for (const [name, p] of positions) if (p !== null && parseLsn(p) >= (goals.get(name) ?? 0n)) ahead.set(name, parseLsn(p));
      return ahead;
    });
    const changes = new Map<string, TableChanges>();
    for (const [group, to] of upTo) await window.readChanges(group, from, to, tables.filter((t) => t.group === group), changes);
    return {
      method: 'tick', sourcePosition: `txid snapshot ${from.text}`, sourceSnapshot, targetSnapshot, changes, close,
      groups: [...before].map(([group, g]) => {
        const position = positions.get(group) ?? null;
        return { group, position: shownPosition(position, true), running: g.running, caughtUp: upTo.has(group) };
      }),
    };
  } finally {
    await window.close();
  }
}
