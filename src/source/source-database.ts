import { isMySqlUrl, type FerryConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import type { InitSummary } from '../init/init.js';
import type { VerifyOptions } from '../verify/verify.js';
import type { VerifyReport } from '../verify/verify-report.js';
import { mysqlDatabase } from './mysql-binlog/mysql-database.js';
import { postgresDatabase } from './postgres-database.js';

/**
 * The commands whose work depends on the kind of source database, as one
 * object per kind (PostgreSQL, MySQL/MariaDB), like a SQL builder's dialect:
 * the CLI asks `sourceDatabaseOf(config)` and never which kind it is. What
 * every kind shares (the target, the apply engine, run, status, wait) goes
 * through the capture method's StreamSource instead.
 */
export interface SourceDatabase {
  /** `ferry init`: prerequisites, each group's capture, target tables, the initial copy, the group's start position. */
  init(config: FerryConfig, log: Logger): Promise<InitSummary[]>;
  /** `ferry drop`'s source side: what Ferry created on the source for the configured groups. Safe to repeat. */
  removeGroups(config: FerryConfig, log: Logger): Promise<void>;
  /** `ferry verify`. */
  verify(config: FerryConfig, options: VerifyOptions, log: Logger): Promise<VerifyReport>;
  /** What `ferry run` keeps doing beside the groups' streams until `signal` aborts (sequence values, tables that join by pattern). */
  besideRun(config: FerryConfig, log: Logger, signal: AbortSignal): readonly BesideRun[];
}

export interface BesideRun {
  readonly done: Promise<unknown>;
  /** Whether a stopping run waits for it (a table copy in progress is not waited for: it resumes with the next run). */
  readonly waitOnStop: boolean;
}

export function sourceDatabaseOf(config: FerryConfig): SourceDatabase {
  return isMySqlUrl(config.source.url) ? mysqlDatabase : postgresDatabase;
}
