import type pg from 'pg';
import { ExitCode, FerryError } from '../errors.js';
import { START, type Position } from '../source/position.js';
import { readGroups, type GroupRow } from '../target/control-schema.js';
import { sql } from '../target/control-sql.js';
import { verifySql } from './verify-sql.js';

/** A compared group as verify found it on the target when it began. */
export interface GroupState { readonly row: GroupRow; readonly running: boolean }

/** Each group's row on the target, and whether a ferry process applies it now; a group still copying or unknown is an error. */
export async function groupStates(target: pg.Client, names: readonly string[]): Promise<Map<string, GroupState>> {
  const rows = new Map((await readGroups(target)).map((r) => [r.group_name, r]));
  const out = new Map<string, GroupState>();
  for (const name of names) {
    const row = rows.get(name);
    if (!row || row.state !== 'streaming' || row.position === null) {
      throw new FerryError('FERRY_VERIFY_NOT_INITIALISED',
        row ? `group ${name} is still in its initial copy` : `group ${name} has not been initialised on the target`,
        'run "ferry init" (again) until it finishes', { exitCode: ExitCode.usage, context: { group: name } });
    }
    const running = (await target.query(sql.groupLockHolder, [name])).rows.length > 0;
    out.set(name, { row, running });
  }
  return out;
}

/** Opens a read-only REPEATABLE READ transaction (on `snapshot`, if given) and exports its snapshot for other connections. */
export async function beginSnapshot(client: pg.Client, snapshot?: string): Promise<string> {
  await client.query(verifySql.beginSnapshot);
  if (snapshot) await client.query(verifySql.importSnapshot(snapshot));
  return (await client.query<{ snapshot: string }>(verifySql.exportSnapshot)).rows[0]?.snapshot as string;
}

/** The groups' positions as stored on the target. */
export async function positionsIn(target: pg.Client, names: Iterable<string>): Promise<Map<string, Position | null>> {
  const rows = new Map((await readGroups(target)).map((r) => [r.group_name, r.position]));
  return new Map([...names].map((n) => [n, rows.get(n) ?? null]));
}

/**
 * Waits until every group a ferry process is applying has reached its goal
 * (a position at or past `goals`); groups that stop being applied are not
 * waited for. `shown` names the pending groups' goals in the timeout error.
 */
export async function waitForTarget(
  target: pg.Client, groups: ReadonlyMap<string, GroupState>, goals: ReadonlyMap<string, Position>, timeoutSeconds: number,
  shown: (pending: readonly string[]) => string,
): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const positions = await positionsIn(target, groups.keys());
    const pending: string[] = [];
    for (const [name, g] of groups) {
      const p = positions.get(name);
      if (!g.running || (p != null && p >= (goals.get(name) ?? START))) continue;
      if ((await target.query(sql.groupLockHolder, [name])).rows.length > 0) pending.push(name);
    }
    if (pending.length === 0) return;
    if (Date.now() >= deadline) {
      throw new FerryError('FERRY_VERIFY_TIMEOUT', `groups ${pending.join(', ')} have not applied ${shown(pending)} within ${timeoutSeconds} s`,
        'check "ferry status"; give verify more time with --timeout', { exitCode: ExitCode.usage });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
