import { crc32 } from 'node:zlib';

/** `binlog_checksum`: the algorithm byte a FORMAT_DESCRIPTION event ends with. */
export const ChecksumAlg = { OFF: 0, CRC32: 1 } as const;
export const CHECKSUM_BYTES = 4;

/**
 * Verifies the CRC32 that ends an event (over everything before it). A
 * mismatch means the bytes were damaged between the server's write and our
 * read; decoding them would turn damage into wrong rows, so the caller fails.
 */
export function checksumMatches(event: Buffer, start: number, end: number): boolean {
  const expected = event.readUInt32LE(end - CHECKSUM_BYTES);
  return crc32(event.subarray(start, end - CHECKSUM_BYTES)) === expected;
}
