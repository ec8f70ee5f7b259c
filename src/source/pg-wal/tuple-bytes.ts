import type { EncodedRow, Tuple, Value } from '../../change/change.js';

const COL_NULL = 0x6e; // n
const COL_UNCHANGED = 0x75; // u
const BACKSLASH = 0x5c;
const TAB = 0x09;
const NEWLINE = 0x0a;
const RETURN = 0x0d;

/**
 * pgoutput's TupleData (after its column count) for a row whose columns were
 * all checked by the decoder to be text, NULL or unchanged and to fit. COPY's
 * text format is the same text with four bytes escaped; none of them occurs
 * inside a multi-byte UTF-8 sequence, so escaping works on bytes.
 */
export class TupleBytes implements EncodedRow {
  /** The row is `bytes[start, end)`. */
  constructor(private readonly bytes: Buffer, private readonly start: number, private readonly end: number, private readonly count: number) {}

  get byteLength(): number {
    return this.end - this.start;
  }

  get copyTextBound(): number {
    return 2 * this.byteLength + 3 * this.count + 1;
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
      if (i === index) return bytes.toString('utf8', pos + 5, pos + 5 + length);
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
        values[i] = bytes.toString('utf8', pos + 5, pos + 5 + length);
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
