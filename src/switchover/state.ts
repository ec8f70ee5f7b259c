import type pg from 'pg';
import type { FenceRecord } from './fence.js';
import { switchoverSql } from './switchover-sql.js';

/** The steps of a switchover, in order; the report names them so. */
export type StepName = 'preflight' | 'fence' | 'drain' | 'verify' | 'pause' | 'finish-target' | 'reverse' | 'commit';

export interface StepTiming {
  readonly step: StepName;
  readonly startedAt: string;
  readonly seconds: number;
  /** What the step did, in a few words (sessions ended, keys created, …). */
  readonly detail?: string;
}

export interface CreatedForeignKey { readonly table: string; readonly name: string }

/**
 * A switchover in progress, as the target's control schema holds it. The
 * steps already done and the fence's record survive a crash of the command;
 * a re-run continues from them (every step is safe to repeat).
 */
export interface SwitchoverState {
  readonly id: number;
  readonly groups: readonly string[];
  readonly status: 'running' | 'committed';
  readonly fence: FenceRecord;
  readonly reverse: boolean;
  steps: StepTiming[];
  foreignKeys: CreatedForeignKey[];
  drainedAt: string | null;
  fencedAt: Date | null;
}

interface Row {
  id: number; groups: string[]; status: 'running' | 'committed'; fence: FenceRecord; reverse: boolean;
  steps: StepTiming[]; foreign_keys: CreatedForeignKey[]; drained_at: string | null; fenced_at: Date | null;
}

export async function inProgress(target: pg.Client): Promise<SwitchoverState | undefined> {
  const row = (await target.query<Row>(switchoverSql.inProgress)).rows[0];
  return row && {
    id: row.id, groups: row.groups, status: row.status, fence: row.fence, reverse: row.reverse,
    steps: row.steps, foreignKeys: row.foreign_keys, drainedAt: row.drained_at, fencedAt: row.fenced_at,
  };
}

export async function beginSwitchover(target: pg.Client, groups: readonly string[], fence: FenceRecord, reverse: boolean): Promise<SwitchoverState> {
  const id = (await target.query<{ id: number }>(switchoverSql.begin, [groups, JSON.stringify(fence), reverse])).rows[0]?.id as number;
  return { id, groups, status: 'running', fence, reverse, steps: [], foreignKeys: [], drainedAt: null, fencedAt: null };
}

/** A step finished: appended to the timeline stored with the switchover. */
export async function recordStep(target: pg.Client, state: SwitchoverState, timing: StepTiming): Promise<void> {
  state.steps.push(timing);
  await target.query(switchoverSql.recordSteps, [state.id, JSON.stringify(state.steps)]);
}

export function stepDone(state: SwitchoverState, step: StepName): boolean {
  return state.steps.some((s) => s.step === step);
}
