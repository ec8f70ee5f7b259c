import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import { ConfigError, ExitCode, FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { ensureControlSchema } from '../target/control-schema.js';
import { verify } from '../verify/verify.js';
import { Deadline } from './deadline.js';
import { checkQuiet, drain } from './drain.js';
import { dropCreatedForeignKeys, finishTarget } from './finish-target.js';
import { liftFence, liftStatements, planFence, putUpFence, type FenceMode } from './fence.js';
import { pauseApply } from './pause.js';
import { preflight, type SwitchoverPlan } from './preflight.js';
import { formatPlan, type SwitchoverReport } from './report.js';
import { writeReverseConfig } from './reverse-config.js';
import { createReverseGroups, dropReverseGroups, type ReverseGroup } from './reverse.js';
import { liftStandingFences, retireForwardGroups } from './retire-forward.js';
import { beginSwitchover, inProgress, recordStep, stepDone, type StepName, type SwitchoverState } from './state.js';
import { switchoverSql } from './switchover-sql.js';

export interface SwitchoverOptions {
  readonly configPath: string;
  readonly fence: FenceMode;
  readonly reverse: boolean;
  readonly verify: boolean;
  /** For the steps before the point of no return. */
  readonly timeoutSeconds: number;
  readonly maxLagSeconds: number;
  /** --fence none: how long no write may arrive after the drain. */
  readonly quietMs: number;
  /** Shown the plan; false stops before anything changes. */
  readonly confirm: (plan: string) => Promise<boolean>;
}

/** The command's connections and what it holds while it works. */
interface Session {
  readonly config: FerryConfig;
  readonly source: pg.Client;
  readonly target: pg.Client;
  readonly log: Logger;
  state: SwitchoverState;
  /** Holds the groups' apply locks from the pause on. */
  paused?: pg.Client;
  reverseGroups: ReverseGroup[];
  sequences: number;
  reverseConfig?: string;
}

/**
 * `ferry switchover`: preflight, fence, drain, verify, pause the forward
 * stream, finish the target, create the reverse groups, then — the point of
 * no return — retire the forward groups. Until that point any failure, or
 * --timeout, takes back what was done (the fence first) and the standby
 * keeps streaming; after it a failure is finished by running the command
 * again. The state lives on the target, so a re-run after a crash continues
 * where the switchover was; every step is safe to repeat.
 */
export async function switchover(config: FerryConfig, options: SwitchoverOptions, log: Logger): Promise<SwitchoverReport> {
  const { source, target } = await openBoth(config);
  try {
    await ensureControlSchema(target);
    await lockSwitchover(target);
    const existing = await inProgress(target);
    if (existing) checkSameGroups(config, existing);
    let session: Session;
    if (existing?.status === 'committed') {
      session = { config, source, target, log: log.child({ switchover: existing.id }), state: existing, reverseGroups: [], sequences: 0 };
      log.warn({ switchover: existing.id }, 'a switchover past its point of no return stopped in the middle: finishing it');
    } else {
      const started = Date.now();
      const plan = await preflight(config, source, target, {
        configPath: options.configPath, fence: existing ? modeOf(existing) : options.fence, reverse: existing?.reverse ?? options.reverse,
        verify: options.verify, maxLagSeconds: options.maxLagSeconds, resuming: existing !== undefined,
      });
      if (!(await options.confirm(formatPlan(plan, existing?.id)))) {
        throw new FerryError('FERRY_SWITCHOVER_DECLINED', 'not confirmed: nothing was changed', 'answer yes, or pass --yes', { exitCode: ExitCode.usage });
      }
      const state = existing ?? await beginSwitchover(target, config.groups.map((g) => g.name), await planFence(source, options.fence), options.reverse);
      session = { config, source, target, log: log.child({ switchover: state.id }), state, reverseGroups: [], sequences: plan.sequences.length };
      await recordStep(target, state, { step: 'preflight', startedAt: new Date(started).toISOString(), seconds: (Date.now() - started) / 1000, detail: planDetail(plan) });
      await beforeNoReturn(session, options);
    }
    await commit(session, options.configPath);
    return report(session);
  } finally {
    await Promise.all([source.end().catch(() => undefined), target.end().catch(() => undefined)]);
  }
}

/**
 * Everything that can still be taken back. On failure the fence is lifted
 * and the rest undone (see abort), and the error says which step failed and
 * why.
 */
async function beforeNoReturn(s: Session, options: SwitchoverOptions): Promise<void> {
  const deadline = new Deadline(options.timeoutSeconds);
  let current: StepName = 'fence';
  const run = async (name: StepName, work: () => Promise<string | undefined>) => {
    current = name;
    const started = Date.now();
    const detail = await deadline.race(name, work());
    await recordStep(s.target, s.state, { step: name, startedAt: new Date(started).toISOString(), seconds: (Date.now() - started) / 1000, ...(detail ? { detail } : {}) });
  };
  try {
    await run('fence', async () => {
      const ended = await putUpFence(s.source, s.state.fence);
      s.state.fencedAt = (await s.target.query<{ fenced_at: Date }>(switchoverSql.fenced, [s.state.id])).rows[0]?.fenced_at ?? new Date();
      s.log.info({ fence: s.state.fence.mode, sessionsEnded: ended }, 'fence up: writes on the source stopped');
      return `${s.state.fence.mode}, ${ended} session(s) ended`;
    });
    await run('drain', async () => {
      const position = s.state.fence.mode === 'none'
        ? await (async () => { await drain(s.config, deadline.remaining()); return checkQuiet(s.config, s.target, options.quietMs, deadline.remaining()); })()
        : await drain(s.config, deadline.remaining());
      s.state.drainedAt = position;
      await s.target.query(switchoverSql.recordDrained, [s.state.id, position]);
      s.log.info({ position }, 'drained: every group applied the source up to the fence');
      return `at ${position}`;
    });
    if (options.verify && !stepDone(s.state, 'verify')) {
      await run('verify', async () => {
        const result = await verify(s.config, { limit: 10, parallel: s.config.copy.parallel, timeoutSeconds: deadline.remaining() }, s.log);
        const differing = result.tables.filter((t) => !t.equal);
        if (differing.length > 0) {
          throw new FerryError('FERRY_SWITCHOVER_VERIFY_DIFFERS', `source and target differ at the fenced point: ${differing.map((t) =>
            `${t.table} (missing ${t.missing.count}, extra ${t.extra.count}, differing ${t.differing.count})`).join(', ')}`,
          'run "ferry verify" for the rows, repair the target (ferry resync --table …), then run the switchover again');
        }
        return `${result.tables.length} table(s) equal`;
      });
    }
    await run('pause', async () => {
      s.paused = await pauseApply(s.config.target.url, s.config.groups.map((g) => g.name), deadline.remaining());
      return 'forward apply stopped';
    });
    await run('finish-target', async () => {
      const done = await finishTarget(s.config, s.source, s.target, s.log, async (key) => {
        s.state.foreignKeys.push(key);
        await s.target.query(switchoverSql.recordForeignKeys, [s.state.id, JSON.stringify(s.state.foreignKeys)]);
      });
      return `${done.sequences} sequence(s), ${done.foreignKeys} foreign key(s), ${done.triggers} trigger(s) changed`;
    });
    if (s.state.reverse) {
      await run('reverse', async () => {
        s.reverseGroups = await createReverseGroups(s.config, s.state.fence, s.log);
        return s.reverseGroups.map((g) => `${g.group} from ${g.position}`).join(', ');
      });
    }
  } catch (err) {
    throw await abort(s, current, err);
  }
}

/**
 * Takes back what the steps did, the fence last but surely: the reverse
 * groups go, the foreign keys it created go (the forward stream applies as
 * before), the apply locks are given back (ferry run goes on), and the
 * source's settings are restored. Returns the error to report: the step's
 * own (timeout: exit 3), or, if the fence could not be lifted, one that says
 * so (exit 4).
 */
async function abort(s: Session, step: StepName | 'abort', cause: unknown): Promise<FerryError> {
  const reason = cause instanceof FerryError ? cause.describe() : (cause as Error).message;
  s.log.error({ step, err: reason }, 'switchover failed before its point of no return: undoing it');
  const leftovers: string[] = [];
  const attempt = async (what: string, work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (err) {
      leftovers.push(`${what}: ${(err as Error).message}`);
    }
  };
  await s.paused?.end().catch(() => undefined);
  if (s.state.reverse) await attempt('dropping the reverse groups', () => dropReverseGroups(s.config, s.log));
  await attempt('dropping the foreign keys it created', () => dropCreatedForeignKeys(s.target, s.state.foreignKeys));
  let lifted = true;
  try {
    await liftFence(s.source, s.state.fence);
  } catch (err) {
    lifted = false;
    leftovers.push((err as FerryError).describe());
  }
  if (lifted) {
    await attempt('recording the abort on the target', () => s.target.query(switchoverSql.finish, [s.state.id, 'aborted', `${step}: ${reason}`]));
  }
  for (const l of leftovers) s.log.warn({ step }, `while undoing the switchover: ${l}`);
  const timeout = cause instanceof FerryError && cause.exitCode === ExitCode.timeout;
  if (!lifted) {
    return new FerryError('FERRY_SWITCHOVER_INCOMPLETE', `switchover failed at step ${step} (${reason}) and the fence on the source could not be lifted`,
      `run "ferry switchover --abort" again, or lift it by hand: ${liftStatements(s.state.fence).join('; ')}`, { exitCode: ExitCode.incomplete, cause });
  }
  return new FerryError(timeout ? 'FERRY_SWITCHOVER_TIMEOUT' : 'FERRY_SWITCHOVER_ABORTED',
    `switchover stopped at step ${step}: ${reason}. The fence is lifted (the source takes writes again) and the standby keeps streaming`
      + (leftovers.length > 0 ? `; not undone: ${leftovers.join('; ')}` : ''),
    'fix the cause and run "ferry switchover" again', { exitCode: timeout ? ExitCode.timeout : ExitCode.failure, cause });
}

/**
 * The point of no return, recorded first so that a re-run finishes rather
 * than undoes: the forward groups are retired, a fence an earlier
 * switchover left on the target is lifted, and the reverse configuration is
 * written. The source stays fenced: it is the old primary.
 */
async function commit(s: Session, configPath: string): Promise<void> {
  const started = Date.now();
  try {
    await s.target.query(switchoverSql.commit, [s.state.id]);
    await retireForwardGroups(s.config, s.source, s.target, s.log);
    const lifted = await liftStandingFences(s.target, s.log);
    const reverseConfig = s.state.reverse ? await writeReverseConfig(configPath) : undefined;
    s.reverseConfig = reverseConfig;
    await recordStep(s.target, s.state, {
      step: 'commit', startedAt: new Date(started).toISOString(), seconds: (Date.now() - started) / 1000,
      detail: `forward groups retired${lifted > 0 ? ', earlier fence on the target lifted' : ''}${reverseConfig ? `, reverse configuration ${reverseConfig}` : ''}`,
    });
    await s.target.query(switchoverSql.finish, [s.state.id, 'done', null]);
    s.log.info('switched over: the target is the primary');
  } catch (err) {
    throw new FerryError('FERRY_SWITCHOVER_INCOMPLETE',
      `the switchover is past its point of no return but its last step failed: ${err instanceof FerryError ? err.describe() : (err as Error).message}`,
      'fix the cause and run the same "ferry switchover" again: it finishes from here', { exitCode: ExitCode.incomplete, cause: err });
  } finally {
    await s.paused?.end().catch(() => undefined);
  }
}

function report(s: Session): SwitchoverReport {
  const fencedAt = s.state.fencedAt?.getTime() ?? Date.now();
  const committed = s.state.steps.filter((t) => t.step === 'commit').at(-1);
  const end = committed ? new Date(committed.startedAt).getTime() + committed.seconds * 1000 : Date.now();
  return {
    switchedOver: true, id: s.state.id, groups: s.state.groups, fence: s.state.fence, liftFence: liftStatements(s.state.fence),
    drainedAt: s.state.drainedAt, steps: s.state.steps, writeUnavailableSeconds: Math.max(end - fencedAt, 0) / 1000,
    sequences: s.sequences, foreignKeys: s.state.foreignKeys.length, verified: stepDone(s.state, 'verify'),
    reverse: s.state.reverse ? { config: s.reverseConfig ?? '', groups: s.reverseGroups } : null,
  };
}

/**
 * `--abort`: a switchover left in the middle (before its point of no
 * return) is undone: reverse groups dropped, keys it created dropped, the
 * fence lifted.
 */
export async function abortSwitchover(config: FerryConfig, log: Logger): Promise<{ id: number; fence: string }> {
  const { source, target } = await openBoth(config);
  try {
    await ensureControlSchema(target);
    await lockSwitchover(target);
    const existing = await inProgress(target);
    if (!existing) throw new FerryError('FERRY_SWITCHOVER_NONE', 'no switchover is in progress on this target', undefined, { exitCode: ExitCode.usage });
    if (existing.status === 'committed') {
      throw new FerryError('FERRY_SWITCHOVER_PAST_NO_RETURN', `switchover ${existing.id} is past its point of no return and cannot be undone`,
        'run the same "ferry switchover" again to finish it; to go back, switch over once more with the reverse configuration', { exitCode: ExitCode.usage });
    }
    const err = await abort({ config, source, target, log, state: existing, reverseGroups: [], sequences: 0 }, 'abort', new FerryError('FERRY_SWITCHOVER_ABORT_REQUESTED', 'requested with --abort'));
    if (err.exitCode === ExitCode.incomplete) throw err;
    return { id: existing.id, fence: existing.fence.mode };
  } finally {
    await Promise.all([source.end().catch(() => undefined), target.end().catch(() => undefined)]);
  }
}

async function openBoth(config: FerryConfig): Promise<{ source: pg.Client; target: pg.Client }> {
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:switchover' });
  try {
    return { source, target: await connect(config.target.url, { role: 'target', applicationName: 'ferry:switchover' }) };
  } catch (err) {
    await source.end().catch(() => undefined);
    throw err;
  }
}

async function lockSwitchover(target: pg.Client): Promise<void> {
  if (!(await target.query<{ locked: boolean }>(switchoverSql.tryLock)).rows[0]?.locked) {
    throw new FerryError('FERRY_SWITCHOVER_BUSY', 'another ferry switchover is running against this target', 'wait for it to finish', { exitCode: ExitCode.usage });
  }
}

function checkSameGroups(config: FerryConfig, state: SwitchoverState): void {
  const names = config.groups.map((g) => g.name).sort().join(',');
  if ([...state.groups].sort().join(',') !== names) {
    throw new ConfigError(`switchover ${state.id} of groups ${state.groups.join(', ')} is in progress on this target; this configuration has groups ${names}`,
      'run the switchover again with the configuration it was started with, or undo it with --abort');
  }
}

function modeOf(state: SwitchoverState): FenceMode {
  const f = state.fence;
  return f.mode === 'roles' ? { mode: 'roles', roles: f.roles.map((r) => r.name) } : { mode: f.mode };
}

function planDetail(plan: SwitchoverPlan): string {
  return `${plan.groups.length} group(s), ${plan.sequences.length} sequence(s), ${plan.foreignKeys.length} foreign key(s) to create`;
}
