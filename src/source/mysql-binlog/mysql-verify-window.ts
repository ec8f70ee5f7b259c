import { FerryError } from '../../errors.js';
import type { Position } from '../position.js';
import type { Tuple } from '../../change/change.js';
import type { SourceEvent } from '../source.js';
import { BinlogChanges } from './binlog-changes.js';
import { BinlogStream } from './binlog-stream.js';
import { binlogPosition, filePositionOf, formatBinlogPosition } from './binlog-stream-position.js';
import type { MySqlVerifyTable } from './mysql-verify-tables.js';
import type { TypeMapOptions } from './type-map.js';

/** The keys of one table that changed in the window, as PostgreSQL input text of the key columns, and how many row changes there were. */
export interface WindowChanges {
  readonly keys: (string | null)[][];
  changes: number;
}

/**
 * Keys held in memory (and sent to the target) at most: a window this busy
 * is a group far behind, where verify would leave most rows uncompared
 * anyway.
 */
const MAX_KEYS = 1_000_000;

/**
 * Reads the binlog from `from` to `to` (a window of mysql-verify-point.ts)
 * through BinlogChanges, the decoding `ferry run` streams with, and
 * collects per compared table every key a change in it inserted, updated
 * (old and new key: a key can change) or deleted, as the PostgreSQL input
 * text the stream writes. A schema change of a compared table in the window
 * stops verify as it stops the stream (FERRY_SCHEMA_CHANGED); so does a
 * TRUNCATE, whose rows no key names. The dump is non-blocking: it ends at
 * the binlog's current end if `to` is there.
 */
export async function windowChanges(url: string, window: { readonly from: Position; readonly to: Position; readonly baseName: string },
  tables: readonly MySqlVerifyTable[], typeMap: TypeMapOptions): Promise<Map<string, WindowChanges>> {
  const out = new Map<string, WindowChanges>();
  if (window.from >= window.to) return out;
  const byRelation = new Map(tables.map((t) => [t.table.relationId, t]));
  const changes = new BinlogChanges(new Map(tables.map((t) => [`${t.table.source.database}.${t.table.source.name}`, t.table])), typeMap, 'verify');
  const seen = new Map<string, Set<string>>();
  let total = 0;
  const take = (table: MySqlVerifyTable, row: Tuple | undefined) => {
    if (!row) return;
    const key = table.key.map((name) => {
      const value = row[table.table.source.columns.findIndex((c) => c.name === name)];
      if (typeof value !== 'string' && value !== null) {
        throw new FerryError('FERRY_VERIFY_WINDOW', `a row change of ${table.label} in the binlog lacks key column ${name}`,
          'set binlog_row_image=FULL on the source (a prerequisite) and run verify again', { context: { table: table.label } });
      }
      return value;
    });
    const id = JSON.stringify(key);
    const keys = seen.get(table.label) ?? new Set<string>();
    seen.set(table.label, keys);
    const entry = out.get(table.label) ?? { keys: [], changes: 0 };
    out.set(table.label, entry);
    if (!keys.has(id)) {
      keys.add(id);
      entry.keys.push(key);
      if (++total > MAX_KEYS) {
        throw new FerryError('FERRY_VERIFY_WINDOW_LARGE',
          `more than ${MAX_KEYS} rows changed on the source between ${formatBinlogPosition(window.from)} and ${formatBinlogPosition(window.to)}, the two sides' points`,
          'a group is far behind the source: let "ferry run" catch up ("ferry wait") and verify again');
      }
    }
  };
  const apply = (event: SourceEvent) => {
    if (event.kind !== 'insert' && event.kind !== 'update' && event.kind !== 'delete' && event.kind !== 'truncate') return;
    if (event.kind === 'truncate') {
      const names = event.relationIds.map((id) => byRelation.get(id)?.label).filter((n) => n !== undefined);
      throw new FerryError('FERRY_VERIFY_TRUNCATED', `${names.join(', ')} ${names.length > 1 ? 'were' : 'was'} truncated on the source while verify ran`,
        'run verify again', { context: { table: names.join(', ') } });
    }
    const table = byRelation.get(event.relationId);
    if (!table) return;
    if (event.kind !== 'insert') take(table, event.old);
    if (event.kind !== 'delete') take(table, event.values);
    const entry = out.get(table.label);
    if (entry) entry.changes++;
  };
  const start = filePositionOf(window.from, window.baseName);
  // A server id of its own (above the range groups use): a dump with a group's id would end that group's dump.
  const serverId = 0x8000_0000 + 1 + Math.floor(Math.random() * 0x7fff_fff0);
  let stream: BinlogStream;
  try {
    stream = await BinlogStream.open(url, { kind: 'file', position: start }, { serverId, nonBlocking: true });
  } catch (err) {
    throw windowError(window, err);
  }
  try {
    for await (const event of stream) {
      // `to` is a transaction boundary: the first event at or past it begins what neither side's point holds.
      if (binlogPosition(event.position) >= window.to && event.type !== 'rotate' && event.type !== 'format-description') break;
      for (const e of changes.push(event) as readonly SourceEvent[]) apply(e);
    }
  } catch (err) {
    if (err instanceof FerryError && !err.code.startsWith('FERRY_BINLOG_')) throw err;
    throw windowError(window, err);
  } finally {
    stream.close();
  }
  return out;
}
function windowError(window: { readonly from: Position; readonly to: Position }, err: unknown): FerryError {
  return new FerryError('FERRY_VERIFY_WINDOW',
    `reading the binlog from ${formatBinlogPosition(window.from)} to ${formatBinlogPosition(window.to)} (changes made while verifying) failed: ${(err as Error).message}`,
    'the source must keep its binlog from the groups\' positions on (binlog_expire_logs_seconds); run verify again', { cause: err });
}
