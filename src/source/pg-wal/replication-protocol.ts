import { nowPgTimestamp } from '../../change/pg-timestamp.js';
import type { Lsn } from '../../change/change.js';

/**
 * Framing of the streaming replication protocol inside CopyData messages:
 * XLogData ('w') and primary keepalive ('k') from the server, standby status
 * update ('r') from us.
 */
export interface ServerMessages {
  /** A pgoutput message at `[start, end)` of `bytes`, a buffer nothing reuses or changes (copy-data-reader.ts): decoded rows may point into it. */
  xlog(bytes: Buffer, start: number, end: number): void;
  keepalive(message: Keepalive): void;
  /** A message could not be read or taken: the stream cannot go on. */
  fail(err: unknown): void;
}

export interface Keepalive {
  readonly walEnd: Lsn;
  /** The server's clock when it sent the keepalive. */
  readonly sendTime: bigint;
  readonly replyRequested: boolean;
}

/** 'w', WAL start, WAL end, send time. */
const XLOG_HEADER_BYTES = 25;

/** Hands the CopyData payload at `[start, end)` of `bytes` to `to`. */
export function readServerMessage(bytes: Buffer, start: number, end: number, to: ServerMessages): void {
  const tag = bytes[start];
  if (tag === 0x77 /* w */ && end - start >= XLOG_HEADER_BYTES) {
    to.xlog(bytes, start + XLOG_HEADER_BYTES, end);
  } else if (tag === 0x6b /* k */ && end - start >= 18) {
    to.keepalive({ walEnd: bytes.readBigUInt64BE(start + 1), sendTime: bytes.readBigInt64BE(start + 9), replyRequested: bytes[start + 17] === 1 });
  } else {
    throw new Error(`unexpected replication message type 0x${(tag ?? 0).toString(16)} of ${end - start} bytes`);
  }
}

/**
 * Standby status update. `flushed` is what the slot may confirm: only
 * positions whose data is committed on the target are ever passed here.
 */
export function standbyStatusUpdate(written: Lsn, flushed: Lsn, applied: Lsn, replyRequested = false): Buffer {
  const buf = Buffer.alloc(34);
  buf[0] = 0x72; // r
  buf.writeBigUInt64BE(written, 1);
  buf.writeBigUInt64BE(flushed, 9);
  buf.writeBigUInt64BE(applied, 17);
  buf.writeBigInt64BE(nowPgTimestamp(), 25);
  buf[33] = replyRequested ? 1 : 0;
  return buf;
}
