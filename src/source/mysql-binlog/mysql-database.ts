import { mysqlConfig } from '../../config/schema.js';
import type { SourceDatabase } from '../source-database.js';
import { initBinlogGroups } from './binlog-init.js';
import { verifyMySql } from './mysql-verify.js';

/** A MySQL or MariaDB source (capture binlog). */
export const mysqlDatabase: SourceDatabase = {
  init: initBinlogGroups,
  // Nothing of Ferry's lives on a MySQL source: each group's position is on the target.
  removeGroups: async (config, log) => {
    log.info({ groups: config.groups.map((g) => g.name) }, 'nothing to remove on the MySQL source: a binlog reader leaves nothing there');
  },
  verify: (config, options, log) => verifyMySql(config, options, log, mysqlConfig(config)),
  // Sequences are PostgreSQL's, and tables join a MySQL group only through "ferry init".
  besideRun: () => [],
};
