import type { FerryConfig, TableRef } from '../config/schema.js';
import { ExitCode, FerryError, inContext } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { establishCommonPoint } from './common-point.js';
import { SnapshotPool } from './snapshot-pool.js';
import { compareTable, type CompareContext } from './table-compare.js';
import type { VerifyReport } from './verify-report.js';
import { verifySql } from './verify-sql.js';
import { verifyTables, type VerifyTable } from './verify-tables.js';

export interface VerifyOptions {
  /** Only these tables (of the configured groups); all when absent. */
  readonly tables?: readonly TableRef[];
  /** Keys (or rows) to list per kind of difference. */
  readonly limit: number;
  /** Connections per side. */
  readonly parallel: number;
  /** How long to wait for running groups to apply the source snapshot. */
  readonly timeoutSeconds: number;
}

/**
 * `ferry verify`: compares every replicated table (or the chosen ones) on
 * source and target at a common point, so that replication lag is never
 * reported as a difference, and lists per table the rows missing on the
 * target, extra there, and differing.
 */
export async function verify(config: FerryConfig, options: VerifyOptions, log: Logger): Promise<VerifyReport> {
  const started = Date.now();
  const { tables, sourceVersion, targetVersion } = await describeTables(config, options.tables);
  const point = await establishCommonPoint(config, tables, { timeoutSeconds: options.timeoutSeconds, log });
  try {
    log.info({ method: point.method, position: point.sourcePosition, tables: tables.length }, 'comparing');
    const pools = await Promise.allSettled([
      SnapshotPool.open(config.source.url, 'source', point.sourceSnapshot, options.parallel),
      SnapshotPool.open(config.target.url, 'target', point.targetSnapshot, options.parallel),
    ]);
    try {
      const [source, target] = pools.map((p) => {
        if (p.status === 'rejected') throw p.reason;
        return p.value;
      }) as [SnapshotPool, SnapshotPool];
      const ctx: CompareContext = { source, target, sourceVersion, targetVersion, limit: options.limit };
      const reports = await Promise.all(tables.map(async (table) => {
        try {
          const report = await compareTable(table, ctx, point.changes.get(table.label));
          log.info({ table: table.label, equal: report.equal, missing: report.missing.count, extra: report.extra.count,
            differing: report.differing.count, rowsFetched: report.rowsFetched }, 'table compared');
          return report;
        } catch (err) {
          throw inContext(err, 'FERRY_VERIFY', { group: table.group, table: table.label });
        }
      }));
      return {
        equal: reports.every((r) => r.equal), method: point.method, sourcePosition: point.sourcePosition, groups: point.groups,
        tables: reports, seconds: (Date.now() - started) / 1000,
      };
    } finally {
      await Promise.all(pools.map((p) => (p.status === 'fulfilled' ? p.value.close() : undefined)));
    }
  } finally {
    await point.close();
  }
}

async function describeTables(config: FerryConfig, selection: readonly TableRef[] | undefined) {
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:verify' });
  try {
    const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:verify' });
    try {
      const version = async (c: typeof source) => (await c.query<{ version: number }>(verifySql.serverVersion)).rows[0]?.version ?? 0;
      const tables: VerifyTable[] = await verifyTables(config, source, target, selection);
      return { tables, sourceVersion: await version(source), targetVersion: await version(target) };
    } finally {
      await target.end().catch(() => undefined);
    }
  } finally {
    await source.end().catch(() => undefined);
  }
}

/**
 * verify answers 1 for "they differ", so every error, whatever its usual
 * code, exits 2: a script can tell a difference from a failure to compare.
 */
export function asVerifyError(err: unknown): FerryError {
  const e = err instanceof FerryError ? err : inContext(err, 'FERRY_VERIFY', {});
  if (e.exitCode === ExitCode.usage) return e;
  return new FerryError(e.code, e.message, e.hint, { exitCode: ExitCode.usage, context: e.context, cause: e.cause });
}
