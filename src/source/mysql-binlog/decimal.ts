/**
 * MySQL's packed DECIMAL (`decimal2bin` in its strings/decimal.cc): the
 * integer digits and the fraction digits each in groups of nine, four bytes
 * per full group and 1 to 4 bytes for a leading (integer) or trailing
 * (fraction) partial group, big-endian. The first bit is flipped so that
 * values sort as bytes; negative values have every byte inverted.
 */

const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4] as const;
const DIGITS_PER_GROUP = 9;

export function decimalBytes(precision: number, scale: number): number {
  const intg = precision - scale;
  return Math.floor(intg / 9) * 4 + (DIG2BYTES[intg % 9] as number) + Math.floor(scale / 9) * 4 + (DIG2BYTES[scale % 9] as number);
}

/** The value at `at` as PostgreSQL numeric input: `-123.4500` (scale digits kept, as the column stores them). */
export function decodeDecimal(buf: Buffer, at: number, precision: number, scale: number): string {
  const size = decimalBytes(precision, scale);
  const bytes = Buffer.from(buf.subarray(at, at + size));
  if (bytes.length !== size) throw new RangeError(`decimal(${precision},${scale}) needs ${size} bytes`);
  const negative = ((bytes[0] as number) & 0x80) === 0;
  bytes[0] = (bytes[0] as number) ^ 0x80;
  if (negative) for (let i = 0; i < size; i++) bytes[i] = ~(bytes[i] as number) & 0xff;

  const intg = precision - scale;
  let pos = 0;
  const group = (n: number): number => {
    const v = n === 0 ? 0 : bytes.readUIntBE(pos, n);
    pos += n;
    return v;
  };
  let intText = '';
  const lead = intg % DIGITS_PER_GROUP;
  if (lead > 0) intText += String(group(DIG2BYTES[lead] as number));
  for (let i = 0; i < Math.floor(intg / DIGITS_PER_GROUP); i++) {
    intText += String(group(4)).padStart(DIGITS_PER_GROUP, '0');
  }
  intText = intText.replace(/^0+/, '') || '0';
  let fracText = '';
  for (let i = 0; i < Math.floor(scale / DIGITS_PER_GROUP); i++) {
    fracText += String(group(4)).padStart(DIGITS_PER_GROUP, '0');
  }
  const trail = scale % DIGITS_PER_GROUP;
  if (trail > 0) fracText += String(group(DIG2BYTES[trail] as number)).padStart(trail, '0');
  const text = fracText === '' ? intText : `${intText}.${fracText}`;
  const isZero = /^[0.]*$/.test(text);
  return negative && !isZero ? `-${text}` : text;
}
