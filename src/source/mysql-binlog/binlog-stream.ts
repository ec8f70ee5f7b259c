import { BinlogConnection, type DumpOptions, type DumpStart } from './binlog-connection.js';
import { BinlogDecoder, type BinlogEvent } from './binlog-decoder.js';

export interface BinlogStreamOptions extends DumpOptions {
  /** Decoded events held for the consumer before the socket is paused. */
  readonly highWater?: number;
}

const DEFAULT_HIGH_WATER = 1024;

/**
 * A binlog dump as an async iterable of decoded events, with back-pressure:
 * once `highWater` events wait for the consumer the socket is paused, and it
 * is resumed when the consumer has taken half of them. (The socket read in
 * progress when the limit is reached is still decoded, so the queue can
 * pass the limit by one read's events, at most 64 KiB of them.)
 *
 * A decoding error or a server error ends the iteration with that error
 * and closes the connection; so does leaving the loop early, and a failure
 * of the dump's setup.
 */
export class BinlogStream implements AsyncIterable<BinlogEvent> {
  readonly decoder: BinlogDecoder;
  private readonly queue: BinlogEvent[] = [];
  private head = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly highWater: number;

  constructor(private readonly connection: BinlogConnection, private readonly start: DumpStart, private readonly options: BinlogStreamOptions) {
    this.decoder = new BinlogDecoder({
      ...(start.kind === 'file' ? { start: start.position } : {}),
      checksum: connection.checksum,
    });
    this.highWater = Math.max(2, options.highWater ?? DEFAULT_HIGH_WATER);
  }

  static async open(url: string, start: DumpStart, options: BinlogStreamOptions): Promise<BinlogStream> {
    const connection = await BinlogConnection.open(url);
    return new BinlogStream(connection, start, options);
  }

  get flavor(): BinlogConnection['flavor'] {
    return this.connection.flavor;
  }

  /** Events decoded and not yet taken. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  get paused(): boolean {
    return this.connection.paused;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<BinlogEvent> {
    try {
      yield* this.events();
    } finally {
      this.connection.close();
    }
  }

  private async *events(): AsyncGenerator<BinlogEvent> {
    await this.connection.dump(this.start, this.options, {
      event: (bytes, from, to) => {
        if (this.failure) return;
        try {
          this.queue.push(this.decoder.decode(bytes, from, to));
        } catch (err) {
          this.fail(err as Error);
          return;
        }
        if (this.waiting >= this.highWater) this.connection.pause();
        this.notify();
      },
      end: (err) => {
        // The first end counts: closing the connection after it reports a close too.
        if (this.ended) return;
        if (err) this.fail(err);
        this.ended = true;
        this.notify();
      },
    });
    for (;;) {
      if (this.head < this.queue.length) {
        const event = this.queue[this.head] as BinlogEvent;
        this.head++;
        if (this.head >= this.queue.length) {
          this.queue.length = 0;
          this.head = 0;
        }
        if (this.waiting <= this.highWater >> 1) this.connection.resume();
        yield event;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return;
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
  }

  close(): void {
    this.ended = true;
    this.connection.close();
    this.notify();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.connection.close();
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
