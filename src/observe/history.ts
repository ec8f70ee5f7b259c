import type { GroupStatus } from './status.js';

/** One group's numbers at one moment, as the dashboard charts them. */
export interface GroupSample {
  readonly state: string;
  readonly lagSeconds: number | null;
  readonly lagBytes: number | null;
  /** Cumulative, from the target: the dashboard derives rows per second from consecutive samples. */
  readonly rowsApplied: number;
  readonly transactionsApplied: number;
  readonly retainedBytes: number | null;
  readonly safeWalSize: number | null;
}

export interface Sample {
  /** Unix time in milliseconds. */
  readonly t: number;
  readonly groups: Readonly<Record<string, GroupSample>>;
}

/** The last hour (or `capacity` samples) of status in memory: the dashboard's charts, with nothing stored anywhere else. */
export class History {
  private readonly samples: Sample[] = [];
  private start = 0;

  constructor(private readonly capacity: number) {}

  add(at: Date, status: readonly GroupStatus[]): void {
    const groups: Record<string, GroupSample> = {};
    for (const g of status) {
      groups[g.group] = {
        state: g.state, lagSeconds: g.lagSeconds, lagBytes: g.lagBytes, rowsApplied: g.rowsApplied, transactionsApplied: g.transactionsApplied,
        retainedBytes: g.slot?.retainedBytes ?? null, safeWalSize: g.slot?.safeWalSize ?? null,
      };
    }
    const sample = { t: at.getTime(), groups };
    // A ring: once full, the oldest sample is overwritten rather than shifted out.
    if (this.samples.length < this.capacity) this.samples.push(sample);
    else {
      this.samples[this.start] = sample;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** Oldest first. */
  list(): Sample[] {
    return [...this.samples.slice(this.start), ...this.samples.slice(0, this.start)];
  }
}
