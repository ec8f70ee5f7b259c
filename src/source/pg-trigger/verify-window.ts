import type { CommonPoint, VerifyWindow } from '../../verify/common-point.js';
import type { TableChanges } from '../../verify/table-changes.js';
import { beginSnapshot, waitForTarget } from '../../verify/target-progress.js';
import { verifySql } from '../../verify/verify-sql.js';
import { readGroups } from '../../target/control-schema.js';
import type { Position } from '../position.js';
import { QueueWindow, type TargetTick } from './queue-window.js';
import { formatTick, parseTxidSnapshot, tickOf, tickPosition } from './ticks.js';

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
 *    snapshot and not in S, in event id order, and fold them per key; a
 *    group inside the batch after T (applied in parts) also holds that
 *    batch's transactions up to its part's key, folded after them.
 *
 * S plus that net effect is the source at T, which the target holds.
 */
export async function atTicks({ config, source, target, tables, groups: before, timeoutSeconds, log, close }: VerifyWindow): Promise<CommonPoint> {
  const names = [...before.keys()];
  const window = await QueueWindow.open(config.source.url, names);
  try {
    const sourceSnapshot = await beginSnapshot(source);
    const from = parseTxidSnapshot((await source.query<{ snapshot: string }>(verifySql.txidSnapshot)).rows[0]?.snapshot ?? '');
    const ticks = await window.tick();
    const goals = new Map([...ticks].map(([group, tick]) => [group, tickPosition(tick)]));
    const shown = (groups: readonly string[]) => groups.map((g) => `${formatTick(ticks.get(g) ?? 0n)} (${g})`).join(', ');
    log.info({ snapshot: from.text, ticks: shown(names) }, 'source snapshot taken; waiting for the target to apply it');
    await waitForTarget(target, before, goals, timeoutSeconds, shown);

    let targetSnapshot = '';
    let positions = new Map<string, Position | null>();
    const upTo = await window.tickSnapshots(async () => {
      targetSnapshot = await beginSnapshot(target);
      const rows = new Map((await readGroups(target)).map((r) => [r.group_name, r]));
      positions = new Map(names.map((n) => [n, rows.get(n)?.position ?? null]));
      const ahead = new Map<string, TargetTick>();
      for (const [name, p] of positions) {
        const goal = goals.get(name);
        if (p !== null && goal !== undefined && p >= goal) ahead.set(name, tickOf(p));
      }
      return ahead;
    });
    const changes = new Map<string, TableChanges>();
    for (const [group, to] of upTo) await window.readChanges(group, from, to.snapshot, tables.filter((t) => t.group === group), changes, to.part);
    return {
      method: 'tick', sourcePosition: `txid snapshot ${from.text}`, sourceSnapshot, targetSnapshot, changes, close,
      groups: [...before].map(([group, g]) => {
        const position = positions.get(group) ?? null;
        const at = position === null ? null : tickOf(position);
        return { group, position: at === null ? null : formatTick(at.tick, at.part), running: g.running, caughtUp: upTo.has(group) };
      }),
    };
  } finally {
    await window.close();
  }
}
