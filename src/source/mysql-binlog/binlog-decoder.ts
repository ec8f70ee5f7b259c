import { FerryError } from '../../errors.js';
import { ByteReader, Truncated } from './byte-reader.js';
import { formatFilePosition, type FilePosition, type MariaDbGtid, type MySqlGtidSet } from './binlog-position.js';
import { CHECKSUM_BYTES, ChecksumAlg, checksumMatches } from './checksum.js';
import { HEADER_BYTES, readEventHeader, type EventHeader } from './event-header.js';
import { EventType, LOG_EVENT_ARTIFICIAL_F, eventTypeName } from './event-types.js';
import {
  readMariaDbGtid, readMariaDbGtidList, readMySqlGtid, readPreviousGtids, type MariaDbGtidEvent, type MySqlGtidEvent,
} from './gtid-events.js';
import { queryRole, readQuery, type QueryEvent } from './query-event.js';
import { readRowsBody, readRowsHead, uncompress, type RowsEvent, type RowsLayout } from './rows-event.js';
import { readTableMap, UnsupportedTable, type TableMap } from './table-map.js';
import { readTransactionPayload } from './transaction-payload.js';

/**
 * Decoder of a row-based binlog stream, MySQL 8.0/8.4 and MariaDB 10.6+
 * (binlog format version 4), one event per call, in stream order. It keeps
 * what later events need from earlier ones: the FORMAT_DESCRIPTION (checksum
 * algorithm, post-header lengths), the table maps by id, and where in which
 * file the stream is.
 *
 * Every event it cannot read fails with a FerryError that names the event
 * type and its position `file:offset`: an event skipped silently could be
 * rows lost. Only events that carry nothing a replica applies are passed on
 * as `skipped` (statement-format context, informational events).
 */

export interface EventBase {
  readonly header: EventHeader;
  /** Where the event starts (for events at no position of their own: where the stream is). */
  readonly position: FilePosition;
  /** Where the stream resumes after this event. */
  readonly next: FilePosition;
}

export type BinlogEvent = EventBase & (
  | { readonly type: 'format-description'; readonly binlogVersion: number; readonly serverVersion: string; readonly checksum: 'CRC32' | 'OFF' }
  | { readonly type: 'rotate'; readonly nextFile: string; readonly nextOffset: number }
  | { readonly type: 'query'; readonly query: QueryEvent; readonly role: ReturnType<typeof queryRole> }
  | { readonly type: 'xid'; readonly xid: bigint }
  | { readonly type: 'table-map'; readonly table: TableMap }
  | { readonly type: 'rows'; readonly rows: RowsEvent; readonly table: TableMap }
  | { readonly type: 'mysql-gtid'; readonly gtid: MySqlGtidEvent }
  | { readonly type: 'previous-gtids'; readonly gtids: MySqlGtidSet }
  | { readonly type: 'mariadb-gtid'; readonly gtid: MariaDbGtidEvent }
  | { readonly type: 'gtid-list'; readonly gtids: readonly MariaDbGtid[] }
  | { readonly type: 'annotate-rows'; readonly sql: string }
  | { readonly type: 'heartbeat'; readonly file: string; readonly offset?: number }
  /** A compressed transaction's events, decoded: each has the payload event's position. */
  | { readonly type: 'transaction-payload'; readonly events: readonly BinlogEvent[] }
  | { readonly type: 'skipped'; readonly name: string }
);

export type BinlogEventType = BinlogEvent['type'];

const CODE = 'FERRY_BINLOG_DECODE';
/** Events flagged so may be skipped by readers that do not know them (MySQL's LOG_EVENT_IGNORABLE_F). */
const LOG_EVENT_IGNORABLE_F = 0x80;
const TWO_32 = 2 ** 32;
/** Where the first event of a binlog file starts, after its 4-byte magic number. */
const FILE_START = 4;

const ROWS_LAYOUTS = new Map<number, RowsLayout>([
  [EventType.WRITE_ROWS_V1, { kind: 'insert', v2: false, compressed: false }],
  [EventType.UPDATE_ROWS_V1, { kind: 'update', v2: false, compressed: false }],
  [EventType.DELETE_ROWS_V1, { kind: 'delete', v2: false, compressed: false }],
  [EventType.WRITE_ROWS_V2, { kind: 'insert', v2: true, compressed: false }],
  [EventType.UPDATE_ROWS_V2, { kind: 'update', v2: true, compressed: false }],
  [EventType.DELETE_ROWS_V2, { kind: 'delete', v2: true, compressed: false }],
  [EventType.WRITE_ROWS_COMPRESSED_V1, { kind: 'insert', v2: false, compressed: true }],
  [EventType.UPDATE_ROWS_COMPRESSED_V1, { kind: 'update', v2: false, compressed: true }],
  [EventType.DELETE_ROWS_COMPRESSED_V1, { kind: 'delete', v2: false, compressed: true }],
  [EventType.WRITE_ROWS_COMPRESSED, { kind: 'insert', v2: true, compressed: true }],
  [EventType.UPDATE_ROWS_COMPRESSED, { kind: 'update', v2: true, compressed: true }],
  [EventType.DELETE_ROWS_COMPRESSED, { kind: 'delete', v2: true, compressed: true }],
]);

/** Events with nothing to apply in row format; named so a reader of the stream can still see them. */
const SKIPPED = new Set<number>([
  EventType.STOP, EventType.INTVAR, EventType.RAND, EventType.USER_VAR, EventType.ROWS_QUERY,
  EventType.BINLOG_CHECKPOINT, EventType.TRANSACTION_CONTEXT, EventType.VIEW_CHANGE, EventType.IGNORABLE,
]);

/** Why an event cannot be applied, and what to change on the source so it is not written. */
const UNSUPPORTED = new Map<number, { why: string; fix: string }>([
  [EventType.PARTIAL_UPDATE_ROWS, {
    why: 'partial JSON updates are not decoded', fix: "SET GLOBAL binlog_row_value_options = '' on the source" }],
  [EventType.GTID_TAGGED, { why: 'tagged GTIDs (MySQL 8.3+) are not decoded', fix: 'use untagged GTIDs on the source' }],
  [EventType.XA_PREPARE, { why: 'XA transactions are not decoded', fix: 'do not use XA transactions on replicated tables' }],
  [EventType.START_ENCRYPTION, {
    why: 'an encrypted binlog reached the reader', fix: 'read through a server that decrypts it (a replica sends plain events)' }],
  [EventType.INCIDENT, {
    why: 'the source logged an incident: changes are missing from its binlog', fix: 're-copy the affected tables' }],
  [EventType.BEGIN_LOAD_QUERY, { why: 'LOAD DATA in statement format is not decoded', fix: 'set binlog_format=ROW' }],
  [EventType.EXECUTE_LOAD_QUERY, { why: 'LOAD DATA in statement format is not decoded', fix: 'set binlog_format=ROW' }],
]);

export interface DecoderOptions {
  /** Where the stream starts; an artificial ROTATE at the dump's start sets it too. */
  readonly start?: FilePosition;
  /** The checksum the server was told to send (`@master_binlog_checksum`), until a FORMAT_DESCRIPTION says. */
  readonly checksum?: 'CRC32' | 'OFF';
}

export class BinlogDecoder {
  private file: string;
  private offset: number;
  private checksum: number;
  /** Post-header lengths by event type, from the FORMAT_DESCRIPTION. */
  private postHeader: Uint8Array = new Uint8Array(0);
  /** What each table id was last mapped to, and the TABLE_MAP bytes that said so. */
  private readonly tables = new Map<number, { readonly table: TableMap; readonly bytes: Buffer }>();
  /** The FORMAT_DESCRIPTION says MariaDB: its table maps differ in details (table-map.ts). */
  private mariadb = false;

  constructor(options: DecoderOptions = {}) {
    this.file = options.start?.file ?? '';
    this.offset = options.start?.offset ?? 0;
    this.checksum = options.checksum === 'CRC32' ? ChecksumAlg.CRC32 : ChecksumAlg.OFF;
  }

  /** Where the stream resumes after the last event decoded. */
  get position(): FilePosition {
    return { file: this.file, offset: this.offset };
  }

  /** The table map a table id currently stands for. */
  table(tableId: number): TableMap | undefined {
    return this.tables.get(tableId)?.table;
  }

  /** Decodes the event at `[start, end)` of `buf` (without the protocol's leading OK byte). */
  decode(buf: Buffer, start = 0, end = buf.length): BinlogEvent {
    return this.decodeOne(buf, start, end, false);
  }

  private decodeOne(buf: Buffer, start: number, end: number, inner: boolean, outer?: EventBase): BinlogEvent {
    let header: EventHeader | undefined;
    let where = formatFilePosition(this.position);
    try {
      const r = new ByteReader(buf, start, end);
      header = readEventHeader(r);
      if (header.eventSize !== end - start) {
        throw new Truncated(header.eventSize, end - start);
      }
      const base = outer ? { header, position: outer.position, next: outer.next } : this.place(header);
      where = formatFilePosition(base.position);
      if (header.type === EventType.FORMAT_DESCRIPTION) return this.formatDescription(r, header, base, buf, start, end);
      if (!inner && this.checksum === ChecksumAlg.CRC32) {
        if (end - start < HEADER_BYTES + CHECKSUM_BYTES) throw new Truncated(HEADER_BYTES + CHECKSUM_BYTES, end - start);
        if (!checksumMatches(buf, start, end)) {
          throw new FerryError('FERRY_BINLOG_CHECKSUM', `${eventTypeName(header.type)} event at ${where} fails its CRC32 checksum`,
            'the event was damaged on its way from the server: read it again from this position',
            { context: { position: where } });
        }
        r.end = end - CHECKSUM_BYTES;
      }
      const event = this.body(r, header, base);
      if (header.type === EventType.ROTATE) {
        const rotate = event as Extract<BinlogEvent, { type: 'rotate' }>;
        this.file = rotate.nextFile;
        this.offset = rotate.nextOffset;
        return { ...rotate, next: this.position };
      }
      return event;
    } catch (err) {
      if (err instanceof FerryError) throw err;
      if (err instanceof UnsupportedTable) {
        throw new FerryError('FERRY_BINLOG_UNSUPPORTED', `TABLE_MAP event at ${where}: ${err.message}`, err.fix,
          { context: { position: where, table: `${err.schema}.${err.table}` } });
      }
      const what = header ? `${eventTypeName(header.type)} event` : 'event header';
      const message = err instanceof Truncated ? `is truncated (${err.message})` : `cannot be read: ${err instanceof Error ? err.message : String(err)}`;
      throw new FerryError(CODE, `${what} at ${where} ${message}`, undefined, { context: { position: where }, cause: err });
    }
  }

  /**
   * Where an event is. Real events end at `log_pos` (modulo 2^32): the
   * offset is the smallest value with those low bits at or past where the
   * stream is, which keeps counting past 4 GiB and also follows the jumps of
   * a GTID-positioned dump, where the server skips events we never see.
   */
  private place(header: EventHeader): EventBase {
    const here = this.position;
    // A FORMAT_DESCRIPTION is at offset 4 of its file; anywhere else it is the
    // copy a dump started mid-file sends first, whatever its log_pos says.
    const resent = header.type === EventType.FORMAT_DESCRIPTION && this.offset !== FILE_START;
    if (header.logPos === 0 || resent || (header.flags & LOG_EVENT_ARTIFICIAL_F) !== 0 || header.type === EventType.HEARTBEAT
      || header.type === EventType.HEARTBEAT_V2) {
      return { header, position: here, next: here };
    }
    const least = this.offset + header.eventSize;
    let end = Math.floor(least / TWO_32) * TWO_32 + header.logPos;
    if (end < least) end += TWO_32;
    this.offset = end;
    return { header, position: { file: here.file, offset: end - header.eventSize }, next: this.position };
  }

  private formatDescription(r: ByteReader, header: EventHeader, base: EventBase, buf: Buffer, start: number, end: number): BinlogEvent {
    const binlogVersion = r.u16();
    const serverVersion = r.bytes(50).toString('latin1').replace(/\0.*$/s, '');
    r.skip(4);
    const headerLength = r.u8();
    if (headerLength !== HEADER_BYTES) throw new RangeError(`common header of ${headerLength} bytes (only 19 is known)`);
    const aware = checksumAware(serverVersion);
    const tableEnd = end - (aware ? 1 + CHECKSUM_BYTES : 0);
    const postHeader = r.bytes(tableEnd - r.pos);
    const alg = aware ? buf[tableEnd] as number : ChecksumAlg.OFF;
    if (alg !== ChecksumAlg.OFF && alg !== ChecksumAlg.CRC32) throw new RangeError(`unknown checksum algorithm ${alg}`);
    if (alg === ChecksumAlg.CRC32 && !checksumMatches(buf, start, end)) {
      const where = formatFilePosition(base.position);
      throw new FerryError('FERRY_BINLOG_CHECKSUM', `FORMAT_DESCRIPTION event at ${where} fails its CRC32 checksum`,
        'the event was damaged on its way from the server: read it again from this position', { context: { position: where } });
    }
    this.checksum = alg;
    this.mariadb = /mariadb/i.test(serverVersion);
    this.postHeader = Uint8Array.from(postHeader);
    return { ...base, type: 'format-description', binlogVersion, serverVersion, checksum: alg === ChecksumAlg.CRC32 ? 'CRC32' : 'OFF' };
  }

  /** Bytes of a table id: 6, or 4 where the FORMAT_DESCRIPTION gives the event a 6-byte post-header (very old servers). */
  private tableIdBytes(type: number): number {
    return this.postHeader[type - 1] === 6 ? 4 : 6;
  }

  private body(r: ByteReader, header: EventHeader, base: EventBase): BinlogEvent {
    const type = header.type;
    const rowsLayout = ROWS_LAYOUTS.get(type);
    if (rowsLayout) {
      const head = readRowsHead(r, this.tableIdBytes(type), rowsLayout);
      const table = this.tables.get(head.tableId)?.table;
      if (!table) throw new RangeError(`rows of table id ${head.tableId}, which no TABLE_MAP before it named`);
      return { ...base, type: 'rows', rows: readRowsBody(r, head, rowsLayout, table), table };
    }
    switch (type) {
      case EventType.TABLE_MAP: {
        // Every transaction maps its tables again, mostly with the same bytes: the same map then (decoded and checked once).
        const bytes = r.buf.subarray(r.pos, r.end);
        const idBytes = this.tableIdBytes(type);
        const same = bytes.length > idBytes ? this.tables.get(bytes.readUIntLE(0, idBytes)) : undefined;
        if (same && same.bytes.equals(bytes)) {
          r.pos = r.end;
          return { ...base, type: 'table-map', table: same.table };
        }
        const table = readTableMap(r, idBytes, this.mariadb);
        this.tables.set(table.tableId, { table, bytes: Buffer.from(bytes) });
        return { ...base, type: 'table-map', table };
      }
      case EventType.QUERY:
      case EventType.QUERY_COMPRESSED: {
        const query = readQuery(r, type === EventType.QUERY_COMPRESSED ? (x) => uncompress(x).rest() : undefined);
        return { ...base, type: 'query', query, role: queryRole(query.sql) };
      }
      case EventType.XID:
        return { ...base, type: 'xid', xid: r.u64() };
      case EventType.ROTATE: {
        const nextOffset = r.u64Number();
        return { ...base, type: 'rotate', nextFile: r.utf8(r.left), nextOffset };
      }
      case EventType.GTID:
      case EventType.ANONYMOUS_GTID:
        return { ...base, type: 'mysql-gtid', gtid: readMySqlGtid(r, type === EventType.ANONYMOUS_GTID) };
      case EventType.PREVIOUS_GTIDS:
        return { ...base, type: 'previous-gtids', gtids: readPreviousGtids(r) };
      case EventType.MARIADB_GTID:
        return { ...base, type: 'mariadb-gtid', gtid: readMariaDbGtid(r, header.serverId) };
      case EventType.MARIADB_GTID_LIST:
        return { ...base, type: 'gtid-list', gtids: readMariaDbGtidList(r) };
      case EventType.ANNOTATE_ROWS:
        return { ...base, type: 'annotate-rows', sql: r.utf8(r.left) };
      case EventType.HEARTBEAT:
        // The position of the last event the server sent (32 bits), in the file the body names.
        return { ...base, type: 'heartbeat', file: r.utf8(r.left), offset: header.logPos };
      case EventType.HEARTBEAT_V2:
        return { ...base, ...readHeartbeatV2(r) };
      case EventType.TRANSACTION_PAYLOAD: {
        const payload = readTransactionPayload(r);
        const events: BinlogEvent[] = [];
        const inner = new ByteReader(payload.events);
        while (inner.left > 0) {
          inner.need(HEADER_BYTES);
          const size = inner.buf.readUInt32LE(inner.pos + 9);
          inner.need(size);
          events.push(this.decodeOne(payload.events, inner.pos, inner.pos + size, true, base));
          inner.pos += size;
        }
        return { ...base, type: 'transaction-payload', events };
      }
      default: {
        if (SKIPPED.has(type) || (header.flags & LOG_EVENT_IGNORABLE_F) !== 0) {
          r.pos = r.end;
          return { ...base, type: 'skipped', name: eventTypeName(type) };
        }
        const where = formatFilePosition(base.position);
        const unsupported = UNSUPPORTED.get(type);
        if (unsupported) {
          throw new FerryError('FERRY_BINLOG_UNSUPPORTED', `${eventTypeName(type)} event at ${where}: ${unsupported.why}`,
            unsupported.fix, { context: { position: where } });
        }
        throw new FerryError(CODE, `${eventTypeName(type)} at ${where} is not a binlog event this decoder knows`,
          'check that the source is MySQL 8.0/8.4 or MariaDB 10.6+', { context: { position: where } });
      }
    }
  }
}

/** HEARTBEAT_V2 (MySQL 8.0.26+): fields of packed type, packed length and value, ended by type 0; the position is 64 bits. */
function readHeartbeatV2(r: ByteReader): { type: 'heartbeat'; file: string; offset?: number } {
  let file = '';
  let offset: number | undefined;
  while (r.left > 0) {
    const field = r.packed();
    if (field === 0) break;
    const length = r.packed();
    const end = r.pos + length;
    if (field === 1) file = r.utf8(length);
    else if (field === 2) offset = r.packed();
    r.pos = end;
  }
  return { type: 'heartbeat', file, ...(offset === undefined ? {} : { offset }) };
}

/** Servers from MySQL 5.6.1 and MariaDB 5.3 end their FORMAT_DESCRIPTION with the checksum algorithm. */
function checksumAware(version: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return true;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (/mariadb/i.test(version)) return major > 5 || (major === 5 && minor >= 3);
  return major > 5 || (major === 5 && (minor > 6 || (minor === 6 && patch >= 1)));
}
