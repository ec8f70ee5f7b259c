/**
 * A single-consumer queue between a push-style producer (socket callbacks)
 * and an async consumer. It does not drop or block: it tells the producer
 * when to pause (`onHigh`) and resume (`onLow`), so memory stays bounded by
 * TCP flow control upstream.
 */
export class AsyncQueue<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: (() => void) | undefined;
  private failure: { error: unknown } | undefined;
  private ended = false;
  private paused = false;

  constructor(
    private readonly highWater: number,
    private readonly onHigh: () => void = () => undefined,
    private readonly onLow: () => void = () => undefined,
  ) {}

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
    if (!this.paused && this.size >= this.highWater) {
      this.paused = true;
      this.onHigh();
    }
    this.wake();
  }

  fail(error: unknown): void {
    this.failure ??= { error };
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Next item, or `undefined` once ended and drained. Throws the producer's failure. */
  async shift(): Promise<T | undefined> {
    while (this.size === 0) {
      if (this.failure) throw this.failure.error;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => { this.waiter = resolve; });
    }
    const item = this.items[this.head] as T;
    this.items[this.head] = undefined as T;
    this.head++;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.paused && this.size <= this.highWater / 2) {
      this.paused = false;
      this.onLow();
    }
    return item;
  }

  /** Everything queued (up to `max` items), waiting for at least one; `undefined` once ended and drained. */
  async shiftMany(max: number): Promise<T[] | undefined> {
    while (this.size === 0) {
      if (this.failure) throw this.failure.error;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => { this.waiter = resolve; });
    }
    const end = Math.min(this.items.length, this.head + max);
    const out = this.items.slice(this.head, end);
    if (end === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (end > 4096 && end * 2 > this.items.length) {
      // As in shift: a queue that never quite drains must not keep every item it handed out.
      this.items = this.items.slice(end);
      this.head = 0;
    } else {
      this.head = end;
    }
    if (this.paused && this.size <= this.highWater / 2) {
      this.paused = false;
      this.onLow();
    }
    return out;
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}
