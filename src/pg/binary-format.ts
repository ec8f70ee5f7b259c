import { FIRST_USER_OID } from '../catalog/catalog-sql.js';
import { BinaryValue, type EncodedRow, type Value } from '../change/change.js';

/**
 * PostgreSQL's binary format of values ("binary" send/receive functions),
 * where Ferry needs it: which columns may travel in it, arrays of values to
 * pass as one binary parameter, and the text of the few element types that
 * arrays need as text.
 */

const BOOL = 16;
const BYTEA = 17;
const NAME = 19;
const INT8 = 20;
const INT2 = 21;
const INT2VECTOR = 22;
const INT4 = 23;
const TEXT = 25;
const OID = 26;
const OIDVECTOR = 30;
const FLOAT4 = 700;
const FLOAT8 = 701;
const BPCHAR = 1042;
const VARCHAR = 1043;
const NUMERIC = 1700;
const UUID = 2950;

/**
 * Element types whose binary values Ferry can write as text. PostgreSQL has
 * no arrays of arrays, so a set-based statement passes array values as text;
 * an array column can travel in binary only if its elements are of these.
 */
const TEXT_ELEMENTS: ReadonlySet<number> = new Set([BOOL, BYTEA, NAME, INT8, INT2, INT4, TEXT, OID, FLOAT4, FLOAT8, BPCHAR, VARCHAR, NUMERIC, UUID]);

/** What the catalog says of a column's type, on one server. */
export interface ColumnType {
  readonly typeOid: number;
  /** pg_type.typtype: 'b' base, 'c' composite, 'd' domain, 'e' enum, 'r' range, … */
  readonly kind: string;
  /** Element type of an array type (type category 'A'), else 0. */
  readonly elementOid: number;
  /** The type has binary send and receive functions. */
  readonly hasBinary: boolean;
}

/** A catalog row selected with `binaryTypeColumns` (catalog-sql.ts); int8 columns arrive as strings. */
export interface BinaryTypeRow {
  readonly type_oid: string;
  readonly typtype: string;
  readonly typelem: string;
  readonly has_binary: boolean;
}

export function columnTypeOf(row: BinaryTypeRow): ColumnType {
  return { typeOid: Number(row.type_oid), kind: row.typtype, elementOid: Number(row.typelem), hasBinary: row.has_binary };
}

/**
 * Why a column cannot be written on the target from the source's binary
 * value, or undefined when it can: the same built-in base type on both sides
 * (binary formats of built-in types are the same on every version; those of
 * user types, composites and arrays of them carry OIDs that differ between
 * servers), with send and receive functions, and arrays only of element
 * types Ferry can write as text.
 */
export function binaryIncompatibility(source: ColumnType, target: ColumnType): string | undefined {
  if (source.typeOid !== target.typeOid) return 'its type differs between source and target';
  if (source.typeOid >= FIRST_USER_OID || source.kind !== 'b') return 'its type is not a built-in base type';
  if (!source.hasBinary || !target.hasBinary) return 'its type has no binary send and receive functions';
  // Arrays by their binary format, but not by their text.
  if (source.typeOid === INT2VECTOR || source.typeOid === OIDVECTOR) return 'its type is an internal vector type';
  if (source.elementOid !== 0 && !TEXT_ELEMENTS.has(source.elementOid)) return 'it is an array of a type whose values ferry passes only as text';
  return undefined;
}

/** A one-dimensional array of `elementOid` holding `values`, in array_recv's binary format. */
export function binaryArray(elementOid: number, values: readonly Value[]): Buffer {
  let bytes = 20;
  let hasNull = 0;
  for (const v of values) {
    if (v instanceof BinaryValue) bytes += 4 + v.length;
    else if (v === null) { bytes += 4; hasNull = 1; } else throw new TypeError('binaryArray: a value is not binary');
  }
  const out = Buffer.allocUnsafe(bytes);
  let at = out.writeInt32BE(1, 0);
  at = out.writeInt32BE(hasNull, at);
  at = out.writeUInt32BE(elementOid, at);
  at = out.writeInt32BE(values.length, at);
  at = out.writeInt32BE(1, at);
  for (const v of values) {
    if (v instanceof BinaryValue) {
      at = out.writeInt32BE(v.length, at);
      at = v.writeTo(out, at);
    } else {
      at = out.writeInt32BE(-1, at);
    }
  }
  return out;
}

/**
 * The same for each of `columns` (ascending) of `rows` (binary or NULL
 * there), straight from their encoded bytes: one array per column, each row
 * read twice in all, not twice per column.
 */
export function binaryArraysOfRows(elementOids: readonly number[], rows: readonly EncodedRow[], columns: readonly number[]): Buffer[] {
  const lengths = new Int32Array(columns.length);
  const nulls = new Uint8Array(columns.length);
  for (const row of rows) row.measureColumns(columns, lengths, nulls);
  const at = new Int32Array(columns.length);
  const outs = columns.map((_, n) => {
    const out = Buffer.allocUnsafe(20 + 4 * rows.length + (lengths[n] as number));
    let to = out.writeInt32BE(1, 0);
    to = out.writeInt32BE(nulls[n] as number, to);
    to = out.writeUInt32BE(elementOids[n] as number, to);
    to = out.writeInt32BE(rows.length, to);
    at[n] = out.writeInt32BE(1, to);
    return out;
  });
  // Each element is its length and its bytes; NULL is a length of -1 alone.
  for (const row of rows) row.writeArrayElements(columns, outs, at);
  return outs;
}

/** The text form (array_in's input) of a binary array whose element type is one of TEXT_ELEMENTS. */
export function arrayText(bytes: Buffer): string {
  const ndim = bytes.readInt32BE(0);
  const elementOid = bytes.readUInt32BE(8);
  if (ndim === 0) return '{}';
  const dims: number[] = [];
  const lower: number[] = [];
  let pos = 12;
  for (let d = 0; d < ndim; d++) {
    dims.push(bytes.readInt32BE(pos));
    lower.push(bytes.readInt32BE(pos + 4));
    pos += 8;
  }
  const element = (): string => {
    const length = bytes.readInt32BE(pos);
    pos += 4;
    if (length < 0) return 'NULL';
    const text = scalarText(elementOid, bytes.subarray(pos, pos + length));
    pos += length;
    return needsQuotes(text) ? `"${text.replace(/["\\]/g, '\\$&')}"` : text;
  };
  const level = (d: number): string => {
    const parts: string[] = [];
    for (let i = 0; i < (dims[d] as number); i++) parts.push(d === ndim - 1 ? element() : level(d + 1));
    return `{${parts.join(',')}}`;
  };
  const bounds = lower.some((l) => l !== 1) ? `${dims.map((n, d) => `[${lower[d]}:${(lower[d] as number) + n - 1}]`).join('')}=` : '';
  return bounds + level(0);
}

/** array_out quotes an element that is empty, spells NULL, or holds a delimiter, brace, quote, backslash or space. */
function needsQuotes(text: string): boolean {
  return text === '' || /^null$/i.test(text) || /[{}",\\ \t\n\r\v\f]/.test(text);
}

/** The text of a binary value of a type in TEXT_ELEMENTS; the target's input function reads it back to the same value. */
export function scalarText(typeOid: number, v: Buffer): string {
  switch (typeOid) {
    case BOOL: return v[0] ? 't' : 'f';
    case INT2: return String(v.readInt16BE(0));
    case INT4: return String(v.readInt32BE(0));
    case INT8: return v.readBigInt64BE(0).toString();
    case OID: return String(v.readUInt32BE(0));
    case FLOAT4: return floatText(v.readFloatBE(0));
    case FLOAT8: return floatText(v.readDoubleBE(0));
    case NUMERIC: return numericText(v);
    case BYTEA: return `\\x${v.toString('hex')}`;
    case UUID: {
      const h = v.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    case TEXT: case VARCHAR: case BPCHAR: case NAME: return v.toString('utf8');
    default: throw new TypeError(`no text form for binary values of type ${typeOid}`);
  }
}

/** JavaScript prints the shortest text that reads back as the same double (or float); only -0 needs help. */
function floatText(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return Object.is(x, -0) ? '-0' : String(x);
}

const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;

/** numeric_send's format: digit count, weight of the first base-10000 digit, sign, display scale, digits. */
function numericText(v: Buffer): string {
  const ndigits = v.readInt16BE(0);
  const weight = v.readInt16BE(2);
  const sign = v.readUInt16BE(4);
  const dscale = v.readUInt16BE(6);
  if (sign === NUMERIC_NAN) return 'NaN';
  if (sign === NUMERIC_PINF) return 'Infinity';
  if (sign === NUMERIC_NINF) return '-Infinity';
  const digit = (k: number) => (k >= 0 && k < ndigits ? v.readInt16BE(8 + 2 * k) : 0);
  let text = sign === NUMERIC_NEG ? '-' : '';
  if (weight < 0) {
    text += '0';
  } else {
    for (let k = 0; k <= weight; k++) text += k === 0 ? String(digit(k)) : String(digit(k)).padStart(4, '0');
  }
  if (dscale > 0) {
    let fraction = '';
    for (let k = weight + 1; fraction.length < dscale; k++) fraction += String(digit(k)).padStart(4, '0');
    text += `.${fraction.slice(0, dscale)}`;
  }
  return text;
}

/** A value for a message: text as it is, a binary value as text where its type allows, else as hex. */
export function displayValue(value: Value, typeOid: number): string {
  if (value === null) return 'NULL';
  if (value === undefined) return '(unchanged)';
  if (typeof value === 'string') return value;
  const bytes = value.toBuffer();
  return TEXT_ELEMENTS.has(typeOid) ? scalarText(typeOid, bytes) : `\\x${bytes.toString('hex')}`;
}
