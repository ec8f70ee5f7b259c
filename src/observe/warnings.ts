import type { ObserveConfig } from '../config/schema.js';
import { Episodes } from './episodes.js';
import type { Logger } from './logger.js';
import { binlogConcerns, slotConcerns } from './slot-health.js';
import type { GroupStatus } from './status.js';

/** A warning or error as the dashboard lists it. */
export interface Notice {
  readonly at: string;
  readonly group: string;
  readonly level: 'warn' | 'error' | 'info';
  readonly message: string;
}

/**
 * Turns each fresh status into log lines worth reading, once per episode:
 * lag above `observe.lag_warn_seconds`, a slot filling up or lost, a trigger
 * queue growing while nothing consumes it, and a group's new last error.
 * `notice` receives each of them for the dashboard.
 */
export class Warnings {
  private readonly episodes = new Episodes();
  private readonly lastErrors = new Map<string, string>();
  private readonly unconsumed = new Set<string>();

  constructor(private readonly log: Logger, private readonly config: ObserveConfig, private readonly notice: (n: Notice) => void) {}

  check(status: readonly GroupStatus[]): void {
    for (const g of status) {
      const glog = this.log.child({ group: g.group });
      const say = (level: Notice['level'], fields: Record<string, unknown>, message: string) => {
        glog[level](fields, message);
        this.notice({ at: new Date().toISOString(), group: g.group, level, message });
      };
      const lag = g.lagSeconds ?? 0;
      this.episodes.update(`${g.group}:lag`, lag > this.config.lagWarnSeconds,
        () => say('warn', { lagSeconds: lag, lagWarnSeconds: this.config.lagWarnSeconds },
          `group ${g.group} is ${lag.toFixed(1)} s behind the source, more than observe.lag_warn_seconds (${this.config.lagWarnSeconds} s)`),
        () => say('info', { lagSeconds: lag }, `group ${g.group} is within observe.lag_warn_seconds again`));
      if (g.slot) {
        for (const concern of slotConcerns(g.group, g.slot, this.config.slotWarnShare)) {
          this.episodes.update(`${g.group}:slot:${concern.key}`, concern.active, () => say(concern.level, { code: `FERRY_SLOT_${concern.key.toUpperCase()}`, ...concern.fields }, concern.message));
        }
      }
      if (g.binlog) {
        for (const concern of binlogConcerns(g.group, g.binlog, lag, this.config.slotWarnShare)) {
          this.episodes.update(`${g.group}:binlog:${concern.key}`, concern.active, () => say(concern.level, { code: concern.code, ...concern.fields }, concern.message));
        }
      }
      const pending = g.queue?.pendingEvents ?? 0;
      // Two readings in a row: a run that is just starting to apply a backlog is consuming, not neglecting, it.
      const unconsumed = pending > this.config.queueWarnEvents && g.state !== 'streaming';
      const wasUnconsumed = this.unconsumed.has(g.group);
      if (unconsumed) this.unconsumed.add(g.group);
      else this.unconsumed.delete(g.group);
      this.episodes.update(`${g.group}:queue`, unconsumed && wasUnconsumed,
        () => say('warn', { code: 'FERRY_QUEUE_GROWING', pendingEvents: pending, queueBytes: g.queue?.queueBytes, queueWarnEvents: this.config.queueWarnEvents },
          `group ${g.group} has ${pending} events queued on the source (more than observe.queue_warn_events = ${this.config.queueWarnEvents}) and no ferry process is applying it (${g.state}): `
          + 'the queue tables grow until it does; start ferry run for this group'));
      if (g.lastError && this.lastErrors.get(g.group) !== g.lastError) {
        // The runner has logged it already: here it only joins the dashboard's list.
        if (this.lastErrors.has(g.group) || g.state === 'failed') this.notice({ at: g.lastErrorAt ?? new Date().toISOString(), group: g.group, level: 'error', message: g.lastError });
        this.lastErrors.set(g.group, g.lastError);
      }
    }
  }
}
