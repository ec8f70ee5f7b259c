import type { Lsn } from '../../change/change.js';
import { FerryError } from '../../errors.js';
import { numbersOf, positionOfNumber, type Position } from '../position.js';

const MAX_LSN = 0xffff_ffff_ffff_ffffn;

/**
 * Parses PostgreSQL's textual LSN, two hex numbers of up to 8 digits around a
 * slash ('16/B374D848'). Accepts the zero-padded form newer servers print.
 */
export function parseLsn(text: string): Lsn {
  const slash = text.indexOf('/');
  if (slash < 0 || !isHex32(text, 0, slash) || !isHex32(text, slash + 1, text.length)) {
    throw new FerryError('FERRY_LSN', `not a PostgreSQL LSN: '${text}'`, "write it as PostgreSQL prints it, e.g. '16/B374D848'");
  }
  const hi = Number.parseInt(text.slice(0, slash), 16);
  const lo = Number.parseInt(text.slice(slash + 1), 16);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Prints an LSN the way pg_lsn does (uppercase hex, halves not zero-padded). */
export function formatLsn(lsn: Lsn): string {
  if (lsn < 0n || lsn > MAX_LSN) {
    throw new FerryError('FERRY_LSN', `LSN out of range: ${lsn}`);
  }
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

// Number.parseInt alone would accept '12zz' and '+1'; check every digit.
function isHex32(text: string, start: number, end: number): boolean {
  if (end <= start || end - start > 8) return false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 0x30 && c <= 0x39;
    const upper = c >= 0x41 && c <= 0x46;
    const lower = c >= 0x61 && c <= 0x66;
    if (!digit && !upper && !lower) return false;
  }
  return true;
}

/** A WAL position: the LSN as 8 bytes big-endian, so that positions compare as LSNs do. */
export function walPosition(lsn: Lsn): Position {
  return positionOfNumber(lsn);
}

/** The LSN of a WAL position; 0 for START. */
export function lsnOf(position: Position): Lsn {
  const numbers = numbersOf(position);
  if (numbers.length > 1) throw new FerryError('FERRY_POSITION', `not a WAL position: '${position}'`);
  return numbers[0] ?? 0n;
}
