/** A packet header: 3-byte payload length, 1-byte sequence id. */
const HEADER_BYTES = 4;
/** A payload of exactly this length continues in the next packet (MySQL splits payloads at 16 MiB - 1). */
const MAX_PACKET = 0xffffff;

type OnData = (chunk: Buffer) => void;

/** A socket, or a TLS stream over it, as the reader needs it. */
export interface PacketSource {
  on(event: 'data', listener: OnData): unknown;
  off(event: 'data', listener: OnData): unknown;
  listeners(event: 'data'): readonly unknown[];
}

/**
 * Reads MySQL protocol packets straight off a connection's socket, for the
 * binlog dump that follows the driver's handshake and setup queries: each
 * binlog event is one payload (a large one split over several packets and
 * joined here). mysql2's own parser would make a packet object per event
 * and keep parsing while its connection is paused (it queues packets in
 * memory), so the dump connection's reads are taken over from it, and
 * pausing the socket really holds the server back by TCP flow control.
 *
 * The connection must be idle when the reader starts (nothing half read);
 * the reads are never handed back: a dump ends only with the connection.
 */
export class PacketReader {
  private readonly onData = (chunk: Buffer) => this.read(chunk);
  /** A packet header split between reads. */
  private readonly head = Buffer.alloc(HEADER_BYTES);
  private headFilled = 0;
  /** A payload split between reads, as much of it as arrived (allocated once at its full size). */
  private split: Buffer | undefined;
  private splitFilled = 0;
  private splitContinues = false;
  /** Parts of a payload split over several 16 MiB packets. */
  private parts: Buffer[] = [];

  /** `onPayload` gets each payload at `[start, end)` of `bytes`; the bytes stay valid after the call (socket reads are fresh buffers). */
  constructor(private readonly source: PacketSource, private readonly onPayload: (bytes: Buffer, start: number, end: number) => void) {
    for (const listener of source.listeners('data') as OnData[]) source.off('data', listener);
    source.on('data', this.onData);
  }

  stop(): void {
    this.source.off('data', this.onData);
  }

  private read(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.split) {
        const n = chunk.copy(this.split, this.splitFilled, pos);
        this.splitFilled += n;
        pos += n;
        if (this.splitFilled < this.split.length) return;
        this.finishSplit();
        continue;
      }
      if (this.headFilled > 0 || chunk.length - pos < HEADER_BYTES) {
        const n = Math.min(HEADER_BYTES - this.headFilled, chunk.length - pos);
        chunk.copy(this.head, this.headFilled, pos, pos + n);
        this.headFilled += n;
        pos += n;
        if (this.headFilled < HEADER_BYTES) return;
        this.headFilled = 0;
        this.startSplit(this.head.readUIntLE(0, 3));
        continue;
      }
      const length = chunk.readUIntLE(pos, 3);
      const start = pos + HEADER_BYTES;
      const end = start + length;
      if (end > chunk.length) {
        pos = start;
        this.startSplit(length);
        continue;
      }
      this.packet(chunk, start, end, length === MAX_PACKET);
      pos = end;
    }
  }

  private startSplit(length: number): void {
    this.split = Buffer.allocUnsafe(length);
    this.splitFilled = 0;
    this.splitContinues = length === MAX_PACKET;
    if (length === 0) this.finishSplit();
  }

  private finishSplit(): void {
    const payload = this.split as Buffer;
    this.split = undefined;
    this.packet(payload, 0, payload.length, this.splitContinues);
  }

  private packet(chunk: Buffer, start: number, end: number, continues: boolean): void {
    if (continues || this.parts.length > 0) {
      this.parts.push(chunk.subarray(start, end));
      if (continues) return;
      const whole = Buffer.concat(this.parts);
      this.parts = [];
      this.onPayload(whole, 0, whole.length);
      return;
    }
    this.onPayload(chunk, start, end);
  }
}
