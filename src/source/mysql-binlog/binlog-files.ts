import type { Connection } from 'mysql2/promise';
import { FerryError } from '../../errors.js';
import { compareFilePositions, type FilePosition } from './binlog-position.js';

export interface BinlogFile {
  readonly file: string;
  readonly size: number;
}

/** The binlog's current end: `SHOW BINARY LOG STATUS` (MySQL 8.2+, MariaDB 10.5.2+), else `SHOW MASTER STATUS` (MySQL 8.0/8.1). */
export async function binlogEnd(control: Connection): Promise<FilePosition> {
  let rows: unknown;
  try {
    [rows] = await control.query('SHOW BINARY LOG STATUS');
  } catch (err) {
    if ((err as { errno?: number }).errno !== 1064) throw err;
    [rows] = await control.query('SHOW MASTER STATUS');
  }
  const row = (rows as { File: string; Position: string | number }[])[0];
  if (!row) throw new FerryError('FERRY_MYSQL_LOG_BIN', 'the source shows no binlog position: its binary log is off', 'turn log_bin on (see the prerequisites)');
  return { file: row.File, offset: Number(row.Position) };
}

/** The binlog files the source still has, oldest first, with their sizes (needs REPLICATION CLIENT / BINLOG MONITOR). */
export async function binlogFiles(control: Connection): Promise<BinlogFile[]> {
  const [rows] = await control.query('SHOW BINARY LOGS');
  return (rows as { Log_name: string; File_size: string | number }[]).map((r) => ({ file: r.Log_name, size: Number(r.File_size) }));
}

/** Binlog bytes from `from` to `to` over the files between; null where `from`'s file is gone (purged). */
export function bytesBetween(files: readonly BinlogFile[], from: FilePosition, to: FilePosition): number | null {
  if (compareFilePositions(from, to) >= 0) return 0;
  if (from.file === to.file) return to.offset - from.offset;
  let total = 0;
  let inside = false;
  for (const f of files) {
    if (f.file === from.file) {
      inside = true;
      total += Math.max(0, f.size - from.offset);
    } else if (f.file === to.file) {
      return inside ? total + to.offset : null;
    } else if (inside) {
      total += f.size;
    }
  }
  return null;
}
