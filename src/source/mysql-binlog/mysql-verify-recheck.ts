import type pg from 'pg';
import type { Logger } from '../../observe/logger.js';
import { connect } from '../../pg/connect.js';
import { verifySql } from '../../verify/verify-sql.js';
import { VerifyWorker, type ChunkResult } from './mysql-verify-chunk.js';
import { mysqlVerifyPoint } from './mysql-verify-point.js';
import type { MySqlVerifyTable } from './mysql-verify-tables.js';
import { windowChanges } from './mysql-verify-window.js';
import { mysqlQuote } from './mysql-names.js';
import type { SnapshotLock } from './consistent-snapshot.js';
import type { TypeMapOptions } from './type-map.js';

/** Keys per table compared again at most; a table with more keeps them as not compared. */
export const RECHECK_MAX_KEYS = 10_000;

/**
 * Key kinds whose PostgreSQL input text is also the MySQL literal of the
 * same value, so the source's rows can be looked up by the keys the target
 * reports. Other keys (binary, bit, TIMESTAMP with its offset …) stay not
 * compared.
 */
const LOOKUP_KINDS = new Set(['integer', 'numeric', 'text', 'date', 'datetime', 'uuid']);

export function canRecheck(table: MySqlVerifyTable): boolean {
  return table.key.every((k) => {
    const column = table.table.target.columns.find((c) => c.name === k);
    return column !== undefined && LOOKUP_KINDS.has(column.kind);
  });
}

export interface RecheckOptions {
  readonly url: string;
  readonly targetUrl: string;
  readonly lock: SnapshotLock | 'auto';
  readonly typeMap: TypeMapOptions;
  readonly limit: number;
  readonly timeoutSeconds: number;
  readonly log: Logger;
}

/**
 * The keys a comparison left out because the source changed them while it
 * ran, compared once more at a new common point, after the running groups
 * have applied those changes: a new source snapshot S2, the wait until the
 * groups pass it, a new target snapshot, and the new window's keys
 * (mysql-verify-point.ts). A key that differs again and was not changed in
 * the new window is a real difference; one changed again stays not
 * compared. Worth it only while groups are applied: a group nothing applies
 * has not moved.
 */
export async function recheckKeys(tables: readonly MySqlVerifyTable[], pending: ReadonlyMap<string, readonly (readonly (string | null)[])[]>,
  options: RecheckOptions): Promise<Map<string, ChunkResult>> {
  const out = new Map<string, ChunkResult>();
  const chosen = tables.filter((t) => (pending.get(t.label)?.length ?? 0) > 0);
  if (chosen.length === 0) return out;
  const clients: pg.Client[] = [];
  try {
    const target = await connect(options.targetUrl, { role: 'target', applicationName: 'ferry:verify' });
    clients.push(target);
    const point = await mysqlVerifyPoint(target, chosen, {
      url: options.url, workers: 1, lock: options.lock, timeoutSeconds: options.timeoutSeconds, log: options.log,
    });
    try {
      options.log.info({ position: point.sourcePosition, tables: chosen.length }, 'comparing the rows changed meanwhile again');
      const changes = await windowChanges(options.url, point.window, chosen, options.typeMap);
      const session = await connect(options.targetUrl, { role: 'target', applicationName: 'ferry:verify' });
      clients.push(session);
      await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await session.query(verifySql.importSnapshot(point.targetSnapshot));
      const source = point.snapshot.workers[0]?.connection;
      if (!source) return out;
      const worker = new VerifyWorker(source, session, options.typeMap);
      for (const table of chosen) {
        const keys = pending.get(table.label) ?? [];
        await worker.setWindow(table, changes.get(table.label)?.keys ?? []);
        const names = table.key.map(mysqlQuote).join(', ');
        const values = keys.map((k) => `(${k.map((v) => source.escape(v)).join(', ')})`).join(', ');
        out.set(table.label, await worker.compareKeys(table, keys, `(${names}) IN (${values})`, options.limit));
      }
      return out;
    } finally {
      await point.close();
    }
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}
