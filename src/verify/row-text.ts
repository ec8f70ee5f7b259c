import { createHash } from 'node:crypto';

/**
 * The text of a row as PostgreSQL's `ROW(…)::text` writes it (record_out),
 * built from the columns' own texts. Verify hashes that text inside each
 * database; changes decoded from the WAL carry column texts, and this turns
 * them into the same text, so both can be hashed alike.
 */
export function recordText(values: readonly (string | null)[]): string {
  return `(${values.map(fieldText).join(',')})`;
}

// record_out quotes a field that is empty or holds a quote, backslash,
// parenthesis, comma or white space (C isspace), doubling quotes and backslashes.
function fieldText(value: string | null): string {
  if (value === null) return '';
  if (value !== '' && !/["\\(), \t\n\v\f\r]/.test(value)) return value;
  return `"${value.replace(/["\\]/g, (c) => c + c)}"`;
}

/** A row text's hash and bucket, exactly as `verifySql` computes them in the database. */
export interface TextDigest {
  /** Signed 64-bit integer from the first 16 hex digits of md5, as text. */
  readonly hash: string;
  /** The first 32 bits of md5, masked to the bucket count. */
  readonly bucket: number;
}

export function digest(text: string, bucketMask: number): TextDigest {
  const hex = createHash('md5').update(text, 'utf8').digest('hex');
  return {
    hash: BigInt.asIntN(64, BigInt(`0x${hex.slice(0, 16)}`)).toString(),
    // `&` works on signed 32-bit integers, like the database's int4 `&`.
    bucket: Number.parseInt(hex.slice(0, 8), 16) & bucketMask,
  };
}
