import type { GroupStatus } from './status.js';

export interface Health {
  readonly healthy: boolean;
  /** Why not, one line per group (or for the whole status, when it could not be read). */
  readonly reasons: readonly string[];
}

/** States in which a group is doing its job. */
const WORKING = new Set(['streaming', 'copying']);

/**
 * Healthy while every group is streaming or copying and no further behind
 * than `lagLimitSeconds`. A status that could not be read is not healthy:
 * the endpoint cannot vouch for what it cannot see.
 */
export function health(status: readonly GroupStatus[] | undefined, lagLimitSeconds: number, readError?: string): Health {
  if (!status) return { healthy: false, reasons: [`the status could not be read: ${readError ?? 'not read yet'}`] };
  const reasons: string[] = [];
  for (const g of status) {
    if (!WORKING.has(g.state)) {
      reasons.push(`group ${g.group} is ${g.state}${g.lastError ? `: ${g.lastError}` : ''}`);
    } else if (g.lagSeconds !== null && g.lagSeconds > lagLimitSeconds) {
      reasons.push(`group ${g.group} is ${g.lagSeconds.toFixed(1)} s behind the source (limit observe.lag_limit_seconds = ${lagLimitSeconds})`);
    }
    if (g.slot?.walStatus === 'lost') reasons.push(`group ${g.group}: replication slot ${g.slot.name} is lost (wal_status lost)`);
  }
  return { healthy: reasons.length === 0, reasons };
}
