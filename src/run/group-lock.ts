import type pg from 'pg';
import { FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { sql } from '../target/control-sql.js';

/** A target backend, named so that a reused pid is never mistaken for it. */
export interface Backend {
  readonly pid: number;
  readonly backendStart: string;
}

/** How long to wait for an ended backend of our own to let go of the lock. */
const ORPHAN_RELEASE_MS = 10_000;

export async function ownBackend(target: pg.Client): Promise<Backend | undefined> {
  const row = (await target.query<{ pid: number; backend_start: string }>(sql.ownBackend)).rows[0];
  return row ? { pid: row.pid, backendStart: row.backend_start } : undefined;
}

/**
 * Takes the group's lock on the target. When this process lost a previous
 * connection, the server may not know yet (a cut network, a connection dropped
 * mid-statement): that backend still holds the lock, and the rows of its open
 * transaction. It is ours, so it is ended and the lock taken over. Any other
 * holder is another ferry process, and we step back.
 */
export async function lockGroup(target: pg.Client, group: string, ours: readonly Backend[], log: Logger): Promise<void> {
  for (const deadline = Date.now() + ORPHAN_RELEASE_MS; ;) {
    if (await tryLock(target, group)) return;
    const holder = await lockHolder(target, group);
    if (holder !== undefined || Date.now() >= deadline) {
      const orphan = ours.find((b) => b.pid === holder?.pid);
      if (!orphan || Date.now() >= deadline) {
        throw new FerryError('FERRY_GROUP_LOCKED',
          `group ${group} is already being applied by another ferry process${holder ? ` (target backend pid ${holder.pid}${holder.client_addr ? ` from ${holder.client_addr}` : ''})` : ''}`,
          'stop the other "ferry run" first; only one process may apply a group', { context: { group } });
      }
      const ended = (await target.query<{ ended: boolean }>(sql.terminateBackend, [orphan.pid, orphan.backendStart])).rows[0]?.ended;
      if (ended) log.warn({ pid: orphan.pid }, 'ended the target connection this process lost, which still held the group');
    }
    // Ended, or released between the two queries: try again shortly.
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function tryLock(target: pg.Client, group: string): Promise<boolean> {
  return (await target.query<{ locked: boolean }>(sql.tryLockGroup, [group])).rows[0]?.locked === true;
}

async function lockHolder(target: pg.Client, group: string) {
  return (await target.query<{ pid: number; client_addr: string | null }>(sql.groupLockHolder, [group])).rows[0];
}
