/**
 * MySQL's temporal storage formats, as row images carry them, turned into
 * PostgreSQL input syntax. The fractional part is written with exactly the
 * column's precision (fsp) digits, as the server shows it, which loses
 * nothing since that is all the column stores.
 *
 * The "2" formats (MySQL 5.6.4+, MariaDB 10.1+ with
 * mysql56_temporal_format) are big-endian with an offset instead of a sign
 * bit, so they sort as bytes; the old formats (DATETIME as a decimal
 * YYYYMMDDhhmmss, TIME as decimal HHMMSS, TIMESTAMP as seconds) still appear
 * for columns created before an upgrade.
 */

function pad(n: number | bigint, width: number): string {
  return String(n).padStart(width, '0');
}

/** Microseconds as `fsp` digits after a point, or nothing for fsp 0. */
function fraction(micros: number, fsp: number): string {
  if (fsp <= 0) return '';
  return `.${pad(Math.trunc(micros / 10 ** (6 - fsp)), fsp)}`;
}

/** Bytes of the fractional part after the integer part, by fsp. */
export function fractionBytes(fsp: number): number {
  return Math.ceil(fsp / 2);
}

/** Reads a big-endian fraction of `fsp` precision as microseconds; `signed` for DATETIME2's and TIME2's signed storage. */
function readFraction(buf: Buffer, at: number, fsp: number, signed: boolean): number {
  switch (fractionBytes(fsp)) {
    case 0: return 0;
    case 1: return (signed ? buf.readInt8(at) : buf[at] as number) * 10000;
    case 2: return (signed ? buf.readInt16BE(at) : buf.readUInt16BE(at)) * 100;
    default: return signed ? buf.readIntBE(at, 3) : buf.readUIntBE(at, 3);
  }
}

export function date(v: number): string {
  return `${pad(v >> 9, 4)}-${pad((v >> 5) & 15, 2)}-${pad(v & 31, 2)}`;
}

/** DATETIME2: 5 bytes (1 sign bit, 17 bits year*13+month, 5 day, 5 hour, 6 minute, 6 second), then the fraction. */
export function datetime2(buf: Buffer, at: number, fsp: number): string {
  const intPart = buf.readUIntBE(at, 5) - 0x8000000000;
  const micros = readFraction(buf, at + 5, fsp, true);
  return formatDatetimeInt(intPart, micros, fsp);
}

function formatDatetimeInt(intPart: number, micros: number, fsp: number): string {
  const ymd = Math.floor(intPart / 2 ** 17);
  const ym = Math.floor(ymd / 32);
  const hms = intPart % 2 ** 17;
  return `${pad(Math.floor(ym / 13), 4)}-${pad(ym % 13, 2)}-${pad(ymd % 32, 2)} `
    + `${pad(Math.floor(hms / 4096), 2)}:${pad((hms >> 6) % 64, 2)}:${pad(hms % 64, 2)}${fraction(micros, fsp)}`;
}

/** Old DATETIME: a little-endian u64 whose decimal digits are YYYYMMDDhhmmss. */
export function datetimeOld(v: bigint): string {
  const s = pad(v, 14);
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)} ${s.slice(8, 10)}:${s.slice(10, 12)}:${s.slice(12, 14)}`;
}

/**
 * TIMESTAMP2: big-endian seconds since the epoch, then the fraction; a
 * point in time, written in UTC with its offset so that PostgreSQL's
 * timestamptz input reads the same instant. 0 is MySQL's zero timestamp.
 */
export function timestamp2(buf: Buffer, at: number, fsp: number): string {
  const seconds = buf.readUInt32BE(at);
  const micros = readFraction(buf, at + 4, fsp, false);
  return formatTimestamp(seconds, micros, fsp);
}

export function formatTimestamp(seconds: number, micros: number, fsp: number): string {
  if (seconds === 0 && micros === 0) return `0000-00-00 00:00:00${fraction(0, fsp)}`;
  const d = new Date(seconds * 1000);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)} `
    + `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}${fraction(micros, fsp)}+00`;
}

/**
 * TIME2: 3 bytes (1 sign bit, 1 unused, 10 hour, 6 minute, 6 second) with an
 * offset of 0x800000, then the fraction; negative values borrow from the
 * integer part, as MySQL's my_time_packed_from_binary undoes. Hours reach
 * 838, which PostgreSQL's interval input reads (its time type does not).
 */
export function time2(buf: Buffer, at: number, fsp: number): string {
  let packed: bigint;
  const fb = fractionBytes(fsp);
  if (fb === 3) {
    packed = BigInt(buf.readUIntBE(at, 6)) - 0x800000000000n;
  } else {
    let intPart = buf.readUIntBE(at, 3) - 0x800000;
    let frac = fb === 0 ? 0 : fb === 1 ? buf[at + 3] as number : buf.readUInt16BE(at + 3);
    if (intPart < 0 && frac !== 0) {
      intPart += 1;
      frac -= fb === 1 ? 0x100 : 0x10000;
    }
    packed = (BigInt(intPart) << 24n) + BigInt(frac * (fb === 1 ? 10000 : fb === 2 ? 100 : 0));
  }
  return formatPackedTime(packed, fsp);
}

/** MySQL's packed time (integer part << 24 | microseconds), as `[-]H:MM:SS[.f]`. */
export function formatPackedTime(packed: bigint, fsp: number): string {
  const negative = packed < 0n;
  const abs = negative ? -packed : packed;
  const hms = Number(abs >> 24n);
  const micros = Number(abs % (1n << 24n));
  const hour = (hms >> 12) % 1024;
  return `${negative ? '-' : ''}${pad(hour, 2)}:${pad((hms >> 6) % 64, 2)}:${pad(hms % 64, 2)}${fraction(micros, fsp)}`;
}

/** MySQL's packed datetime (as JSON opaque values hold it), as text; `dateOnly` for DATE. */
export function formatPackedDatetime(packed: bigint, dateOnly: boolean): string {
  const abs = packed < 0n ? -packed : packed;
  const intPart = Number(abs >> 24n);
  const micros = Number(abs % (1n << 24n));
  const text = formatDatetimeInt(intPart, micros, 6);
  return dateOnly ? text.slice(0, 10) : text;
}

/** Old TIME: a signed 3-byte little-endian integer whose decimal digits are HHMMSS. */
export function timeOld(v: number): string {
  const negative = v < 0;
  const abs = Math.abs(v);
  return `${negative ? '-' : ''}${pad(Math.floor(abs / 10000), 2)}:${pad(Math.floor(abs / 100) % 100, 2)}:${pad(abs % 100, 2)}`;
}
