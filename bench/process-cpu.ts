import { readFileSync } from 'node:fs';
import type { Cluster } from '../src/embedded/cluster.js';
import { openSession, type Session } from './session.js';

/**
 * CPU time per process during a catch-up: on two cores the walsender, the
 * replica's process and the target's backend share the machine, so where the
 * CPU goes explains the wall time. Linux only (read from /proc); elsewhere
 * the readings are empty.
 */

/** A server process to account for, found again on each poll (it may start late). */
export interface WatchedProcess {
  readonly role: string;
  readonly cluster: Cluster;
  /** A query returning the process ids (column `pid`) to add up under `role`. */
  readonly pids: string;
}

const CLOCK_TICKS = 100;
const POLL_MS = 50;

/** User + system CPU seconds of `pid` so far, or undefined when it is gone or /proc is not there. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    // Fields after the command (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ');
    return fields ? (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Polls the processes' CPU until `stop`, keeping each one's last reading:
 * a backend that exits (a disabled subscription's walsender) keeps the
 * time it used. Processes must start after the watch does.
 */
export function watchCpu(processes: readonly WatchedProcess[]): { stop(): Promise<Map<string, number>> } {
  const last = new Map<number, { role: string; seconds: number }>();
  const sessions = new Map<Cluster, Promise<Session>>();
  const session = (cluster: Cluster) => {
    let s = sessions.get(cluster);
    if (!s) sessions.set(cluster, s = openSession(cluster));
    return s;
  };
  const poll = async () => {
    for (const p of processes) {
      const res = await session(p.cluster).then((s) => s.query(p.pids)).catch(() => ({ rows: [] }));
      for (const { pid } of res.rows as { pid: number }[]) {
        const seconds = cpuSeconds(pid);
        if (seconds !== undefined) last.set(pid, { role: p.role, seconds });
      }
    }
  };
  let polling = poll();
  const timer = setInterval(() => {
    polling = polling.then(poll);
  }, POLL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await polling;
      await poll();
      await Promise.all([...sessions.values()].map(async (s) => (await s).close()));
      const byRole = new Map<string, number>(processes.map((p) => [p.role, 0]));
      for (const { role, seconds } of last.values()) byRole.set(role, (byRole.get(role) ?? 0) + seconds);
      return byRole;
    },
  };
}

/** This process's CPU seconds since `since` (from process.cpuUsage()). */
export function ownCpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}
