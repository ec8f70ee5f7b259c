import { FerryError } from '../../errors.js';
import { numbersOf, positionOfNumbers, type Position } from '../position.js';
import type { FilePosition } from './binlog-position.js';

/**
 * A binlog place as a group's position: the file's sequence number (the
 * `000012` of `binlog.000012`) and the byte offset in it, two 64-bit
 * numbers, so positions compare in binlog order across rotations. The
 * file's base name is the server's (`log_bin_basename`), read when the
 * stream opens; a position therefore only means something on the server
 * (or a copy of its binlog) that wrote it.
 *
 * A transaction's `commitPosition` is where it begins and its commit's
 * `position` is where it ends (where a dump resumes to read what follows).
 * A snapshot's position is a transaction boundary S: a transaction is in
 * the snapshot exactly when it begins before S, as the overlap filter
 * expects (`commitPosition < S`).
 */
export function binlogPosition(p: FilePosition): Position {
  return positionOfNumbers(fileSequence(p.file), BigInt(p.offset));
}

/** The file and offset a stored position stands for, with the server's binlog base name. */
export function filePositionOf(position: Position, baseName: string): FilePosition {
  const [seq, offset] = numbersOf(position);
  if (seq === undefined || offset === undefined) throw new FerryError('FERRY_POSITION', `not a binlog position: '${position}'`);
  return { file: `${baseName}.${seq.toString().padStart(6, '0')}`, offset: Number(offset) };
}

/** `000012:4567`: the binlog file's number and the offset, as status and errors show a position. */
export function formatBinlogPosition(position: Position): string {
  if (position === '') return 'start';
  const [seq, offset] = numbersOf(position);
  return `${(seq ?? 0n).toString().padStart(6, '0')}:${offset ?? 0n}`;
}

/** `binlog.000012` → 12n. */
export function fileSequence(file: string): bigint {
  const m = /\.(\d+)$/.exec(file);
  if (!m) throw new FerryError('FERRY_BINLOG_POSITION', `binlog file name ${file} does not end in a sequence number`);
  return BigInt(m[1] as string);
}

/** `binlog.000012` → `binlog`. */
export function binlogBaseName(file: string): string {
  return file.replace(/\.\d+$/, '');
}
