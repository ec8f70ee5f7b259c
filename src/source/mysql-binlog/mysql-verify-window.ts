import { FerryError } from '../../errors.js';
import type { Position } from '../position.js';
import type { BinlogEvent } from './binlog-decoder.js';
import { BinlogStream } from './binlog-stream.js';
import { binlogPosition, filePositionOf, formatBinlogPosition } from './binlog-stream-position.js';
import { rowKey } from './map-row.js';
import type { MySqlVerifyTable } from './mysql-verify-tables.js';
import type { RowImage } from './rows-event.js';
import type { TypeMapOptions } from './type-map.js';
import { mapValue } from './value-map.js';

/** The keys of one table that changed in the window, as PostgreSQL input text of the key columns, and how many row changes there were. */
export interface WindowChanges {
  readonly keys: (string | null)[][];
  changes: number;
}

/**
 * Reads the binlog from `from` to `to` (a window of mysql-verify-point.ts)
 * and collects, per compared table, every key a row event in it inserted,
 * updated (before and after image: a key can change) or deleted, mapped by
 * the value map as the stream maps it. The dump is non-blocking: it ends at
 * the binlog's current end if `to` is there.
 */
export async function windowChanges(url: string, window: { readonly from: Position; readonly to: Position; readonly baseName: string },
  tables: readonly MySqlVerifyTable[], typeMap: TypeMapOptions): Promise<Map<string, WindowChanges>> {
  const out = new Map<string, WindowChanges>();
  if (window.from >= window.to) return out;
  const byName = new Map(tables.map((t) => [`${t.table.source.database}.${t.table.source.name}`, t]));
  const seen = new Map<string, Set<string>>();
  const start = filePositionOf(window.from, window.baseName);
  // A server id of its own (above the range groups use): a dump with a group's id would end that group's dump.
  const serverId = 0x8000_0000 + 1 + Math.floor(Math.random() * 0x7fff_fff0);
  let stream: BinlogStream;
  try {
    stream = await BinlogStream.open(url, { kind: 'file', position: start }, { serverId, nonBlocking: true });
  } catch (err) {
    throw windowError(window, err);
  }
  const take = (table: MySqlVerifyTable, image: RowImage | undefined) => {
    if (!image) return;
    const source = table.table.source;
    const place = { table: `${source.database}.${source.name}`, key: () => rowKey(source, image) };
    const key = table.key.map((name) => {
      const i = source.columns.findIndex((c) => c.name === name);
      const value = image[i];
      const column = table.table.target.columns[i];
      const sourceColumn = source.columns[i];
      if (value === undefined || !column || !sourceColumn) {
        throw new FerryError('FERRY_VERIFY_WINDOW', `a row change of ${place.table} in the binlog lacks key column ${name}`,
          'set binlog_row_image=FULL on the source (a prerequisite) and run verify again', { context: { table: table.label } });
      }
      return mapValue(value, sourceColumn, column, typeMap, place);
    });
    const id = JSON.stringify(key);
    const keys = seen.get(table.label) ?? new Set<string>();
    seen.set(table.label, keys);
    const entry = out.get(table.label) ?? { keys: [], changes: 0 };
    out.set(table.label, entry);
    if (!keys.has(id)) {
      keys.add(id);
      entry.keys.push(key);
    }
  };
  const visit = (event: BinlogEvent): boolean => {
    if (binlogPosition(event.position) >= window.to && event.type !== 'rotate' && event.type !== 'format-description') return false;
    if (event.type === 'transaction-payload') return event.events.every(visit);
    if (event.type !== 'rows') return true;
    const table = byName.get(`${event.table.schema}.${event.table.table}`);
    if (!table) return true;
    for (const row of event.rows.rows) {
      take(table, row.before);
      take(table, row.after);
      const entry = out.get(table.label);
      if (entry) entry.changes++;
    }
    return true;
  };
  try {
    for await (const event of stream) {
      if (!visit(event)) break;
    }
  } catch (err) {
    if (err instanceof FerryError && err.code === 'FERRY_VERIFY_WINDOW') throw err;
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
