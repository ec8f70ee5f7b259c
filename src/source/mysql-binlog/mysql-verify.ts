import mysql from 'mysql2/promise';
import type pg from 'pg';
import type { PlannedChunk } from '../../copy/chunk-plan.js';
import type { FerryConfig } from '../../config/schema.js';
import { inContext } from '../../errors.js';
import type { Logger } from '../../observe/logger.js';
import { connect } from '../../pg/connect.js';
import { verifySql } from '../../verify/verify-sql.js';
import type { VerifyOptions } from '../../verify/verify.js';
import { emptyDiff, type DiffList, type TableReport, type VerifyReport } from '../../verify/verify-report.js';
import { connectionOptions } from './binlog-connection.js';
import type { SnapshotLock } from './consistent-snapshot.js';
import { planMySqlChunks } from './mysql-chunk-plan.js';
import { VerifyWorker, type ChunkResult, type DiffKind } from './mysql-verify-chunk.js';
import { mysqlVerifyPoint } from './mysql-verify-point.js';
import { canRecheck, recheckKeys, RECHECK_MAX_KEYS } from './mysql-verify-recheck.js';
import { mysqlVerifyTables, type MySqlVerifyTable } from './mysql-verify-tables.js';
import { windowChanges } from './mysql-verify-window.js';
import type { TypeMapOptions } from './type-map.js';

/** What verify needs of a MySQL source's settings (`source.mysql`). */
export interface MySqlVerifySettings {
  readonly typeMap: TypeMapOptions;
  readonly schemas: Readonly<Record<string, string>>;
  readonly snapshotLock: SnapshotLock | 'auto';
}

/**
 * `ferry verify` for a MySQL or MariaDB source: the same report, output and
 * exit codes as for a PostgreSQL source (docs/verify.md), compared in
 * PostgreSQL's terms. Each table is cut into the copy's key ranges
 * (mysql-chunk-plan.ts), which `--parallel` workers read from the source's
 * consistent snapshot and copy, through the copy's own value map, into a
 * temporary table on the target, where they are compared key by key with
 * the target's rows in the target's snapshot (mysql-verify-chunk.ts).
 *
 * Comparing while `ferry run` applies the groups, or while a stopped group
 * lags, is made exact up to the keys changed in between
 * (mysql-verify-point.ts): a differing key that a transaction in that
 * binlog window touched is reported as changed while verifying, not as a
 * difference; every other difference is real.
 */
export async function verifyMySql(config: FerryConfig, options: VerifyOptions, log: Logger, settings: MySqlVerifySettings): Promise<VerifyReport> {
  const started = Date.now();
  const workers = Math.max(1, options.parallel);
  const control = await mysql.createConnection(connectionOptions(config.source.url));
  const pgClients: pg.Client[] = [];
  try {
    const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:verify' });
    pgClients.push(target);
    const tables = await mysqlVerifyTables(control, target, config.groups, options.tables, settings.typeMap, settings.schemas);
    // Chunk bounds only split the work: ranges are open at both ends, so rows written after the plan still fall in one.
    const jobs: { table: MySqlVerifyTable; chunk: PlannedChunk }[] = [];
    for (const table of tables) {
      for (const chunk of await planMySqlChunks(control, table.table, config.copy.chunkBytes)) jobs.push({ table, chunk });
    }
    const point = await mysqlVerifyPoint(target, tables, {
      url: config.source.url, workers, lock: settings.snapshotLock, timeoutSeconds: options.timeoutSeconds, log,
    });
    // While groups are applied, every key changed meanwhile is collected (up to the re-check's limit) to be compared again.
    const changedLimit = point.method === 'binlog' ? RECHECK_MAX_KEYS + 1 : options.limit;
    const results = new Map<string, ChunkResult[]>();
    try {
      log.info({ method: point.method, position: point.sourcePosition, tables: tables.length, chunks: jobs.length }, 'comparing');
      const changes = await windowChanges(config.source.url, point.window, tables, settings.typeMap);
      let next = 0;
      await Promise.all(point.snapshot.workers.map(async (w) => {
        const session = await connect(config.target.url, { role: 'target', applicationName: 'ferry:verify' });
        pgClients.push(session);
        await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        await session.query(verifySql.importSnapshot(point.targetSnapshot));
        const worker = new VerifyWorker(w.connection, session, settings.typeMap);
        for (let job = jobs[next++]; job !== undefined; job = jobs[next++]) {
          const { table, chunk } = job;
          try {
            await worker.setWindow(table, changes.get(table.label)?.keys ?? []);
            const result = await worker.compare(table, chunk.plan, options.limit, changedLimit);
            results.set(table.label, [...results.get(table.label) ?? [], result]);
          } catch (err) {
            next = jobs.length;
            throw inContext(err, 'FERRY_VERIFY', { group: table.group, table: table.label });
          }
        }
      }));
    } finally {
      await point.close();
    }
    const rechecked = point.method === 'binlog'
      ? await recheckKeys(tables, pendingKeys(tables, results), {
        url: config.source.url, targetUrl: config.target.url, lock: settings.snapshotLock, typeMap: settings.typeMap,
        limit: options.limit, timeoutSeconds: options.timeoutSeconds, log,
      })
      : new Map<string, ChunkResult>();
    const reports = tables.map((t) => tableReport(t, results.get(t.label) ?? [], rechecked.get(t.label), options.limit));
    for (const r of reports) {
      log.info({ table: r.table, equal: r.equal, missing: r.missing.count, extra: r.extra.count, differing: r.differing.count,
        comparedAgain: r.changesReconciled, notCompared: r.notCompared?.count ?? 0 }, 'table compared');
    }
    return {
      equal: reports.every((r) => r.equal), method: point.method, sourcePosition: point.sourcePosition, groups: point.groups,
      tables: reports, seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await control.end().catch(() => undefined);
    await Promise.all(pgClients.map((c) => c.end().catch(() => undefined)));
  }
}

/** Per table whose keys can be looked up on the source, every key left out as changed meanwhile, unless there are too many. */
function pendingKeys(tables: readonly MySqlVerifyTable[], results: ReadonlyMap<string, readonly ChunkResult[]>): Map<string, string[][]> {
  const out = new Map<string, string[][]>();
  for (const table of tables) {
    const changed = (results.get(table.label) ?? []).map((c) => c.diffs.get('changed')).filter((d) => d !== undefined);
    const count = changed.reduce((a, d) => a + d.count, 0);
    if (count === 0 || count > RECHECK_MAX_KEYS || !canRecheck(table)) continue;
    out.set(table.label, changed.flatMap((d) => d.keys.map((k) => table.key.map((name) => k[name] as string))));
  }
  return out;
}

/**
 * A table's chunks as one report; keys of each kind in chunk order, cut at
 * `limit`. Keys compared again (`again`) take the place of the first
 * pass's keys changed meanwhile.
 */
function tableReport(table: MySqlVerifyTable, chunks: readonly ChunkResult[], again: ChunkResult | undefined, limit: number): TableReport {
  const list = (kind: DiffKind): DiffList => {
    const out = emptyDiff();
    const parts = again ? [...(kind === 'changed' ? [] : chunks), again] : chunks;
    for (const c of parts) {
      const d = c.diffs.get(kind);
      if (!d) continue;
      out.count += d.count;
      out.keys.push(...d.keys.slice(0, Math.max(0, limit - out.keys.length)));
    }
    return out;
  };
  const [missing, extra, differing, notCompared] = [list('missing'), list('extra'), list('differing'), list('changed')];
  return {
    table: table.label, group: table.group, key: table.key, columns: table.columns.map((c) => c.name), skippedColumns: table.skippedColumns,
    equal: missing.count + extra.count + differing.count === 0,
    sourceRows: chunks.reduce((a, c) => a + c.sourceRows, 0), targetRows: chunks.reduce((a, c) => a + c.targetRows, 0),
    missing, extra, differing, notCompared,
    chunks: chunks.length, chunksDrilled: chunks.filter((c) => c.diffs.size > 0).length,
    rowsFetched: chunks.reduce((a, c) => a + c.sourceRows, 0) + (again?.sourceRows ?? 0),
    // Keys changed meanwhile that were compared again (not folded into the source's rows, as a PostgreSQL source's changes are).
    changesReconciled: again ? recheckedCount(chunks) - notCompared.count : 0,
  };
}

function recheckedCount(chunks: readonly ChunkResult[]): number {
  return chunks.reduce((a, c) => a + (c.diffs.get('changed')?.count ?? 0), 0);
}
