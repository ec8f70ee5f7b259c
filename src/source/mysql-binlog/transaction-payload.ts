import { decompress } from 'fzstd';
import type { ByteReader } from './byte-reader.js';

/**
 * MySQL 8.0.20+'s TRANSACTION_PAYLOAD (`binlog_transaction_compression=ON`):
 * a whole transaction's events, compressed as one zstd frame. The header is
 * a list of fields, each a packed type, a packed length and a packed value,
 * ended by type 0; the compressed events follow. Inside, events are whole
 * (header and body) but carry no checksum: the payload event's own checksum
 * covers them.
 *
 * Node 20's zlib has no zstd (it arrived in Node 22.15), so a small pure
 * JavaScript decoder (fzstd) inflates the frame.
 */
export interface TransactionPayload {
  readonly compression: 'zstd' | 'none';
  readonly uncompressedSize: number;
  /** The inner events, back to back. */
  readonly events: Buffer;
}

const Field = { END_MARK: 0, PAYLOAD_SIZE: 1, COMPRESSION_TYPE: 2, UNCOMPRESSED_SIZE: 3 } as const;
const Compression = { ZSTD: 0, NONE: 255 } as const;

export class PayloadError extends Error {}

export function readTransactionPayload(r: ByteReader): TransactionPayload {
  let size: number | undefined;
  let compression: number = Compression.NONE;
  let uncompressedSize: number | undefined;
  for (;;) {
    const type = r.packed();
    if (type === Field.END_MARK) break;
    const length = r.packed();
    const end = r.pos + length;
    r.need(length);
    switch (type) {
      case Field.PAYLOAD_SIZE: size = r.packed(); break;
      case Field.COMPRESSION_TYPE: compression = r.packed(); break;
      case Field.UNCOMPRESSED_SIZE: uncompressedSize = r.packed(); break;
      default: break;
    }
    r.pos = end;
  }
  const data = size === undefined ? r.rest() : r.bytes(size);
  if (compression === Compression.NONE) {
    return { compression: 'none', uncompressedSize: data.length, events: data };
  }
  if (compression !== Compression.ZSTD) throw new PayloadError(`unknown compression type ${compression}`);
  let out: Uint8Array;
  try {
    out = decompress(data);
  } catch (err) {
    throw new PayloadError(`zstd frame does not decompress: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (uncompressedSize !== undefined && out.length !== uncompressedSize) {
    throw new PayloadError(`zstd frame decompresses to ${out.length} bytes, the header says ${uncompressedSize}`);
  }
  return { compression: 'zstd', uncompressedSize: out.length, events: Buffer.from(out.buffer, out.byteOffset, out.length) };
}
