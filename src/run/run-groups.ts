import type { FerryConfig } from '../config/schema.js';
import type { FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { syncSequencesPeriodically } from '../sequences/sync-sequences.js';
import { runGroup } from './group-runner.js';
import { addNewTablesPeriodically } from './new-tables.js';

/**
 * `ferry run`: every group streams in parallel until `signal` aborts. A group
 * that fails permanently stops alone; the others go on. Resolves with the
 * errors of the groups that failed.
 */
export async function runGroups(config: FerryConfig, log: Logger, signal: AbortSignal): Promise<FerryError[]> {
  // Sequence values are not in the change stream: copy them (with headroom) until the run ends.
  const groupsDone = new AbortController();
  const sequences = syncSequencesPeriodically(config, log, AbortSignal.any([signal, groupsDone.signal]));
  // Tables created on the source that match a group's pattern join it without a restart.
  const tables = addNewTablesPeriodically(config, log, AbortSignal.any([signal, groupsDone.signal]));
  try {
    const outcomes = await Promise.all(config.groups.map((group) => runGroup(config, group, log, signal)));
    return outcomes.flatMap((o) => (o.error ? [o.error] : []));
  } finally {
    groupsDone.abort();
    await sequences;
    // A table still being copied in is not waited for: its copy resumes with the next "ferry run" or "ferry init".
    if (!signal.aborted) await tables;
  }
}
