import type { FerryConfig } from '../config/schema.js';
import { redactUrl } from '../config/redact.js';
import { health, type Health } from './health.js';
import { History } from './history.js';
import type { Logger } from './logger.js';
import type { FerryMetrics } from './metrics.js';
import { collectStatus, type GroupStatus } from './status.js';
import { Warnings, type Notice } from './warnings.js';

export interface Snapshot {
  readonly at: Date;
  /** Undefined until the first status has been read. */
  readonly status: readonly GroupStatus[] | undefined;
  /** Why the last attempt to read the status failed, if it did. */
  readonly error: string | undefined;
}

/** Notices the dashboard keeps. */
const NOTICES = 20;
/** The dashboard's charts span an hour. */
const HISTORY_MS = 3_600_000;

/**
 * While `ferry run` runs: reads every group's status (the same as `ferry
 * status`) every `observe.poll_interval_ms`, and on demand when an endpoint
 * needs it fresher. Each reading updates the gauges, the dashboard's history
 * and the warnings. It only reads the source and the target's control
 * tables; it never touches the apply path.
 */
export class Monitor {
  readonly history: History;
  private readonly warnings: Warnings;
  private readonly notices: Notice[] = [];
  private snapshot: Snapshot = { at: new Date(0), status: undefined, error: undefined };
  private inFlight: Promise<Snapshot> | undefined;

  constructor(private readonly config: FerryConfig, private readonly log: Logger, readonly metrics: FerryMetrics) {
    this.history = new History(HISTORY_MS, Math.min(1_000, config.observe.pollIntervalMs));
    this.warnings = new Warnings(log, config.observe, (n) => {
      this.notices.push(n);
      if (this.notices.length > NOTICES) this.notices.shift();
    });
  }

  /** Polls until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.refresh();
      await sleep(this.config.observe.pollIntervalMs, signal);
    }
  }

  /** The latest status, read again first if it is older than `maxAgeMs`; concurrent callers share one reading. */
  async current(maxAgeMs: number): Promise<Snapshot> {
    if (Date.now() - this.snapshot.at.getTime() <= maxAgeMs) return this.snapshot;
    return this.refresh();
  }

  health(snapshot: Snapshot): Health {
    return health(snapshot.status, this.config.observe.lagLimitSeconds, snapshot.error);
  }

  /** The thresholds the dashboard draws. */
  limits(): { lagWarnSeconds: number; lagLimitSeconds: number; slotWarnShare: number } {
    const o = this.config.observe;
    return { lagWarnSeconds: o.lagWarnSeconds, lagLimitSeconds: o.lagLimitSeconds, slotWarnShare: o.slotWarnShare };
  }

  recentNotices(): readonly Notice[] {
    return [...this.notices].reverse();
  }

  private refresh(): Promise<Snapshot> {
    this.inFlight ??= this.read().finally(() => { this.inFlight = undefined; });
    return this.inFlight;
  }

  private async read(): Promise<Snapshot> {
    const at = new Date();
    try {
      const status = await collectStatus(this.config);
      this.snapshot = { at, status, error: undefined };
      this.metrics.observe(status, at);
      this.history.add(at, status);
      this.warnings.check(status);
    } catch (err) {
      const error = redactUrl(err instanceof Error ? err.message : String(err));
      // No status rather than a stale one: health must not vouch for what it cannot see.
      this.snapshot = { at, status: undefined, error };
      this.metrics.statusFailed();
      this.log.debug({ err: error }, 'reading the status failed');
    }
    return this.snapshot;
  }
}

/** The listener goes when the timer fires: a run polls for months on one signal. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = () => { clearTimeout(timer); resolve(); };
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
