import { FerryError } from '../../errors.js';
import type { SourceDatabase } from '../source-database.js';
import { initBinlogGroups } from './binlog-init.js';

/** A MySQL or MariaDB source (capture binlog). */
export const mysqlDatabase: SourceDatabase = {
  init: initBinlogGroups,
  // Nothing of Ferry's lives on a MySQL source: each group's position is on the target.
  removeGroups: async (config, log) => {
    log.info({ groups: config.groups.map((g) => g.name) }, 'nothing to remove on the MySQL source: a binlog reader leaves nothing there');
  },
  verify: async () => {
    throw new FerryError('FERRY_SOURCE_UNSUPPORTED', 'ferry verify does not compare a MySQL source yet', 'see docs/mysql.md', { exitCode: 2 });
  },
  // Sequences are PostgreSQL's, and tables join a MySQL group only through "ferry init".
  besideRun: () => [],
};
