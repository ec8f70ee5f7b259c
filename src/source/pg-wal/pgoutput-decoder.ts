import { TupleBytes } from './tuple-bytes.js';
import { EncodedDelete, EncodedInsert, EncodedUpdate, EncodedUpdateWithOld } from './encoded-changes.js';
import type { Change, Column, Lsn, Relation, ReplicaIdentity } from '../../change/change.js';
import { FerryError } from '../../errors.js';

/**
 * Decoder for PostgreSQL's `pgoutput` logical replication messages, protocol
 * versions 1 to 4 ("Logical Replication Message Formats" in the PostgreSQL
 * docs). One call per XLogData payload, one Change out.
 *
 * Values stay as sent: text, or with `binary` (the stream was started with
 * pgoutput's binary option) each type's binary format. Two-phase messages
 * (b, P, K, r, p) are not decoded because we never request `two_phase`; they
 * fail like any unknown tag instead of being skipped, since silently
 * dropping a message would lose data.
 */

const CODE = 'FERRY_PGOUTPUT_DECODE';
const SLAB_BYTES = 256 * 1024;

const TAG_BEGIN = 0x42; // B
const TAG_COMMIT = 0x43; // C
const TAG_ORIGIN = 0x4f; // O
const TAG_RELATION = 0x52; // R
const TAG_TYPE = 0x59; // Y
const TAG_INSERT = 0x49; // I
const TAG_UPDATE = 0x55; // U
const TAG_DELETE = 0x44; // D
const TAG_TRUNCATE = 0x54; // T
const TAG_MESSAGE = 0x4d; // M
const TAG_STREAM_START = 0x53; // S
const TAG_STREAM_STOP = 0x45; // E
const TAG_STREAM_COMMIT = 0x63; // c
const TAG_STREAM_ABORT = 0x41; // A

const TUPLE_NEW = 0x4e; // N
const TUPLE_KEY = 0x4b; // K
const TUPLE_OLD = 0x4f; // O

const COL_NULL = 0x6e; // n
const COL_UNCHANGED = 0x75; // u
const COL_TEXT = 0x74; // t
const COL_BINARY = 0x62; // b

/** Protocol 2 added streaming of in-progress transactions. */
const MIN_STREAM_PROTOCOL = 2;
/** Protocol 4 (parallel streaming) may append abort LSN and timestamp to Stream Abort. */
const STREAM_ABORT_EXTRA_PROTOCOL = 4;
const STREAM_ABORT_EXTRA_BYTES = 16;

type WithXid = { xid?: number };

const EMPTY = Buffer.alloc(0);

export class PgOutputDecoder {
  readonly protocolVersion: number;
  /** Between Stream Start and Stream Stop: data messages carry the xid. */
  private inStream = false;
  // The message being decoded and the read position, as fields so the hot
  // path allocates no reader object per message.
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Where the message starts and ends in `buf`. */
  private base = 0;
  private end = 0;
  /** Rows are copied into slabs: one allocation for many rows, not one each. */
  private slab: Buffer = EMPTY;
  private slabUsed = 0;
  /** Where the last scanned tuple's bytes are. */
  private row: Buffer = EMPTY;
  private rowStart = 0;
  private rowEnd = 0;

  /**
   * With `buffersStay`, the caller never reuses or changes a buffer it
   * decodes from (fresh socket reads): rows point into it instead of being
   * copied, and keep it alive as long as they live.
   */
  constructor(protocolVersion: number, readonly binary = false, private readonly buffersStay = false) {
    if (!Number.isInteger(protocolVersion) || protocolVersion < 1 || protocolVersion > 4) {
      throw new FerryError(CODE, `unsupported pgoutput protocol version ${protocolVersion}`,
        'use proto_version 1 to 4');
    }
    this.protocolVersion = protocolVersion;
  }

  /** True between Stream Start and Stream Stop. */
  get streaming(): boolean {
    return this.inStream;
  }

  /**
   * Inside a stream, what the spool needs of a message without decoding it:
   * 'stop' for Stream Stop (which must be decoded), else the (sub)transaction
   * xid that data messages carry right after their tag (undefined for an
   * Origin message, which has none). The spooled message is decoded in full
   * when its transaction commits.
   */
  peekStreamed(buffer: Buffer, start: number, end = buffer.length): number | 'stop' | undefined {
    const tag = buffer[start];
    if (tag === TAG_STREAM_STOP) return 'stop';
    // A message too short for an xid is kept too; decoding it at commit says what is wrong.
    return tag === TAG_ORIGIN || end < start + 5 ? undefined : buffer.readUInt32BE(start + 1);
  }

  /** Decodes the message at `[start, end)` of `buffer`. */
  decode(buffer: Buffer, start = 0, end = buffer.length): Change {
    this.buf = buffer;
    this.pos = start;
    this.base = start;
    this.end = end;
    try {
      const change = this.decodeMessage();
      if (this.pos !== end) {
        // Leftover bytes mean we read a different layout than the server
        // wrote (e.g. a missing xid); fail rather than emit garbage.
        throw this.fail(`${end - this.pos} unexpected trailing byte(s)`);
      }
      return change;
    } catch (err) {
      if (err instanceof FerryError) throw err;
      // Reads past the end throw RangeError; say where it happened.
      throw this.fail(`truncated message (${end - start} bytes)`, err);
    } finally {
      // Do not keep the network layer's buffer alive between calls.
      this.buf = EMPTY;
    }
  }

  private decodeMessage(): Change {
    const tag = this.u8();
    switch (tag) {
      case TAG_BEGIN: {
        const finalLsn = this.lsn();
        const commitTime = this.timestamp();
        const xid = this.u32();
        return { kind: 'begin', finalLsn, commitTime, xid };
      }
      case TAG_COMMIT: {
        this.pos += 1; // flags, currently unused
        const commitLsn = this.lsn();
        const endLsn = this.lsn();
        const commitTime = this.timestamp();
        return { kind: 'commit', commitLsn, endLsn, commitTime };
      }
      case TAG_ORIGIN: {
        const lsn = this.lsn();
        const name = this.cstring();
        return { kind: 'origin', lsn, name };
      }
      case TAG_RELATION:
        return this.relation();
      case TAG_TYPE: {
        const xid = this.streamXid();
        const typeOid = this.u32();
        const schema = this.namespace();
        const name = this.cstring();
        return withXid({ kind: 'type', typeOid, schema, name }, xid);
      }
      case TAG_INSERT: {
        const xid = this.streamXid();
        const relationId = this.u32();
        this.expect(TUPLE_NEW, "'N'");
        // Copied, unless buffers stay: the message buffer may be reused once this call returns.
        const count = this.scanTuple(relationId);
        return new EncodedInsert(relationId, this.row, this.rowStart, this.rowEnd, count, xid);
      }
      case TAG_UPDATE:
        return this.update();
      case TAG_DELETE: {
        const xid = this.streamXid();
        const relationId = this.u32();
        const kind = this.u8();
        if (kind !== TUPLE_KEY && kind !== TUPLE_OLD) {
          this.pos -= 1;
          throw this.fail(`expected 'K' or 'O' tuple, got ${describeByte(kind)}`);
        }
        // Copied, unless buffers stay: the message buffer may be reused once this call returns.
        const count = this.scanTuple(relationId);
        return new EncodedDelete(relationId, kind === TUPLE_KEY, new TupleBytes(this.row, this.rowStart, this.rowEnd, count), xid);
      }
      case TAG_TRUNCATE: {
        const xid = this.streamXid();
        const count = this.u32();
        const options = this.u8();
        const relationIds = new Array<number>(count);
        for (let i = 0; i < count; i++) relationIds[i] = this.u32();
        return withXid({
          kind: 'truncate',
          relationIds,
          cascade: (options & 1) !== 0,
          restartIdentity: (options & 2) !== 0,
        }, xid);
      }
      case TAG_MESSAGE: {
        const xid = this.streamXid();
        const flags = this.u8();
        const lsn = this.lsn();
        const prefix = this.cstring();
        const length = this.u32();
        const end = this.pos + length;
        if (end > this.end) throw this.fail(`message content of ${length} bytes overruns the message`);
        // Copied: the payload is a view into a buffer the connection reuses.
        const content = Buffer.from(this.buf.subarray(this.pos, end));
        this.pos = end;
        return withXid({ kind: 'message', transactional: (flags & 1) !== 0, lsn, prefix, content }, xid);
      }
      case TAG_STREAM_START: {
        this.requireStreaming('Stream Start');
        if (this.inStream) throw this.fail('Stream Start inside a stream (missing Stream Stop)');
        const xid = this.u32();
        const firstSegment = this.u8() === 1;
        this.inStream = true;
        return { kind: 'stream-start', xid, firstSegment };
      }
      case TAG_STREAM_STOP:
        this.requireStreaming('Stream Stop');
        if (!this.inStream) throw this.fail('Stream Stop outside a stream');
        this.inStream = false;
        return { kind: 'stream-stop' };
      case TAG_STREAM_COMMIT: {
        this.requireStreaming('Stream Commit');
        const xid = this.u32();
        this.pos += 1; // flags, currently unused
        const commitLsn = this.lsn();
        const endLsn = this.lsn();
        const commitTime = this.timestamp();
        return { kind: 'stream-commit', xid, commitLsn, endLsn, commitTime };
      }
      case TAG_STREAM_ABORT: {
        this.requireStreaming('Stream Abort');
        const xid = this.u32();
        const subXid = this.u32();
        // Abort LSN and time, only sent with streaming = parallel; the
        // standby applies nothing of an aborted transaction, so skip them.
        if (this.protocolVersion >= STREAM_ABORT_EXTRA_PROTOCOL && this.end - this.pos === STREAM_ABORT_EXTRA_BYTES) {
          this.pos += STREAM_ABORT_EXTRA_BYTES;
        }
        return { kind: 'stream-abort', xid, subXid };
      }
      default:
        this.pos = this.base;
        throw this.fail('unknown message tag', undefined,
          'ferry decodes pgoutput protocol 1-4 without two_phase; check proto_version and the slot options');
    }
  }

  private relation(): Change {
    const xid = this.streamXid();
    const relationId = this.u32();
    const schema = this.namespace();
    const table = this.cstring();
    const replicaIdentity = this.replicaIdentity();
    const count = this.u16();
    const columns = new Array<Column>(count);
    for (let i = 0; i < count; i++) {
      const flags = this.u8();
      const name = this.cstring();
      const typeOid = this.u32();
      const typeMod = this.i32();
      columns[i] = { name, typeOid, typeMod, isKey: (flags & 1) !== 0 };
    }
    const relation: Relation = this.binary
      ? { relationId, schema, table, replicaIdentity, columns, binary: true }
      : { relationId, schema, table, replicaIdentity, columns };
    return withXid({ kind: 'relation', relation }, xid);
  }

  private update(): Change {
    const xid = this.streamXid();
    const relationId = this.u32();
    let kind = this.u8();
    let oldCount = -1;
    let oldStart = 0;
    let oldEnd = 0;
    let oldIsKeyOnly = false;
    if (kind === TUPLE_KEY || kind === TUPLE_OLD) {
      oldIsKeyOnly = kind === TUPLE_KEY;
      oldCount = this.scanTuple(relationId, false);
      oldStart = this.rowStart;
      oldEnd = this.rowEnd;
      kind = this.u8();
    }
    if (kind !== TUPLE_NEW) {
      this.pos -= 1;
      throw this.fail(`expected 'N' tuple, got ${describeByte(kind)}`);
    }
    const count = this.scanTuple(relationId, oldCount < 0);
    if (oldCount < 0) return new EncodedUpdate(relationId, new TupleBytes(this.row, this.rowStart, this.rowEnd, count), xid);
    // Both rows in one copy: they lie next to each other in the message.
    const newStart = this.rowStart;
    const shift = this.keep(oldStart, this.rowEnd);
    const old = new TupleBytes(this.row, oldStart + shift, oldEnd + shift, oldCount);
    return new EncodedUpdateWithOld(relationId, old, oldIsKeyOnly, new TupleBytes(this.row, newStart + shift, this.rowEnd, count), xid);
  }

  /**
   * Checks every column of a TupleData and leaves a copy of its bytes in
   * `row` from `rowStart` to `rowEnd` (with `copied` false: where they are in
   * the message); returns the column count.
   */
  private scanTuple(relationId: number, copied = true): number {
    const buf = this.buf;
    const count = this.u16();
    const start = this.pos;
    let pos = start;
    for (let i = 0; i < count; i++) {
      const kind = pos < this.end ? buf[pos] : undefined;
      if (kind === COL_TEXT || (kind === COL_BINARY && this.binary)) {
        // A short value must be an error, not a truncated string.
        const length = pos + 5 <= this.end ? buf.readUInt32BE(pos + 1) : Infinity;
        const end = pos + 5 + length;
        if (end > this.end) {
          this.pos = pos;
          throw this.fail(`column ${i + 1} of relation ${relationId}: value of ${length} bytes overruns the message`);
        }
        pos = end;
      } else if (kind === COL_NULL || kind === COL_UNCHANGED) {
        pos += 1;
      } else {
        this.pos = pos;
        if (kind === COL_BINARY) {
          throw this.fail(`column ${i + 1} of relation ${relationId} is in binary format`, undefined,
            "the stream was started without pgoutput's binary option: the slot is read by another client with other options");
        }
        throw this.fail(kind === undefined
          ? `tuple of relation ${relationId} ends after ${i} of ${count} columns`
          : `column ${i + 1} of relation ${relationId} has unknown kind ${describeByte(kind)}`);
      }
    }
    this.pos = pos;
    if (copied) {
      this.keep(start, pos);
    } else {
      this.rowStart = start;
      this.rowEnd = pos;
    }
    return count;
  }

  /**
   * Copies `buf[start, end)` into the slab (unless buffers stay) and points
   * `row` at the copy; returns how far the copy is from the original.
   */
  private keep(start: number, end: number): number {
    if (this.buffersStay) {
      this.row = this.buf;
      this.rowStart = start;
      this.rowEnd = end;
      return 0;
    }
    const length = end - start;
    if (this.slabUsed + length > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, length));
      this.slabUsed = 0;
    }
    const at = this.slabUsed;
    this.buf.copy(this.slab, at, start, end);
    this.slabUsed += length;
    this.row = this.slab;
    this.rowStart = at;
    this.rowEnd = at + length;
    return at - start;
  }

  private replicaIdentity(): ReplicaIdentity {
    const b = this.u8();
    switch (b) {
      case 0x64: return 'default'; // d
      case 0x6e: return 'nothing'; // n
      case 0x66: return 'full'; // f
      case 0x69: return 'index'; // i
      default:
        this.pos -= 1;
        throw this.fail(`unknown replica identity ${describeByte(b)}`);
    }
  }

  /** The xid that streamed data messages carry right after the tag. */
  private streamXid(): number | undefined {
    return this.inStream ? this.u32() : undefined;
  }

  private requireStreaming(what: string): void {
    if (this.protocolVersion < MIN_STREAM_PROTOCOL) {
      this.pos = this.base;
      throw this.fail(`${what} is not part of protocol version ${this.protocolVersion}`, undefined,
        'streaming needs proto_version 2 or later');
    }
  }

  private expect(byte: number, what: string): void {
    const got = this.u8();
    if (got !== byte) {
      this.pos -= 1;
      throw this.fail(`expected ${what}, got ${describeByte(got)}`);
    }
  }

  /** The message holds `bytes` more from the read position on: the buffer may go on past its end. */
  private need(bytes: number): void {
    if (this.pos + bytes > this.end) throw new RangeError(`${bytes} byte(s) wanted at offset ${this.pos - this.base}`);
  }

  private u8(): number {
    this.need(1);
    const v = this.buf.readUInt8(this.pos);
    this.pos += 1;
    return v;
  }

  private u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  private u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  private i32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  private lsn(): Lsn {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** int64 microseconds since 2000-01-01; signed, as PostgreSQL's TimestampTz. */
  private timestamp(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  private cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0 || end >= this.end) throw this.fail('unterminated string');
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }

  /** pgoutput sends an empty namespace for pg_catalog. */
  private namespace(): string {
    const s = this.cstring();
    return s === '' ? 'pg_catalog' : s;
  }

  private fail(what: string, cause?: unknown, hint?: string): FerryError {
    const tag = this.end > this.base ? describeByte(this.buf[this.base] as number) : 'none (empty message)';
    return new FerryError(CODE, `cannot decode pgoutput message with tag ${tag} at offset ${this.pos - this.base}: ${what}`, hint,
      cause === undefined ? {} : { cause });
  }
}

/** Adds the xid only when present, so changes outside streams have no `xid` key at all. */
function withXid(change: Change, xid: number | undefined): Change {
  if (xid !== undefined) (change as WithXid).xid = xid;
  return change;
}

function describeByte(b: number): string {
  const printable = b >= 0x20 && b < 0x7f;
  return printable ? `'${String.fromCharCode(b)}' (0x${b.toString(16).padStart(2, '0')})` : `0x${b.toString(16).padStart(2, '0')}`;
}
