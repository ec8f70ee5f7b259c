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

/**
 * The last `spanMs` of status in memory: the dashboard's charts, with nothing
 * stored anywhere else. Readings closer together than `minGapMs` (a page and a
 * scraper asking at once) keep only the first, so the span and the memory stay
 * bounded however often the endpoints are asked.
 */
export class History {
  private samples: Sample[] = [];

  constructor(private readonly spanMs: number, private readonly minGapMs: number) {}

  add(at: Date, status: readonly GroupStatus[]): void {
    const t = at.getTime();
    const last = this.samples[this.samples.length - 1];
    if (last && t - last.t < this.minGapMs) return;
    const groups: Record<string, GroupSample> = {};
    for (const g of status) {
      groups[g.group] = {
        state: g.state, lagSeconds: g.lagSeconds, lagBytes: g.lagBytes, rowsApplied: g.rowsApplied, transactionsApplied: g.transactionsApplied,
        retainedBytes: g.slot?.retainedBytes ?? null, safeWalSize: g.slot?.safeWalSize ?? null,
      };
    }
    this.samples.push({ t, groups });
    const first = this.samples.findIndex((s) => s.t >= t - this.spanMs);
    if (first > 0) this.samples = this.samples.slice(first);
  }

  /** Oldest first. */
  list(): readonly Sample[] {
    return this.samples;
  }
}
