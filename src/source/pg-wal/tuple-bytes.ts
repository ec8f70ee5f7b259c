import { BinaryValue, SHORT_BYTES, type EncodedRow, type Tuple, type Value } from '../../change/change.js';
import { FerryError } from '../../errors.js';

const COL_NULL = 0x6e; // n
const COL_UNCHANGED = 0x75; // u
const COL_BINARY = 0x62; // b
const BACKSLASH = 0x5c;
const TAB = 0x09;
const NEWLINE = 0x0a;
const RETURN = 0x0d;

/**
 * pgoutput's TupleData (after its column count) for a row whose columns were
 * all checked by the decoder to be text, binary, NULL or unchanged and to
 * fit. COPY's text format is the same text with four bytes escaped; none of
 * them occurs inside a multi-byte UTF-8 sequence, so escaping works on bytes.
 * COPY's binary format is the same binary values, each behind its length.
 */
export class TupleBytes implements EncodedRow {
  /** The row is `bytes[start, end)`. */
  constructor(private readonly bytes: Buffer, private readonly start: number, private readonly end: number, private readonly count: number) {}

  get byteLength(): number {
    return this.end - this.start;
  }

  get copyBound(): number {
    return 2 * this.byteLength + 4 * this.count + 2;
  }

  value(index: number): Value {
    const bytes = this.bytes;
    let pos = this.start;
    for (let i = 0; i < this.count; i++) {
      const kind = bytes[pos] as number;
      if (kind === COL_NULL || kind === COL_UNCHANGED) {
        if (i === index) return kind === COL_NULL ? null : undefined;
        pos += 1;
        continue;
      }
      const length = bytes.readUInt32BE(pos + 1);
      if (i === index) return columnValue(bytes, pos, length);
      pos += 5 + length;
    }
    return undefined;
  }

  /** Every column's text. */
  decodeAll(): Tuple {
    const bytes = this.bytes;
    const values = new Array<Value>(this.count);
    let pos = this.start;
    for (let i = 0; i < this.count; i++) {
      const kind = bytes[pos] as number;
      if (kind === COL_NULL || kind === COL_UNCHANGED) {
        values[i] = kind === COL_NULL ? null : undefined;
        pos += 1;
      } else {
        const length = bytes.readUInt32BE(pos + 1);
        values[i] = columnValue(bytes, pos, length);
        pos += 5 + length;
      }
    }
    return values;
  }

  writeCopyText(columns: readonly number[], out: Buffer, at: number): number {
    const bytes = this.bytes;
    let pos = this.start;
    let next = 0;
    for (let i = 0; i < this.count && next < columns.length; i++) {
      const kind = bytes[pos] as number;
      const wanted = columns[next] === i;
      if (wanted && next > 0) out[at++] = TAB;
      if (kind === COL_NULL || kind === COL_UNCHANGED) {
        if (wanted) {
          out[at++] = BACKSLASH;
          out[at++] = 0x4e; // N
        }
        pos += 1;
      } else {
        const length = bytes.readUInt32BE(pos + 1);
        const end = pos + 5 + length;
        if (wanted) at = escapeInto(bytes, pos + 5, end, out, at);
        pos = end;
      }
      if (wanted) next++;
    }
    out[at++] = NEWLINE;
    return at;
  }

  writeCopyBinary(columns: readonly number[], out: Buffer, at: number): number {
    const bytes = this.bytes;
    at = out.writeInt16BE(columns.length, at);
    let pos = this.start;
    let next = 0;
    for (let i = 0; i < this.count && next < columns.length; i++) {
      const kind = bytes[pos] as number;
      const wanted = columns[next] === i;
      if (kind === COL_NULL || kind === COL_UNCHANGED) {
        if (wanted && kind === COL_UNCHANGED) throw new FerryError('FERRY_COPY_UNCHANGED', `column ${i + 1} of an inserted row was sent as unchanged`);
        if (wanted) at = out.writeInt32BE(-1, at);
        pos += 1;
      } else {
        const length = bytes.readUInt32BE(pos + 1);
        const end = pos + 5 + length;
        if (wanted) {
          if (kind !== COL_BINARY) throw new FerryError('FERRY_COPY_TEXT_VALUE', `column ${i + 1} arrived as text in a binary stream`);
          // The length and the value, as pgoutput sent them.
          if (length > SHORT_BYTES) {
            at += bytes.copy(out, at, pos + 1, end);
          } else {
            for (let p = pos + 1; p < end; p++) out[at++] = bytes[p] as number;
          }
        }
        pos = end;
      }
      if (wanted) next++;
    }
    return at;
  }
}

/** A value whose length is at `pos + 1`, binary or text. */
function columnValue(bytes: Buffer, pos: number, length: number): string | BinaryValue {
  return bytes[pos] === COL_BINARY ? new BinaryValue(bytes.toString('latin1', pos + 5, pos + 5 + length)) : bytes.toString('utf8', pos + 5, pos + 5 + length);
}

/** The letter after the backslash for each byte COPY's text format escapes; 0 for the others. */
const ESCAPE = new Uint8Array(256);
ESCAPE[BACKSLASH] = BACKSLASH;
ESCAPE[TAB] = 0x74; // t
ESCAPE[NEWLINE] = 0x6e; // n
ESCAPE[RETURN] = 0x72; // r

/** Byte by byte: measured faster than a native copy per value, as most values are short. */
function escapeInto(from: Buffer, start: number, end: number, out: Buffer, at: number): number {
  for (let p = start; p < end; p++) {
    const b = from[p] as number;
    const escaped = ESCAPE[b] as number;
    if (escaped === 0) {
      out[at++] = b;
    } else {
      out[at++] = BACKSLASH;
      out[at++] = escaped;
    }
  }
  return at;
}

/**
 * An insert whose row stays encoded until someone asks for `values`. It is
 * its own encoded row: one object per inserted row, as a batch holds many.
 */
export class EncodedInsert extends TupleBytes {
  readonly kind = 'insert';
  readonly xid?: number;
  private decoded?: Tuple;

  constructor(readonly relationId: number, bytes: Buffer, start: number, end: number, count: number, xid: number | undefined) {
    super(bytes, start, end, count);
    if (xid !== undefined) this.xid = xid;
  }

  get encoded(): EncodedRow {
    return this;
  }

  get values(): Tuple {
    this.decoded ??= this.decodeAll();
    return this.decoded;
  }
}
