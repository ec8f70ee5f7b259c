import { FerryError } from '../errors.js';

declare const opaque: unique symbol;

/**
 * Where a group stands in its source's stream, as its capture method encodes
 * it: bytes whose order is stream order, written as lowercase hex. Nothing
 * but the capture method reads them. Everything else compares two positions
 * (hex strings compare as their bytes do, a prefix first), stores them on
 * the target as `bytea` (where SQL compares them the same way), and asks
 * the capture method how one reads for people.
 */
export type Position = string & { readonly [opaque]: true };

/** Before every position: no bytes. */
export const START = '' as Position;

const MAX_UINT64 = 0xffff_ffff_ffff_ffffn;

/**
 * A position made of unsigned 64-bit numbers, each as 8 bytes big-endian:
 * positions compare as the sequences of numbers do, a shorter one first
 * where it is the start of the other. For a capture method to make its
 * positions with (an LSN; a tick and a part of the batch after it).
 */
export function positionOfNumbers(...numbers: readonly bigint[]): Position {
  let hex = '';
  for (const n of numbers) hex += positionOfNumber(n);
  return hex as Position;
}

/** The same for one number: WAL capture makes two per transaction. */
export function positionOfNumber(n: bigint): Position {
  if (n < 0n || n > MAX_UINT64) throw new FerryError('FERRY_POSITION', `a position's number is out of range: ${n}`);
  return n.toString(16).padStart(16, '0') as Position;
}

/** The numbers of a position made by positionOfNumbers; none for START. */
export function numbersOf(position: Position): bigint[] {
  if (position.length % 16 !== 0) throw new FerryError('FERRY_POSITION', `not a position of 64-bit numbers: '${position}'`);
  const out: bigint[] = [];
  for (let at = 0; at < position.length; at += 16) out.push(BigInt(`0x${position.slice(at, at + 16)}`));
  return out;
}

/** A position as the target stores it, read as `encode(position, 'hex')`. */
export function storedPosition(hex: string): Position {
  if (!/^(?:[0-9a-f]{2})*$/.test(hex)) throw new FerryError('FERRY_POSITION', `not a stored position: '${hex}'`);
  return hex as Position;
}
