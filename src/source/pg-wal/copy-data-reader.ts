/** Where a message starts: its type byte, then its length (which counts itself but not the type byte). */
const HEADER_BYTES = 5;
const COPY_DATA = 0x64; // d
const COPY_BOTH_RESPONSE = 0x57; // W

type OnData = (chunk: Buffer) => void;

/** A socket, or pg's TLS stream over it, as the reader needs it. */
export interface DataSource {
  on(event: 'data', listener: OnData): unknown;
  off(event: 'data', listener: OnData): unknown;
  listeners(event: 'data'): readonly unknown[];
}

/**
 * Reads a CopyBoth stream's CopyData messages straight off the connection's
 * socket, in place of pg's protocol parser, which makes a message object, a
 * buffer view and an event per message and copies whatever a read leaves of
 * a message: on a busy replication stream that cost as much CPU as decoding.
 *
 * It takes the socket's reads over from pg when started (the connection
 * must be idle then: nothing half read), and gives them back, from the first
 * message that is neither CopyData nor CopyBothResponse on (an error, the
 * end of the copy), so pg handles that message and everything after it as
 * usual, and the query that started the stream ends as it would have.
 */
export class CopyDataReader {
  private readonly taken: readonly OnData[];
  private readonly onData = (chunk: Buffer) => this.read(chunk);
  /** The header of a message split between reads, while fewer than HEADER_BYTES of it arrived. */
  private readonly head = Buffer.alloc(HEADER_BYTES);
  private headFilled = 0;
  /** A message split between reads, as much of it as arrived. */
  private split: Buffer | undefined;
  private splitFilled = 0;

  /** `onCopyData` gets each CopyData's payload at `[start, end)` of `bytes`: a socket read, or a buffer of its own for a message split between reads, which it never reuses or changes. */
  constructor(private readonly source: DataSource, private readonly onCopyData: (bytes: Buffer, start: number, end: number) => void) {
    // pg's parser: it reads again from where this reader hands back.
    this.taken = source.listeners('data') as OnData[];
    for (const listener of this.taken) source.off('data', listener);
    source.on('data', this.onData);
  }

  private read(chunk: Buffer): void {
    let pos = 0;
    if (this.headFilled > 0 || this.split) {
      pos = this.finishSplit(chunk);
      if (pos < 0) return;
    }
    const end = chunk.length;
    while (pos < end) {
      if (end - pos < HEADER_BYTES) {
        chunk.copy(this.head, 0, pos, end);
        this.headFilled = end - pos;
        return;
      }
      const total = 1 + chunk.readUInt32BE(pos + 1);
      if (pos + total > end) {
        this.split = Buffer.allocUnsafe(total);
        this.splitFilled = chunk.copy(this.split, 0, pos, end);
        return;
      }
      if (!this.message(chunk, pos, pos + total)) {
        this.handBack(chunk.subarray(pos));
        return;
      }
      pos += total;
    }
  }

  /**
   * Adds the start of `chunk` to the message split between reads and takes
   * that message once whole; returns where the chunk goes on, or -1 when the
   * chunk was all part of the split message.
   */
  private finishSplit(chunk: Buffer): number {
    let pos = 0;
    if (!this.split) {
      const wanted = Math.min(HEADER_BYTES - this.headFilled, chunk.length);
      chunk.copy(this.head, this.headFilled, 0, wanted);
      this.headFilled += wanted;
      pos = wanted;
      if (this.headFilled < HEADER_BYTES) return -1;
      this.split = Buffer.allocUnsafe(1 + this.head.readUInt32BE(1));
      this.splitFilled = this.head.copy(this.split, 0, 0, HEADER_BYTES);
      this.headFilled = 0;
    }
    const split = this.split;
    const copied = chunk.copy(split, this.splitFilled, pos, Math.min(chunk.length, pos + split.length - this.splitFilled));
    this.splitFilled += copied;
    pos += copied;
    if (this.splitFilled < split.length) return -1;
    this.split = undefined;
    if (!this.message(split, 0, split.length)) {
      this.handBack(Buffer.concat([split, chunk.subarray(pos)]));
      return -1;
    }
    return pos;
  }

  /** Takes the message at `[start, end)`; false when it is pg's to read. */
  private message(bytes: Buffer, start: number, end: number): boolean {
    const type = bytes[start];
    if (type === COPY_DATA) {
      this.onCopyData(bytes, start + HEADER_BYTES, end);
      return true;
    }
    // pg has nothing to do on CopyBothResponse: the stream starts.
    return type === COPY_BOTH_RESPONSE;
  }

  private handBack(rest: Buffer): void {
    this.source.off('data', this.onData);
    for (const listener of this.taken) this.source.on('data', listener);
    for (const listener of this.taken) listener(rest);
  }
}
