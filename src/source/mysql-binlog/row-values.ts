import type { ByteReader } from './byte-reader.js';
import { BINARY_COLLATION, textDecoder } from './charset.js';
import { ColumnType, columnTypeName } from './column-types.js';
import { decimalBytes, decodeDecimal } from './decimal.js';
import { decodeJsonBinary } from './json-binary.js';
import type { BinlogColumn } from './table-map.js';
import { date, datetime2, datetimeOld, formatTimestamp, fractionBytes, time2, timeOld, timestamp2 } from './temporal.js';

/**
 * One column's value in a row image:
 *
 * - a string in PostgreSQL input syntax for everything that has a text form
 *   that loses nothing: integers (signed or unsigned as the column's
 *   signedness says), DECIMAL, FLOAT/DOUBLE (the shortest text that reads
 *   back as the same 4- or 8-byte value), DATE, DATETIME, TIMESTAMP (UTC, with
 *   `+00`), TIME (`[-]H:MM:SS[.f]`, interval syntax: hours reach 838), YEAR,
 *   BIT (a bit string of the column's width), JSON (text), ENUM and SET (their
 *   labels, comma-separated for SET), and text columns decoded from their
 *   charset;
 * - a Buffer for bytes: BINARY/VARBINARY/BLOB, GEOMETRY (MySQL's internal
 *   form: 4-byte SRID, then WKB), and text whose charset the table map did
 *   not send or we cannot decode, or whose bytes are not valid UTF-8 in a
 *   UTF-8 column (the column's `collation` says which);
 * - null for SQL NULL.
 *
 * Where the table map lacks optional metadata the value stays lossless but
 * raw, and the column says so: integers read as signed when `unsigned` is
 * undefined (the catalog's type can add 2^bits back), ENUM/SET as the index
 * or bitmask in decimal when their labels are not known.
 *
 * Zero dates (`0000-00-00`) are passed on as MySQL writes them; mapping them
 * to something PostgreSQL accepts is the type map's decision.
 */
export type RowValue = string | Buffer | null;

export class UnsupportedColumnType extends Error {}

export function readValue(r: ByteReader, c: BinlogColumn): RowValue {
  switch (c.type) {
    case ColumnType.TINY: return integer(r, 1, c);
    case ColumnType.SHORT: return integer(r, 2, c);
    case ColumnType.INT24: return integer(r, 3, c);
    case ColumnType.LONG: return integer(r, 4, c);
    case ColumnType.LONGLONG: {
      r.need(8);
      const v = c.unsigned ? r.buf.readBigUInt64LE(r.pos) : r.buf.readBigInt64LE(r.pos);
      r.pos += 8;
      return String(v);
    }
    case ColumnType.FLOAT: {
      r.need(4);
      const v = r.buf.readFloatLE(r.pos);
      r.pos += 4;
      return shortestFloat(v);
    }
    case ColumnType.DOUBLE: {
      r.need(8);
      const v = r.buf.readDoubleLE(r.pos);
      r.pos += 8;
      return String(v);
    }
    case ColumnType.NEWDECIMAL: {
      const precision = c.precision ?? 0;
      const scale = c.scale ?? 0;
      const n = decimalBytes(precision, scale);
      r.need(n);
      const v = decodeDecimal(r.buf, r.pos, precision, scale);
      r.pos += n;
      return v;
    }
    case ColumnType.YEAR: {
      const v = r.u8();
      return v === 0 ? '0' : String(1900 + v);
    }
    case ColumnType.DATE:
    case ColumnType.NEWDATE:
      return date(r.u24());
    case ColumnType.TIME: {
      r.need(3);
      const v = r.buf.readIntLE(r.pos, 3);
      r.pos += 3;
      return timeOld(v);
    }
    case ColumnType.TIME2: return fixed(r, 3 + fractionBytes(c.fsp ?? 0), (at) => time2(r.buf, at, c.fsp ?? 0));
    case ColumnType.DATETIME: return datetimeOld(r.u64());
    case ColumnType.DATETIME2: return fixed(r, 5 + fractionBytes(c.fsp ?? 0), (at) => datetime2(r.buf, at, c.fsp ?? 0));
    case ColumnType.TIMESTAMP: return formatTimestamp(r.u32(), 0, 0);
    case ColumnType.TIMESTAMP2: return fixed(r, 4 + fractionBytes(c.fsp ?? 0), (at) => timestamp2(r.buf, at, c.fsp ?? 0));
    case ColumnType.BIT: {
      const bits = c.bits ?? 0;
      const bytes = r.bytes((bits + 7) >> 3);
      let text = '';
      for (const b of bytes) text += b.toString(2).padStart(8, '0');
      return text.slice(text.length - bits);
    }
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING:
      return text(r.bytes((c.maxLength ?? 0) > 255 ? r.u16() : r.u8()), c);
    case ColumnType.STRING:
      if (c.realType === ColumnType.ENUM) return enumValue(r.uint(c.packLength ?? 1), c);
      if (c.realType === ColumnType.SET) return setValue(r, c);
      return text(r.bytes((c.maxLength ?? 0) > 255 ? r.u16() : r.u8()), c, true);
    case ColumnType.ENUM: return enumValue(r.uint(c.packLength ?? 1), c);
    case ColumnType.SET: return setValue(r, c);
    case ColumnType.BLOB:
      return text(r.bytes(r.uint(c.packLength ?? 4)), c);
    case ColumnType.GEOMETRY:
      return Buffer.from(r.bytes(r.uint(c.packLength ?? 4)));
    case ColumnType.JSON:
      return decodeJsonBinary(r.bytes(r.uint(c.packLength ?? 4)));
    case ColumnType.NULL:
      return null;
    default:
      throw new UnsupportedColumnType(`column ${c.name ?? c.index + 1} has type ${columnTypeName(c.type)}, which row images of this decoder do not support`);
  }
}

function integer(r: ByteReader, n: number, c: BinlogColumn): string {
  r.need(n);
  const v = c.unsigned ? r.buf.readUIntLE(r.pos, n) : r.buf.readIntLE(r.pos, n);
  r.pos += n;
  return String(v);
}

function fixed(r: ByteReader, n: number, read: (at: number) => string): string {
  r.need(n);
  const v = read(r.pos);
  r.pos += n;
  return v;
}

/**
 * Text in the column's charset, or bytes. BINARY(n) is stored without its
 * trailing zero bytes, which the column adds back on every read: so do we.
 */
function text(bytes: Buffer, c: BinlogColumn, padBinary = false): RowValue {
  if (c.collation === undefined || c.collation === BINARY_COLLATION) {
    const copy = Buffer.alloc(padBinary && c.collation === BINARY_COLLATION ? Math.max(c.maxLength ?? 0, bytes.length) : bytes.length);
    bytes.copy(copy);
    return copy;
  }
  const decode = textDecoder(c.collation);
  if (!decode) return Buffer.from(bytes);
  try {
    return decode(bytes);
  } catch {
    // Bytes invalid in the column's charset stay bytes: the value map decides what they become.
    return Buffer.from(bytes);
  }
}

function enumValue(index: number, c: BinlogColumn): string {
  if (!c.enumValues) return String(index);
  // Index 0 is the empty string MySQL stores for an invalid value in non-strict mode.
  if (index === 0) return '';
  const label = c.enumValues[index - 1];
  if (label === undefined) throw new RangeError(`ENUM index ${index} is past the column's ${c.enumValues.length} labels`);
  return label;
}

function setValue(r: ByteReader, c: BinlogColumn): string {
  const n = c.packLength ?? 1;
  r.need(n);
  let mask = 0n;
  for (let i = n - 1; i >= 0; i--) mask = (mask << 8n) | BigInt(r.buf[r.pos + i] as number);
  r.pos += n;
  if (!c.setValues) return String(mask);
  const labels: string[] = [];
  c.setValues.forEach((label, i) => { if ((mask >> BigInt(i)) & 1n) labels.push(label); });
  return labels.join(',');
}

/** The shortest decimal text that reads back as the same 4-byte float (String() would give its exact double expansion). */
export function shortestFloat(v: number): string {
  for (let digits = 1; digits < 9; digits++) {
    const text = v.toPrecision(digits);
    if (Math.fround(Number(text)) === v) return String(Number(text));
  }
  return String(v);
}
