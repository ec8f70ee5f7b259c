import { crc32 } from 'node:zlib';

/*
 * Binlog events built byte by byte from the documented formats, for the
 * parts of the format no server in the tests writes (MySQL 8's events and
 * metadata) and for damaged input. Little-endian unless said otherwise.
 */

export const u8 = (v: number): Buffer => Buffer.from([v]);
export const u16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
export const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
export const u48 = (v: number): Buffer => { const b = Buffer.alloc(6); b.writeUIntLE(v, 0, 6); return b; };
export const u64 = (v: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b; };
export const i64 = (v: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigInt64LE(v); return b; };
export const str = (s: string, encoding: BufferEncoding = 'utf8'): Buffer => Buffer.from(s, encoding);
export const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
export const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

/** A length-encoded integer of the client/server protocol. */
export function packed(v: number): Buffer {
  if (v < 0xfb) return u8(v);
  if (v <= 0xffff) return cat(u8(0xfc), u16(v));
  if (v <= 0xffffff) return cat(u8(0xfd), u16(v & 0xffff), u8(v >> 16));
  return cat(u8(0xfe), u64(BigInt(v)));
}

export const packedStr = (s: string): Buffer => cat(packed(Buffer.byteLength(s)), str(s));

export interface EventOptions {
  readonly timestamp?: number;
  readonly serverId?: number;
  readonly logPos?: number;
  readonly flags?: number;
  /** Append a CRC32 (binlog_checksum=CRC32). */
  readonly checksum?: boolean;
}

/** Header (19 bytes) + body (+ CRC32 of both). */
export function event(type: number, body: Buffer, options: EventOptions = {}): Buffer {
  const size = 19 + body.length + (options.checksum ? 4 : 0);
  const header = cat(u32(options.timestamp ?? 1_700_000_000), u8(type), u32(options.serverId ?? 1), u32(size),
    u32(options.logPos ?? 0), u16(options.flags ?? 0));
  const bytes = cat(header, body);
  return options.checksum ? cat(bytes, u32(crc32(bytes))) : bytes;
}

/**
 * Events of one file, each with the `log_pos` of where the next starts, as
 * the server writes them. Starts after the 4-byte magic number.
 */
export class BinlogFile {
  offset: number;
  constructor(readonly checksum: boolean, start = 4) {
    this.offset = start;
  }

  next(type: number, body: Buffer, options: Omit<EventOptions, 'logPos' | 'checksum'> = {}): Buffer {
    const size = 19 + body.length + (this.checksum ? 4 : 0);
    this.offset += size;
    return event(type, body, { ...options, logPos: this.offset % 2 ** 32, checksum: this.checksum });
  }
}

/** FORMAT_DESCRIPTION of a MySQL 8 server: version 4, 41 post-header lengths, the checksum algorithm. */
export function formatDescriptionBody(serverVersion: string, checksum: boolean): Buffer {
  const version = Buffer.alloc(50);
  version.write(serverVersion, 'latin1');
  const postHeader = Buffer.alloc(41);
  postHeader[19 - 1] = 8; // TABLE_MAP: 6-byte table id + 2 flags
  for (const t of [23, 24, 25]) postHeader[t - 1] = 8;
  for (const t of [30, 31, 32]) postHeader[t - 1] = 10;
  postHeader[2 - 1] = 13; // QUERY
  postHeader[33 - 1] = 42; // GTID
  return cat(u16(4), version, u32(0), u8(19), postHeader, u8(checksum ? 1 : 0));
}

export interface TableMapSpec {
  readonly tableId: number;
  readonly schema: string;
  readonly table: string;
  readonly types: readonly number[];
  /** Each column's metadata bytes, concatenated in column order. */
  readonly metadata: Buffer;
  readonly nullable: readonly boolean[];
  /** Optional metadata fields: type and value. */
  readonly optional?: readonly (readonly [number, Buffer])[];
}

export function tableMapBody(t: TableMapSpec): Buffer {
  const nulls = Buffer.alloc((t.types.length + 7) >> 3);
  t.nullable.forEach((n, i) => { if (n) nulls[i >> 3] = (nulls[i >> 3] as number) | (1 << (i & 7)); });
  const optional = (t.optional ?? []).map(([type, value]) => cat(u8(type), packed(value.length), value));
  return cat(u48(t.tableId), u16(1), u8(Buffer.byteLength(t.schema)), str(t.schema), u8(0),
    u8(Buffer.byteLength(t.table)), str(t.table), u8(0), packed(t.types.length), Buffer.from(t.types),
    packed(t.metadata.length), t.metadata, nulls, ...optional);
}

/** A bitmap with bit i (least significant first, as row events write them) set for each true. */
export function lsbBitmap(bits: readonly boolean[]): Buffer {
  const out = Buffer.alloc((bits.length + 7) >> 3);
  bits.forEach((b, i) => { if (b) out[i >> 3] = (out[i >> 3] as number) | (1 << (i & 7)); });
  return out;
}

/** A bitmap with the first flag in the most significant bit (optional metadata writes them so). */
export function msbBitmap(bits: readonly boolean[]): Buffer {
  const out = Buffer.alloc((bits.length + 7) >> 3);
  bits.forEach((b, i) => { if (b) out[i >> 3] = (out[i >> 3] as number) | (0x80 >> (i & 7)); });
  return out;
}

/** ROWS event v2 body: table id, flags, extra data, column count, bitmaps, then rows already encoded. */
export function rowsV2Body(tableId: number, columns: number, present: readonly boolean[], rows: Buffer, presentAfter?: readonly boolean[], extra: Buffer = Buffer.alloc(0)): Buffer {
  return cat(u48(tableId), u16(1), u16(2 + extra.length), extra, packed(columns), lsbBitmap(present),
    presentAfter ? lsbBitmap(presentAfter) : Buffer.alloc(0), rows);
}

/** MySQL's GTID_LOG_EVENT body (8.0.1+ layout). */
export function mysqlGtidBody(uuid: string, gno: bigint, options: { lastCommitted: bigint; sequence: bigint; immediate: bigint; original?: bigint; length: number }): Buffer {
  const ts = (v: bigint, more: boolean): Buffer => { const b = Buffer.alloc(7); b.writeUIntLE(Number(v & 0xffffffffffffn), 0, 6); b[6] = Number(v >> 48n) | (more ? 0x80 : 0); return b; };
  const timestamps = options.original === undefined ? ts(options.immediate, false) : cat(ts(options.immediate, true), ts(options.original, false));
  return cat(u8(1), hex(uuid.replace(/-/g, '')), i64(gno), u8(2), i64(options.lastCommitted), i64(options.sequence),
    timestamps, packed(options.length), u32(80036));
}

/** QUERY body: no status variables but the charset, then the default database and the statement. */
export function queryBody(database: string, sql: string, status: Buffer = cat(u8(4), u16(255), u16(255), u16(255))): Buffer {
  return cat(u32(7), u32(0), u8(Buffer.byteLength(database)), u16(0), u16(status.length), status, str(database), u8(0), str(sql));
}

/**
 * The events a MySQL 8 server puts inside one TRANSACTION_PAYLOAD for
 * `INSERT INTO shop.items VALUES (7, 'zstd')` (no checksums inside): BEGIN,
 * TABLE_MAP, WRITE_ROWS_V2, XID.
 */
export function payloadInnerEvents(): Buffer {
  const tableMap = tableMapBody({
    tableId: 91, schema: 'shop', table: 'items', types: [3, 15], metadata: u16(40), nullable: [false, true],
    optional: [[1, msbBitmap([false])], [2, cat(packed(255))], [4, cat(packedStr('id'), packedStr('label'))], [8, packed(0)]],
  });
  const row = cat(lsbBitmap([false, false]), u32(7), u8(4), str('zstd'));
  return cat(
    event(2, queryBody('shop', 'BEGIN')),
    event(19, tableMap),
    event(30, rowsV2Body(91, 2, [true, true], row)),
    event(16, u64(4242n)),
  );
}
