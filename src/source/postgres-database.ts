import { removePgGroups } from '../init/drop.js';
import { initGroups } from '../init/init.js';
import { addNewTablesPeriodically } from '../run/new-tables.js';
import { syncSequencesPeriodically } from '../sequences/sync-sequences.js';
import { verify } from '../verify/verify.js';
import type { SourceDatabase } from './source-database.js';

/** A PostgreSQL source (capture wal or trigger). */
export const postgresDatabase: SourceDatabase = {
  init: initGroups,
  removeGroups: removePgGroups,
  verify,
  besideRun: (config, log, signal) => [
    // Sequence values are not in the change stream: copy them (with headroom) until the run ends.
    { done: syncSequencesPeriodically(config, log, signal), waitOnStop: true },
    // Tables created on the source that match a group's pattern join it without a restart.
    { done: addNewTablesPeriodically(config, log, signal), waitOnStop: false },
  ],
};
