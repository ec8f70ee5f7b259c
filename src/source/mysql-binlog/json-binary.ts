import { ColumnType } from './column-types.js';
import { decodeDecimal } from './decimal.js';
import { formatPackedDatetime, formatPackedTime } from './temporal.js';

/**
 * MySQL's binary JSON (the JSON column's storage, "json_binary" in its
 * source), as JSON text that PostgreSQL's json/jsonb input reads. MariaDB
 * stores JSON as text and never sends this format.
 *
 * A value is a type byte and its data. Objects and arrays come in a small
 * form (2-byte counts and offsets) and a large one (4-byte); their entries
 * point at values by offset from the container's start, except that values
 * small enough (literals, 16-bit integers; 32-bit ones in the large form)
 * are stored inline in the entry. Keys are sorted by length then bytes,
 * which is the order we print them in.
 */

const T = {
  SMALL_OBJECT: 0x00, LARGE_OBJECT: 0x01, SMALL_ARRAY: 0x02, LARGE_ARRAY: 0x03, LITERAL: 0x04,
  INT16: 0x05, UINT16: 0x06, INT32: 0x07, UINT32: 0x08, INT64: 0x09, UINT64: 0x0a, DOUBLE: 0x0b,
  STRING: 0x0c, OPAQUE: 0x0f,
} as const;

export class JsonFormatError extends Error {}

export function decodeJsonBinary(data: Buffer): string {
  // An empty value is what the server writes for a JSON null it stored as such.
  if (data.length === 0) return 'null';
  return value(data, data[0] as number, 1, data.length);
}

function value(buf: Buffer, type: number, at: number, end: number): string {
  need(at, 0, end);
  switch (type) {
    case T.SMALL_OBJECT: return container(buf, at, end, false, true);
    case T.LARGE_OBJECT: return container(buf, at, end, true, true);
    case T.SMALL_ARRAY: return container(buf, at, end, false, false);
    case T.LARGE_ARRAY: return container(buf, at, end, true, false);
    case T.LITERAL: need(at, 1, end); return literal(buf[at] as number);
    case T.INT16: need(at, 2, end); return String(buf.readInt16LE(at));
    case T.UINT16: need(at, 2, end); return String(buf.readUInt16LE(at));
    case T.INT32: need(at, 4, end); return String(buf.readInt32LE(at));
    case T.UINT32: need(at, 4, end); return String(buf.readUInt32LE(at));
    case T.INT64: need(at, 8, end); return String(buf.readBigInt64LE(at));
    case T.UINT64: need(at, 8, end); return String(buf.readBigUInt64LE(at));
    case T.DOUBLE: need(at, 8, end); return formatDouble(buf.readDoubleLE(at));
    case T.STRING: {
      const [len, from] = varLength(buf, at, end);
      need(from, len, end);
      return JSON.stringify(buf.toString('utf8', from, from + len));
    }
    case T.OPAQUE: return opaque(buf, at, end);
    default: throw new JsonFormatError(`unknown JSON value type 0x${type.toString(16)} at byte ${at}`);
  }
}

function container(buf: Buffer, start: number, end: number, large: boolean, isObject: boolean): string {
  const w = large ? 4 : 2;
  const read = (p: number) => (large ? buf.readUInt32LE(p) : buf.readUInt16LE(p));
  need(start, 2 * w, end);
  const count = read(start);
  const size = read(start + w);
  const limit = start + size;
  if (limit > end) throw new JsonFormatError(`JSON container of ${size} bytes at byte ${start} overruns its value`);
  const keyEntry = isObject ? w + 2 : 0;
  const valueEntry = 1 + w;
  need(start, 2 * w + count * (keyEntry + valueEntry), limit);
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    let key = '';
    if (isObject) {
      const k = start + 2 * w + i * keyEntry;
      const keyOffset = read(k);
      const keyLength = buf.readUInt16LE(k + w);
      need(start + keyOffset, keyLength, limit);
      key = `${JSON.stringify(buf.toString('utf8', start + keyOffset, start + keyOffset + keyLength))}:`;
    }
    const e = start + 2 * w + count * keyEntry + i * valueEntry;
    const type = buf[e] as number;
    let text: string;
    if (inlined(type, large)) {
      text = value(buf, type, e + 1, e + 1 + w);
    } else {
      const offset = read(e + 1);
      text = value(buf, type, start + offset, limit);
    }
    parts.push(key + text);
  }
  return isObject ? `{${parts.join(',')}}` : `[${parts.join(',')}]`;
}

function inlined(type: number, large: boolean): boolean {
  return type === T.LITERAL || type === T.INT16 || type === T.UINT16 || (large && (type === T.INT32 || type === T.UINT32));
}

function literal(v: number): string {
  if (v === 0) return 'null';
  if (v === 1) return 'true';
  if (v === 2) return 'false';
  throw new JsonFormatError(`unknown JSON literal ${v}`);
}

/** The data length of strings and opaque values: 7 bits a byte, low bits first, high bit set when more follow. */
function varLength(buf: Buffer, at: number, end: number): [number, number] {
  let len = 0;
  for (let i = 0; i < 5; i++) {
    need(at + i, 1, end);
    const b = buf[at + i] as number;
    len += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return [len, at + i + 1];
  }
  throw new JsonFormatError(`JSON length at byte ${at} is longer than 5 bytes`);
}

/**
 * A value of another MySQL type kept in the JSON (CAST(... AS JSON) of a
 * DECIMAL or a temporal value): decimals print as numbers, temporal values as
 * strings with six fraction digits, as MySQL prints them; anything else as MySQL prints it too,
 * `"base64:typeN:..."`.
 */
function opaque(buf: Buffer, at: number, end: number): string {
  need(at, 1, end);
  const fieldType = buf[at] as number;
  const [len, from] = varLength(buf, at + 1, end);
  need(from, len, end);
  const data = buf.subarray(from, from + len);
  switch (fieldType) {
    case ColumnType.NEWDECIMAL: {
      if (data.length < 2) throw new JsonFormatError('JSON decimal opaque value is shorter than its precision and scale');
      return decodeDecimal(data, 2, data[0] as number, data[1] as number);
    }
    case ColumnType.DATE:
    case ColumnType.DATETIME:
    case ColumnType.TIMESTAMP: {
      if (data.length < 8) throw new JsonFormatError('JSON temporal opaque value is shorter than 8 bytes');
      const packed = data.readBigInt64LE(0);
      return JSON.stringify(formatPackedDatetime(packed, fieldType === ColumnType.DATE));
    }
    case ColumnType.TIME: {
      if (data.length < 8) throw new JsonFormatError('JSON time opaque value is shorter than 8 bytes');
      return JSON.stringify(formatPackedTime(data.readBigInt64LE(0), 6));
    }
    default:
      return JSON.stringify(`base64:type${fieldType}:${data.toString('base64')}`);
  }
}

function formatDouble(v: number): string {
  // JSON has no -0 distinct from 0 in PostgreSQL's jsonb; JavaScript's shortest round-trip form is exact.
  return Object.is(v, -0) ? '-0.0' : String(v);
}

function need(at: number, n: number, end: number): void {
  if (at + n > end) throw new JsonFormatError(`JSON value at byte ${at} needs ${n} byte(s) past its end`);
}
