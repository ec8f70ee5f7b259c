import { mysqlConfig } from '../../config/schema.js';
import type { SourceDatabase } from '../source-database.js';

/**
 * A MySQL or MariaDB source (capture binlog). Its modules load on first
 * use, as the binlog source's do (see binlog-source.ts).
 */
export const mysqlDatabase: SourceDatabase = {
  init: async (config, log) => (await import('./binlog-init.js')).initBinlogGroups(config, log),
  // Nothing of Ferry's lives on a MySQL source: each group's position is on the target.
  removeGroups: async (config, log) => {
    log.info({ groups: config.groups.map((g) => g.name) }, 'nothing to remove on the MySQL source: a binlog reader leaves nothing there');
  },
  verify: async (config, options, log) => (await import('./mysql-verify.js')).verifyMySql(config, options, log, mysqlConfig(config)),
  // Sequences are PostgreSQL's, and tables join a MySQL group only through "ferry init".
  besideRun: () => [],
};
