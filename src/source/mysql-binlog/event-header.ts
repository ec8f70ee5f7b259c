import type { ByteReader } from './byte-reader.js';

/** The common header every binlog event (format version 4) starts with. */
export interface EventHeader {
  /** Seconds since the Unix epoch, when the statement started on the source. */
  readonly timestamp: number;
  readonly type: number;
  readonly serverId: number;
  /** Of the whole event: header, body and checksum. */
  readonly eventSize: number;
  /** Where the next event starts in the file, modulo 2^32 (0 for events at no position). */
  readonly logPos: number;
  readonly flags: number;
}

export const HEADER_BYTES = 19;

export function readEventHeader(r: ByteReader): EventHeader {
  return {
    timestamp: r.u32(),
    type: r.u8(),
    serverId: r.u32(),
    eventSize: r.u32(),
    logPos: r.u32(),
    flags: r.u16(),
  };
}
