import { isAscii } from 'node:buffer';
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
  // ASCII reads the same in every charset here, and Buffer's own conversion of it is the fastest there is.
  if (encoding === 'utf8' || encoding === 'cesu8') return (b) => (isAscii(b) ? b.toString('latin1') : strictUtf8.decode(b));
  // Not TextDecoder: Node's maps windows-1252 to ISO 8859-1 (0x80 is not €).
  if (encoding === 'latin1') return decodeMySqlLatin1;
  if (encoding === 'ascii') return (b) => b.toString('latin1');
  if (!iconv.encodingExists(encoding)) return null;
  return (b) => iconv.decode(b, encoding);
}

/** Windows-1252 leaves these undefined; MySQL's latin1 reads them as the C1 controls of the same number. */
const LATIN1_UNDEFINED = new Set([0x81, 0x8d, 0x8f, 0x90, 0x9d]);

/** MySQL's latin1: Windows-1252, with its five undefined bytes as U+0081, U+008D, U+008F, U+0090, U+009D. */
export function decodeMySqlLatin1(bytes: Buffer): string {
  if (isAscii(bytes)) return bytes.toString('latin1');
  const text = iconv.decode(bytes, 'windows-1252');
  if (!text.includes('\ufffd')) return text;
  // One byte is one UTF-16 unit in this charset, so positions match.
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    out += LATIN1_UNDEFINED.has(b) ? String.fromCharCode(b) : text[i];
  }
  return out;
}
