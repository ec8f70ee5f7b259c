import type pg from 'pg';
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

/** How often a group that another live process applies is tried again. */
const TAKEOVER_POLL_MS = 500;

/**
 * Takes the group's lock on the target; false if `signal` aborted first.
 * When this process lost a previous connection, the server may not know yet
 * (a cut network, a connection dropped mid-statement): that backend still
 * holds the lock, and the rows of its open transaction. It is ours, so it is
 * ended and the lock taken over. Any other holder is another ferry process:
 * the group is waited for and taken over the moment that process lets go (a
 * restart racing a process still shutting down, or a second process started
 * by mistake). Waiting is not an error of the group.
 */
export async function lockGroup(target: pg.Client, group: string, ours: readonly Backend[], log: Logger, signal: AbortSignal): Promise<boolean> {
  const orphanDeadline = Date.now() + ORPHAN_RELEASE_MS;
  let waitingFor: number | undefined;
  while (!signal.aborted) {
    if (await tryLock(target, group)) {
      if (waitingFor !== undefined) log.info({ previousOwnerPid: waitingFor }, 'took over the group: the other ferry process let go of it');
      return true;
    }
    const holder = await lockHolder(target, group);
    const orphan = ours.find((b) => b.pid === holder?.pid);
    if (orphan && Date.now() < orphanDeadline) {
      const ended = (await target.query<{ ended: boolean }>(sql.terminateBackend, [orphan.pid, orphan.backendStart])).rows[0]?.ended;
      if (ended) log.warn({ pid: orphan.pid }, 'ended the target connection this process lost, which still held the group');
    } else if (holder !== undefined && holder.pid !== waitingFor) {
      waitingFor = holder.pid;
      log.info({ ownerPid: holder.pid, ownerAddress: holder.client_addr ?? 'local', ownerApplication: holder.application_name },
        'another ferry process is applying this group; waiting to take it over when it stops');
    }
    // Ended, released between the two queries, or held by another process: try again shortly.
    await pause(TAKEOVER_POLL_MS, signal);
  }
  return false;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

async function tryLock(target: pg.Client, group: string): Promise<boolean> {
  return (await target.query<{ locked: boolean }>(sql.tryLockGroup, [group])).rows[0]?.locked === true;
}

async function lockHolder(target: pg.Client, group: string) {
  return (await target.query<{ pid: number; client_addr: string | null; application_name: string | null }>(sql.groupLockHolder, [group])).rows[0];
}
