import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import { FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { connect, qualifiedName } from '../pg/connect.js';
import { isTransient } from '../run/transient.js';
import { sequenceLabel, sequencesOfGroups, sequencesOfTables, type SourceSequence } from './sequence-catalog.js';
import { createSequenceStatement, sequenceSql, type SequenceName } from './sequence-sql.js';

/**
 * Logical decoding carries no sequence values, so the target's sequences are
 * copied separately: exactly at `init` and on demand (`ferry sync-sequences`,
 * the last step of a switchover), and `headroom` increments ahead while
 * `ferry run` runs, so that a switchover that forgot the final sync still
 * hands out no value the source already used (unless the source used more
 * than `headroom` values since the last periodic sync).
 */

/** `exact`: the target gets the source's state as it is. `ahead`: headroom increments further, and never backwards. */
export type SyncMode = { readonly mode: 'exact' } | { readonly mode: 'ahead'; readonly headroom: number };

/** A sequence's state: `last_value` (as text: it is a bigint) and `is_called` (false: `last_value` is the next value handed out). */
export interface SequenceState {
  readonly value: string;
  readonly isCalled: boolean;
}

export interface SequenceSyncResult {
  /** The source sequence, schema.name. */
  readonly sequence: string;
  /** The target sequence it was copied to (usually the same name); null when there is none. */
  readonly target: string | null;
  readonly groups: readonly string[];
  readonly source: SequenceState | null;
  /** The target's state before and after. */
  readonly before: SequenceState | null;
  readonly after: SequenceState | null;
  /** `kept`: the target was already further along than the planned value and was not moved back (mode `ahead`). */
  readonly action: 'set' | 'unchanged' | 'kept' | 'failed';
  readonly error?: FerryError;
}

interface TargetSequence extends SequenceName {
  readonly oid: number;
  readonly increment: bigint;
  readonly min: bigint;
  readonly max: bigint;
}

/** What to set on the target, given both states. Pure: the rules in one place. */
export function planSequenceValue(
  source: { value: bigint; isCalled: boolean; increment: bigint },
  target: { value: bigint; isCalled: boolean; increment: bigint; min: bigint; max: bigint },
  mode: SyncMode,
): { value: bigint; isCalled: boolean; action: 'set' | 'unchanged' | 'kept' } {
  if (mode.mode === 'exact') {
    const same = source.value === target.value && source.isCalled === target.isCalled;
    return { value: source.value, isCalled: source.isCalled, action: same ? 'unchanged' : 'set' };
  }
  let value = source.value + BigInt(mode.headroom) * source.increment;
  // Headroom must not push a sequence past its bounds (setval would fail);
  // a source value that is itself out of the target's bounds is left to fail.
  if (source.value >= target.min && source.value <= target.max) {
    value = value < target.min ? target.min : value > target.max ? target.max : value;
  }
  // Compare the next value each state hands out, in the source's direction.
  const next = (v: bigint, called: boolean) => (called ? v + target.increment : v);
  const direction = source.increment < 0n ? -1n : 1n;
  const ahead = (next(value, source.isCalled) - next(target.value, target.isCalled)) * direction;
  return { value, isCalled: source.isCalled, action: ahead > 0n ? 'set' : ahead === 0n ? 'unchanged' : 'kept' };
}

/**
 * Copies the values of `sequences` from source to target. Problems with one
 * sequence (missing on the target, no privilege, out of bounds) are recorded
 * in its result and the others go on; a lost connection throws.
 */
export async function syncSequences(
  source: pg.Client, target: pg.Client, sequences: readonly SourceSequence[], mode: SyncMode,
): Promise<SequenceSyncResult[]> {
  if (sequences.length === 0) return [];
  const results: (SequenceSyncResult | undefined)[] = new Array(sequences.length).fill(undefined);
  const fail = (i: number, error: FerryError, partial: Partial<SequenceSyncResult> = {}) => {
    const seq = sequences[i] as SourceSequence;
    results[i] = {
      sequence: sequenceLabel(seq), target: null, groups: seq.groups, source: null, before: null, after: null, ...partial, action: 'failed', error,
    };
  };

  const sourceValues = await readValues(source, sequences, (i, err) => fail(i, sourceReadError(sequences[i] as SourceSequence, err)));
  const targets = await resolveOnTarget(target, sequences);
  const present: number[] = [];
  sequences.forEach((seq, i) => {
    if (results[i]) return;
    const found = targets[i];
    if (found) present.push(i);
    else fail(i, missingError(seq), { source: sourceValues[i] ?? null });
  });
  const targetValues = await readValues(target, present.map((i) => targets[i] as TargetSequence), (j, err) => {
    const i = present[j] as number;
    const tgt = targets[i] as TargetSequence;
    fail(i, targetError(sequences[i] as SourceSequence, tgt, err), { source: sourceValues[i] ?? null, target: sequenceLabel(tgt) });
  });

  const toSet: { i: number; seq: TargetSequence; state: SequenceState; before: SequenceState }[] = [];
  present.forEach((i, j) => {
    const seq = sequences[i] as SourceSequence;
    const tgt = targets[i] as TargetSequence;
    const src = sourceValues[i];
    const before = targetValues[j];
    if (results[i] || !src || !before) return;
    const planned = planSequenceValue(
      { value: BigInt(src.value), isCalled: src.isCalled, increment: BigInt(seq.increment) },
      { value: BigInt(before.value), isCalled: before.isCalled, increment: tgt.increment, min: tgt.min, max: tgt.max },
      mode,
    );
    const base = { sequence: sequenceLabel(seq), target: sequenceLabel(tgt), groups: seq.groups, source: src, before };
    if (planned.action === 'set') toSet.push({ i, seq: tgt, state: { value: planned.value.toString(), isCalled: planned.isCalled }, before });
    else results[i] = { ...base, after: before, action: planned.action };
  });

  const applied = mode.mode === 'exact' ? await setExact(target, toSet) : await setAhead(target, toSet, sequences);
  toSet.forEach((s, k) => {
    const seq = sequences[s.i] as SourceSequence;
    const outcome = applied[k];
    const base = { sequence: sequenceLabel(seq), target: sequenceLabel(s.seq), groups: seq.groups, source: sourceValues[s.i] ?? null, before: s.before };
    if (outcome instanceof Error) fail(s.i, targetError(seq, s.seq, outcome), base);
    else if (outcome === 'kept') results[s.i] = { ...base, after: s.before, action: 'kept' };
    else results[s.i] = { ...base, after: s.state, action: 'set' };
  });
  return results as SequenceSyncResult[];
}

/** `last_value` and `is_called` of each sequence: one statement, or one per sequence to find which failed. */
async function readValues(
  client: pg.Client, sequences: readonly SequenceName[], onError: (i: number, err: unknown) => void,
): Promise<(SequenceState | undefined)[]> {
  const values: (SequenceState | undefined)[] = new Array(sequences.length).fill(undefined);
  type Row = { i: number; last_value: string; is_called: boolean };
  if (sequences.length === 0) return values;
  try {
    for (const r of (await client.query<Row>(sequenceSql.values(sequences))).rows) values[r.i] = { value: r.last_value, isCalled: r.is_called };
    return values;
  } catch (err) {
    if (isTransient(err)) throw err;
  }
  for (const [i, seq] of sequences.entries()) {
    try {
      const r = (await client.query<Row>(sequenceSql.values([seq]))).rows[0];
      if (r) values[i] = { value: r.last_value, isCalled: r.is_called };
    } catch (err) {
      if (isTransient(err)) throw err;
      onError(i, err);
    }
  }
  return values;
}

async function resolveOnTarget(target: pg.Client, sequences: readonly SourceSequence[]): Promise<(TargetSequence | undefined)[]> {
  const use = (s: SourceSequence) => s.usedBy[0];
  const rows = (await target.query<{ i: number; oid: number | null; schema: string; name: string; increment: string; min: string; max: string }>(
    sequenceSql.resolveOnTarget, [
      sequences.map((s) => s.schema), sequences.map((s) => s.name),
      sequences.map((s) => use(s)?.schema ?? null), sequences.map((s) => use(s)?.table ?? null), sequences.map((s) => use(s)?.column ?? null),
    ])).rows;
  const found: (TargetSequence | undefined)[] = new Array(sequences.length).fill(undefined);
  for (const r of rows) {
    if (r.oid === null) continue;
    found[r.i - 1] = { oid: r.oid, schema: r.schema, name: r.name, increment: BigInt(r.increment), min: BigInt(r.min), max: BigInt(r.max) };
  }
  return found;
}

/** setval for all of them in one statement (switchover time matters); one by one if that fails, to name the sequence. */
async function setExact(target: pg.Client, items: readonly { seq: TargetSequence; state: SequenceState }[]): Promise<('set' | Error)[]> {
  if (items.length === 0) return [];
  try {
    await target.query(sequenceSql.setValues, [items.map((s) => s.seq.oid), items.map((s) => s.state.value), items.map((s) => s.state.isCalled)]);
    return items.map(() => 'set');
  } catch (err) {
    if (isTransient(err)) throw err;
  }
  const outcomes: ('set' | Error)[] = [];
  for (const s of items) {
    try {
      await target.query(sequenceSql.setValue, [s.seq.oid, s.state.value, s.state.isCalled]);
      outcomes.push('set');
    } catch (err) {
      if (isTransient(err)) throw err;
      outcomes.push(err as Error);
    }
  }
  return outcomes;
}

/**
 * setval only if the target is still behind the new value when the
 * statement runs, so a target whose sequence was used in the meantime (an
 * application already writing there) is never moved back.
 */
async function setAhead(
  target: pg.Client, items: readonly { i: number; seq: TargetSequence; state: SequenceState }[], sequences: readonly SourceSequence[],
): Promise<('set' | 'kept' | Error)[]> {
  const outcomes: ('set' | 'kept' | Error)[] = [];
  for (const s of items) {
    const direction = BigInt((sequences[s.i] as SourceSequence).increment) < 0n ? -1 : 1;
    try {
      const res = await target.query(sequenceSql.setIfBehind(s.seq), [s.seq.oid, s.state.value, s.state.isCalled, s.seq.increment.toString(), direction]);
      outcomes.push(res.rows.length > 0 ? 'set' : 'kept');
    } catch (err) {
      if (isTransient(err)) throw err;
      outcomes.push(err as Error);
    }
  }
  return outcomes;
}

function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function usedByText(seq: SourceSequence): string {
  const uses = seq.usedBy.map((u) => `${u.schema}.${u.table}.${u.column}`);
  return uses.length > 3 ? `${uses.slice(0, 3).join(', ')} and ${uses.length - 3} more` : uses.join(', ');
}

function context(seq: SourceSequence) {
  return { context: { group: seq.groups.join(', ') } };
}

function missingError(seq: SourceSequence): FerryError {
  return new FerryError('FERRY_SEQUENCE_MISSING',
    `sequence ${sequenceLabel(seq)} (used by ${usedByText(seq)}) does not exist on the target`,
    `create it on the target: ${createSequenceStatement(seq)}`, context(seq));
}

function sourceReadError(seq: SourceSequence, err: unknown): FerryError {
  const q = qualifiedName(seq.schema, seq.name);
  const hint = pgCode(err) === '42501' ? `on the source: GRANT SELECT ON SEQUENCE ${q} TO <source user>;` : undefined;
  return new FerryError('FERRY_SEQUENCE_READ', `cannot read sequence ${sequenceLabel(seq)} on the source: ${reason(err)}`, hint,
    { ...context(seq), cause: err });
}

function targetError(seq: SourceSequence, tgt: TargetSequence, err: unknown): FerryError {
  const q = qualifiedName(tgt.schema, tgt.name);
  let hint: string | undefined;
  if (pgCode(err) === '42501') hint = `on the target: GRANT SELECT, UPDATE ON SEQUENCE ${q} TO <target user>;`;
  if (pgCode(err) === '22003') {
    hint = `make the target sequence match the source's: ALTER SEQUENCE ${q} AS ${seq.dataType} INCREMENT BY ${seq.increment} ` +
      `MINVALUE ${seq.min} MAXVALUE ${seq.max}${seq.cycle ? ' CYCLE' : ''};`;
  }
  return new FerryError('FERRY_SEQUENCE_SET', `cannot set sequence ${sequenceLabel(tgt)} on the target from ${sequenceLabel(seq)}: ${reason(err)}`, hint,
    { ...context(seq), cause: err });
}

/**
 * `init`: copies the exact values of the sequences a group's tables use,
 * right after their rows. Throws if any of them cannot be copied.
 */
export async function copyGroupSequences(
  source: pg.Client, target: pg.Client, group: string, tableOids: readonly number[], log: Logger,
): Promise<SequenceSyncResult[]> {
  const results = await syncSequences(source, target, await sequencesOfTables(source, tableOids, group), { mode: 'exact' });
  throwIfFailed(results);
  if (results.length > 0) log.info({ sequences: results.length }, 'sequence values copied');
  return results;
}

/** Throws the error of a failed sequence, or one listing all of them. */
export function throwIfFailed(results: readonly SequenceSyncResult[]): void {
  const errors = results.flatMap((r) => (r.error ? [r.error] : []));
  const [first] = errors;
  if (!first) return;
  if (errors.length === 1) throw first;
  throw new FerryError('FERRY_SEQUENCE_SYNC', `${errors.length} sequences could not be synchronised:\n  ${errors.map((e) => e.describe()).join('\n  ')}`);
}

/** Every group's sequences, over fresh connections. */
export async function syncAllSequences(config: FerryConfig, mode: SyncMode, applicationName = 'ferry:sequences'): Promise<SequenceSyncResult[]> {
  const source = await connect(config.source.url, { role: 'source', applicationName });
  try {
    const target = await connect(config.target.url, { role: 'target', applicationName });
    try {
      return await syncSequences(source, target, await sequencesOfGroups(source, config.groups), mode);
    } finally {
      await target.end().catch(() => undefined);
    }
  } finally {
    await source.end().catch(() => undefined);
  }
}

/**
 * While `ferry run` runs: every `sequences.sync_interval_ms`, sets each
 * target sequence `sequences.headroom` increments ahead of the source,
 * never backwards. Failures are logged as warnings and retried next time;
 * this never throws. Resolves promptly once `signal` aborts.
 */
export async function syncSequencesPeriodically(config: FerryConfig, log: Logger, signal: AbortSignal): Promise<void> {
  const slog = log.child({ task: 'sequences' });
  const mode: SyncMode = { mode: 'ahead', headroom: config.sequences.headroom };
  const aborted = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  let rounds = 0;
  while (!signal.aborted) {
    const round = syncAllSequences(config, mode, 'ferry:sequences').then((results) => {
      for (const r of results) {
        if (r.error) slog.warn({ sequence: r.sequence, code: r.error.code, err: r.error.describe() }, 'sequence not synchronised; retrying next interval');
        else if (r.action === 'set') slog.debug({ sequence: r.sequence, source: r.source?.value, target: r.after?.value }, 'sequence set');
      }
      const set = results.filter((r) => r.action === 'set').length;
      const failed = results.filter((r) => r.action === 'failed').length;
      (rounds++ === 0 ? slog.info.bind(slog) : slog.debug.bind(slog))(
        { sequences: results.length, set, failed, headroom: mode.headroom, intervalMs: config.sequences.syncIntervalMs }, 'sequences synchronised');
    }, (err: unknown) => {
      const error = err instanceof FerryError ? err.describe() : reason(err);
      slog.warn({ err: error, retryInMs: config.sequences.syncIntervalMs }, 'sequence sync failed; retrying next interval');
    });
    await Promise.race([round, aborted]);
    await sleep(config.sequences.syncIntervalMs, signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) { resolve(); return; }
    const done = () => { clearTimeout(timer); signal.removeEventListener('abort', done); resolve(); };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
