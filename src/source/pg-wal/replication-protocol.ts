import type { Lsn } from '../../change/change.js';

/**
 * Framing of the streaming replication protocol inside CopyData messages:
 * XLogData ('w') and primary keepalive ('k') from the server, standby status
 * update ('r') from us.
 */
export type ServerMessage =
  /** The pgoutput message is `chunk` from XLOG_HEADER_BYTES on; left in place, as most are decoded straight from it. */
  | { readonly kind: 'xlog'; readonly chunk: Buffer }
  /** `sendTime`: the server's clock when it sent the keepalive. */
  | { readonly kind: 'keepalive'; readonly walEnd: Lsn; readonly sendTime: bigint; readonly replyRequested: boolean };

/** 'w', WAL start, WAL end, send time. */
export const XLOG_HEADER_BYTES = 25;

export function parseServerMessage(chunk: Buffer): ServerMessage {
  const tag = chunk[0];
  if (tag === 0x77 /* w */) {
    return { kind: 'xlog', chunk };
  }
  if (tag === 0x6b /* k */) {
    return { kind: 'keepalive', walEnd: chunk.readBigUInt64BE(1), sendTime: chunk.readBigInt64BE(9), replyRequested: chunk[17] === 1 };
  }
  throw new Error(`unexpected replication message type 0x${(tag ?? 0).toString(16)}`);
}

const PG_EPOCH_MICROS = 946_684_800_000_000n;

export function nowPgTimestamp(): bigint {
  return BigInt(Date.now()) * 1000n - PG_EPOCH_MICROS;
}

export function pgTimestampToDate(ts: bigint): Date {
  return new Date(Number((ts + PG_EPOCH_MICROS) / 1000n));
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
