import type { FerryConfig } from '../config/schema.js';
import type { FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { startObserveServer, type ObserveServer } from '../observe/http-server.js';
import { FerryMetrics } from '../observe/metrics.js';
import { Monitor } from '../observe/monitor.js';
import { sourceDatabaseOf } from '../source/source-database.js';
import { runGroup } from './group-runner.js';

export interface RunOptions {
  /** Called with the dashboard's URL once the endpoint (observe.listen) is serving. */
  readonly onListening?: (url: string) => void;
}

/**
 * `ferry run`: every group streams in parallel until `signal` aborts. A group
 * that fails permanently stops alone; the others go on. Resolves with the
 * errors of the groups that failed. Meanwhile the groups' status is watched
 * for warnings and, with observe.listen, served over HTTP.
 */
export async function runGroups(config: FerryConfig, log: Logger, signal: AbortSignal, options: RunOptions = {}): Promise<FerryError[]> {
  const metrics = new FerryMetrics();
  const monitor = new Monitor(config, log, metrics);
  // The endpoint first: an address in use is a usage error before anything streams.
  const server: ObserveServer | undefined = config.observe.listen === undefined ? undefined : await startObserveServer(config.observe.listen, monitor, log);
  if (server) options.onListening?.(server.url);
  const groupsDone = new AbortController();
  const until = AbortSignal.any([signal, groupsDone.signal]);
  const beside = sourceDatabaseOf(config).besideRun(config, log, until);
  const watching = monitor.run(until);
  try {
    const outcomes = await Promise.all(config.groups.map((group) => runGroup(config, group, log, signal, metrics)));
    return outcomes.flatMap((o) => (o.error ? [o.error] : []));
  } finally {
    groupsDone.abort();
    await watching;
    await server?.close();
    await Promise.all(beside.filter((task) => task.waitOnStop || !signal.aborted).map((task) => task.done));
  }
}
