/**
 * A cursor over one binlog event's bytes, little-endian as the binlog is
 * (except where a format says otherwise: temporal and decimal values are
 * big-endian, and have their own readers). Reading past `end` throws a
 * `Truncated` error instead of returning garbage: the decoder turns it into
 * a typed error that names the event and its position.
 */
export class Truncated extends Error {
  constructor(readonly wanted: number, readonly left: number) {
    super(`truncated: wanted ${wanted} byte(s), ${left} left`);
  }
}

export class ByteReader {
  pos: number;

  constructor(readonly buf: Buffer, start = 0, public end = buf.length) {
    this.pos = start;
  }

  get left(): number {
    return this.end - this.pos;
  }

  /** Throws unless `n` more bytes are there. */
  need(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new Truncated(n, this.end - this.pos);
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(): number {
    this.need(3);
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** An unsigned little-endian integer of `n` (1 to 6) bytes. */
  uint(n: number): number {
    this.need(n);
    const v = this.buf.readUIntLE(this.pos, n);
    this.pos += n;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  i64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A u64 that must fit a JavaScript number (positions, counts). */
  u64Number(): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`64-bit value ${v} is too large`);
    return Number(v);
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** The rest up to `end`. */
  rest(): Buffer {
    return this.bytes(this.end - this.pos);
  }

  /** `n` bytes as UTF-8 (identifiers, statements and file names are written so). */
  utf8(n: number): string {
    return this.bytes(n).toString('utf8');
  }

  /**
   * A length-encoded ("packed") integer of the client/server protocol:
   * < 251 itself, 0xfc + 2 bytes, 0xfd + 3 bytes, 0xfe + 8 bytes.
   */
  packed(): number {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) return this.u64Number();
    throw new RangeError(`invalid length-encoded integer prefix 0x${first.toString(16)}`);
  }

  /** A length-encoded string: packed length, then the bytes. */
  packedBytes(): Buffer {
    return this.bytes(this.packed());
  }
}
