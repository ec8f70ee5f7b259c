import iconv from 'iconv-lite';
import { FerryError } from '../../errors.js';
import { decodeMySqlLatin1 } from './charset.js';
import type { MySqlColumn } from './mysql-catalog.js';
import { shortestFloat, type RowValue } from './row-values.js';
import type { PgColumn, TypeMapOptions } from './type-map.js';

/**
 * One MySQL value → the text PostgreSQL's input function for the mapped
 * type accepts, or null. The input is a value as the binlog decoder writes
 * it (row-values.ts), or as the copy's SELECT (copy-select.ts) writes the
 * same value: both give the same form, so both go through here.
 *
 * A value PostgreSQL cannot hold as it is (a zero date, a NUL character,
 * bytes invalid in their charset, ENUM's '' error value, a `tinyint(1)`
 * other than 0/1 read as boolean) is an error naming the table, the row's
 * key and the column, with the option that changes it, unless that option
 * asks for the documented replacement.
 */
export interface ValuePlace {
  /** `database.table` on the source. */
  readonly table: string;
  /** The row's key as `col=value, …`, computed only when an error needs it. */
  readonly key: () => string;
}

export function mapValue(value: RowValue, source: MySqlColumn, target: PgColumn, options: TypeMapOptions, place: ValuePlace): string | null {
  if (value === null) return null;
  const fail = (code: string, what: string, hint: string): never => {
    throw new FerryError(code, `${place.table}, row ${place.key()}, column ${source.name}: ${what}`, hint, { context: { table: place.table } });
  };
  switch (target.kind) {
    case 'float':
      return floatText(asText(value), target.type === 'real');
    case 'integer': {
      const v = asText(value);
      // A table map without signedness metadata gives unsigned columns as signed: the catalog adds 2^bits back.
      const bits = INTEGER_BITS[source.dataType];
      return source.unsigned && bits && v.startsWith('-') ? String(BigInt(v) + (1n << bits)) : v;
    }
    case 'numeric':
    case 'time':
    case 'year':
    case 'bit':
      return asText(value);
    case 'boolean': {
      const v = asText(value);
      if (v === '0') return 'false';
      if (v === '1') return 'true';
      return fail('FERRY_MYSQL_VALUE_NOT_BOOLEAN', `tinyint(1) value ${v} is neither 0 nor 1 and the column is mapped to boolean`,
        'set tinyint1_as_boolean: false to keep tinyint(1) as smallint, or correct the value on the source');
    }
    case 'date':
    case 'datetime':
    case 'timestamp': {
      const v = asText(value);
      if (isZeroDate(v)) {
        if (options.zero_dates === 'null') return null;
        return fail('FERRY_MYSQL_ZERO_DATE', `zero date ${v} has no PostgreSQL equivalent`,
          'set zero_dates: null to write NULL for zero dates, or correct the value on the source');
      }
      // MySQL's year 0 is the proleptic Gregorian 1 BC, which PostgreSQL writes as year 1 BC.
      if (v.startsWith('0000-')) return `0001${v.slice(4)} BC`;
      return v;
    }
    case 'text': {
      const v = typeof value === 'string' ? value : decodeText(value, source, options, fail);
      return withoutNul(v, options, fail);
    }
    case 'enum': {
      const v = asText(value);
      if (v === '' && !source.labels.includes('')) {
        if (options.enum_invalid === 'null') return null;
        return fail('FERRY_MYSQL_ENUM_INVALID', `ENUM value '' (index 0, what MySQL stores for an invalid value outside strict mode) is not one of the column's labels`,
          "set enum_invalid: null to write NULL for it, or correct the value on the source");
      }
      return v;
    }
    case 'set': {
      const v = asText(value);
      return `{${v === '' ? '' : v.split(',').map((m) => `"${m.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
    }
    case 'json':
      return withoutJsonNul(asText(value), options, fail);
    case 'bytes':
      return `\\x${(typeof value === 'string' ? Buffer.from(value, 'utf8') : value).toString('hex')}`;
    case 'uuid':
      return typeof value === 'string' ? value : formatUuid(value);
    case 'inet6':
      return typeof value === 'string' ? value : formatInet6(value);
    case 'inet4':
      return typeof value === 'string' ? value : [...value].join('.');
  }
}

const INTEGER_BITS: Readonly<Record<string, bigint>> = { tinyint: 8n, smallint: 16n, mediumint: 24n, int: 32n, integer: 32n, bigint: 64n };

function asText(value: string | Buffer): string {
  return typeof value === 'string' ? value : value.toString('utf8');
}

/**
 * One text per value, whoever wrote it: the copy gives a FLOAT's exact value
 * as DOUBLE text and the server writes exponents as `e308`, the decoder as
 * JavaScript does (`e+308`); both read back as the same number, and -0 keeps
 * its sign.
 */
function floatText(v: string, float32: boolean): string {
  const n = float32 ? Math.fround(Number(v)) : Number(v);
  if (Object.is(n, -0)) return '-0';
  return float32 ? shortestFloat(n) : String(n);
}

/** A date (or the date part of a datetime) with a zero month or day: `0000-00-00`, `2024-00-10`, `2024-02-00`. */
export function isZeroDate(v: string): boolean {
  return /^\d{4}-(00-\d{2}|\d{2}-00)/.test(v);
}

type Fail = (code: string, what: string, hint: string) => never;

/**
 * Text the decoder left as bytes (a charset it has no decoder for, or
 * bytes invalid in the charset) is decoded here with the catalog's
 * charset; UTF-8 strictly, so invalid bytes are found, not hidden.
 */
function decodeText(bytes: Buffer, source: MySqlColumn, options: TypeMapOptions, fail: Fail): string {
  const charset = (source.charset ?? 'binary').toLowerCase();
  const fatal = options.invalid_text === 'error';
  if (charset.startsWith('utf8')) {
    try {
      return new TextDecoder('utf-8', { fatal }).decode(bytes);
    } catch {
      return fail('FERRY_MYSQL_INVALID_TEXT', `bytes ${bytes.toString('hex')} are not valid ${charset}`,
        'set invalid_text: replace to write U+FFFD for invalid bytes, or correct the value on the source');
    }
  }
  if (charset === 'latin1') return decodeMySqlLatin1(bytes);
  const encoding = charset === 'ascii' ? 'latin1' : charset;
  if (!iconv.encodingExists(encoding)) {
    return fail('FERRY_MYSQL_CHARSET', `charset ${charset} is not one Ferry can decode`,
      `convert the column to utf8mb4 on the source (ALTER TABLE … CONVERT TO CHARACTER SET utf8mb4)`);
  }
  return iconv.decode(bytes, encoding);
}

function withoutNul(v: string, options: TypeMapOptions, fail: Fail): string {
  if (!v.includes('\0')) return v;
  if (options.nul_bytes === 'strip') return v.replace(/\0/g, '');
  return fail('FERRY_MYSQL_NUL', 'text contains a NUL character, which PostgreSQL text cannot hold',
    'set nul_bytes: strip to remove NUL characters, or correct the value on the source');
}

/** jsonb cannot hold the escape `\u0000` either; other escapes stay as they are. */
function withoutJsonNul(v: string, options: TypeMapOptions, fail: Fail): string {
  if (!v.includes('\\u0000')) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\\' && v.startsWith('u0000', i + 1)) {
      if (options.nul_bytes !== 'strip') {
        fail('FERRY_MYSQL_NUL', 'JSON contains the escape \\u0000, which PostgreSQL jsonb cannot hold',
          'set nul_bytes: strip to remove NUL characters, or correct the value on the source');
      }
      i += 5;
      continue;
    }
    if (v[i] === '\\') out += v[i++];
    out += v[i] ?? '';
  }
  return out;
}

export function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * 16 bytes as IPv6 text the way inet_ntop (and MariaDB's INET6) writes it:
 * the longest run of two or more zero groups as `::`, and IPv4-mapped and
 * IPv4-compatible addresses with their last 32 bits dotted.
 */
export function formatInet6(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  const dotted = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  if (groups.slice(0, 5).every((g) => g === 0)) {
    if (groups[5] === 0xffff) return `::ffff:${dotted}`;
    if (groups[5] === 0 && (groups[6] !== 0 || (groups[7] ?? 0) > 1)) return `::${dotted}`;
  }
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`;
}
