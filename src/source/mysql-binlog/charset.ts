import iconv from 'iconv-lite';
import mysql2 from 'mysql2';

/**
 * Text columns arrive as bytes in the column's character set, named only by
 * a collation number (the charset metadata of TABLE_MAP). MySQL's "latin1"
 * is Windows-1252, not ISO 8859-1; utf8mb3 is a subset of UTF-8.
 */
export const BINARY_COLLATION = 63;

/** Strict: bytes that are not UTF-8 throw rather than turning into U+FFFD unseen; a leading BOM is kept as data. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const decoders = new Map<number, ((bytes: Buffer) => string) | null>();

/** A decoder for the collation's character set (it throws on bytes invalid in UTF-8), or null for binary and for collations we do not know (the bytes are kept). */
export function textDecoder(collation: number): ((bytes: Buffer) => string) | null {
  let decoder = decoders.get(collation);
  if (decoder === undefined) {
    decoder = pick(collation);
    decoders.set(collation, decoder);
  }
  return decoder;
}

function pick(collation: number): ((bytes: Buffer) => string) | null {
  const encoding = (mysql2.CharsetToEncoding as readonly (string | undefined)[])[collation];
  if (encoding === undefined || encoding === 'binary') return null;
  if (encoding === 'utf8' || encoding === 'cesu8') return (b) => strictUtf8.decode(b);
  // Not TextDecoder: Node's maps windows-1252 to ISO 8859-1 (0x80 is not €).
  if (encoding === 'latin1') return (b) => iconv.decode(b, 'windows-1252');
  if (encoding === 'ascii') return (b) => b.toString('latin1');
  if (!iconv.encodingExists(encoding)) return null;
  return (b) => iconv.decode(b, encoding);
}
