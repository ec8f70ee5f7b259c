import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import { PrerequisiteError } from '../errors.js';
import { collectStatus } from '../observe/status.js';
import { sequenceLabel, sequencesOfGroups } from '../sequences/sequence-catalog.js';
import { fenceProblems, type FenceMode } from './fence.js';
import { foreignKeyProblems, missingForeignKeys, type SourceForeignKey } from './finish-target.js';
import { reverseConfigPath, reverseConfigProblems } from './reverse-config.js';
import { reverseProblems } from './reverse.js';

export interface SwitchoverPlan {
  readonly groups: readonly { readonly group: string; readonly position: string | null; readonly lagSeconds: number | null }[];
  readonly fence: FenceMode;
  readonly sequences: readonly string[];
  readonly foreignKeys: readonly SourceForeignKey[];
  readonly verify: boolean;
  /** Where the reverse configuration goes (--reverse). */
  readonly reverseConfig: string | null;
}

export interface PreflightOptions {
  readonly configPath: string;
  readonly fence: FenceMode;
  readonly reverse: boolean;
  readonly verify: boolean;
  readonly maxLagSeconds: number;
  /** A switchover left in the middle is continued: its own fence and pause explain a group that is not streaming right now. */
  readonly resuming: boolean;
}

/**
 * Checks everything before anything changes, and reports every problem at
 * once: each group initialised, streaming (a ferry process applies it) and
 * within `maxLagSeconds`, its copy complete with nothing held; the fence
 * possible (roles exist, none of them Ferry's, the privilege to change
 * them); the foreign keys to create reference tables the target has; for
 * --reverse, the target able to serve as a WAL source. Returns the plan.
 */
export async function preflight(config: FerryConfig, source: pg.Client, target: pg.Client, options: PreflightOptions): Promise<SwitchoverPlan> {
  const problems: string[] = [];
  const status = await collectStatus(config);
  for (const g of status) {
    if (g.state === 'not initialised' || g.state === 'copying') problems.push(`group ${g.group} is ${g.state}: run "ferry init" until it finishes`);
    else if (g.state !== 'streaming' && !options.resuming) problems.push(`group ${g.group} is ${g.state}: start "ferry run" so that it streams`);
    if (g.lagSeconds !== null && g.lagSeconds > options.maxLagSeconds) {
      problems.push(`group ${g.group} lags ${g.lagSeconds.toFixed(1)} s behind the source, more than --max-lag ${options.maxLagSeconds} s: wait until it catches up`);
    }
    if (g.copy && g.copy.chunksDone < g.copy.chunks) problems.push(`group ${g.group} still copies tables (${g.copy.chunksDone} of ${g.copy.chunks} chunks): wait until the copy is done`);
    if (g.heldChanges > 0) problems.push(`group ${g.group} holds changes of a joining table: wait until its copy is done`);
  }
  if (!options.resuming) problems.push(...await fenceProblems(source, options.fence));
  const foreignKeys = await missingForeignKeys(config, source, target);
  problems.push(...await foreignKeyProblems(target, foreignKeys));
  if (options.reverse) {
    problems.push(...await reverseProblems(config, target));
    problems.push(...await reverseConfigProblems(config, options.configPath));
  }
  if (problems.length > 0) throw new PrerequisiteError(problems);
  const sequences = (await sequencesOfGroups(source, config.groups)).map(sequenceLabel);
  return {
    groups: status.map((g) => ({ group: g.group, position: g.appliedPosition, lagSeconds: g.lagSeconds })),
    fence: options.fence, sequences, foreignKeys, verify: options.verify,
    reverseConfig: options.reverse ? reverseConfigPath(options.configPath) : null,
  };
}
