import type pg from 'pg';
import type { Relation } from '../change/change.js';
import type { FerryConfig, GroupConfig } from '../config/schema.js';
import { FerryError, inContext } from '../errors.js';
import { Applier } from '../apply/applier.js';
import { batches, type Batch } from '../apply/batch.js';
import type { Logger } from '../observe/logger.js';
import { connect, qualifiedName } from '../pg/connect.js';
import { streamSourceOf } from '../source/capture.js';
import { storedPosition, type Position } from '../source/position.js';
import { readGroup } from '../target/control-schema.js';
import { sql } from '../target/control-sql.js';
import { sqlState, transientKind } from './transient.js';
import { lockGroup, ownBackend, type Backend } from './group-lock.js';
import type { ChunkPlan } from '../copy/chunk-plan.js';
import { skipCopiedChanges } from '../copy/overlap-filter.js';
import type { ChangeStream, SourceEvent } from '../source/source.js';
import { SchemaEvolution } from '../apply/schema-evolution.js';
import { DefinitionReconciler } from '../apply/definition-reconcile.js';
import type { ApplyMetrics } from '../observe/metrics.js';
import { countRows } from './batch-counts.js';
import { holdJoiningChanges, type JoiningTables } from '../copy/hold-joining-changes.js';
import { replayHeldChanges } from './replay-held-changes.js';
import { resync } from '../init/resync.js';
import type { HeldChange } from '../change/held-change.js';

export interface GroupOutcome {
  readonly group: string;
  readonly error?: FerryError;
}

/** Longer than wal_sender_timeout's default (60 s) several times over. */
const SLOT_BUSY_LIMIT_MS = 5 * 60_000;

/**
 * Runs one group until `signal` aborts or a permanent error: stream from the
 * position stored on the target, apply batch by batch, acknowledge what
 * committed. Transient failures (restarts, cut connections, conflicts with
 * other target sessions) start again with backoff from the target's
 * position, which is always exact.
 */

export async function runGroup(config: FerryConfig, group: GroupConfig, log: Logger, signal: AbortSignal, metrics?: ApplyMetrics): Promise<GroupOutcome> {
  const glog = log.child({ group: group.name });
  let delay = config.apply.retryInitialMs;
  // Target backends of earlier attempts, which a lost connection may have left holding the group.
  const backends: Backend[] = [];
  // A slot that stays busy longer than any walsender timeout is held by someone else.
  let slotBusySince: number | undefined;
  const transfer = { binary: config.apply.binaryTransfer };
  // The same conflict (deadlock, lock timeout, …) at the same place, again and again, is not transient after all.
  let conflict: { readonly key: string; readonly count: number } | undefined;
  // Tables being copied again because a schema change left their rows unknown (see SchemaEvolution).
  const resyncing = new Set<string>();
  const startResync = (table: string, reason: string) => {
    if (resyncing.has(table)) return;
    resyncing.add(table);
    const [schema, name] = [table.slice(0, table.indexOf('.')), table.slice(table.indexOf('.') + 1)];
    glog.info({ table, reason }, 'copying the table again, aligned with the stream');
    resync({ ...config, groups: [group] }, [{ schema, table: name, pattern: false }], glog)
      .then(() => glog.info({ table }, 'table copied again after a schema change'))
      .catch((err: unknown) => glog.error({ table, err: inContext(err, 'FERRY_RESYNC', { group: group.name, table }).describe() },
        `copying the table again failed; its changes are held meanwhile: run "ferry resync -c <config> --table ${table}"`))
      .finally(() => resyncing.delete(table));
  };
  const onProgress = (committed: boolean) => {
    delay = config.apply.retryInitialMs;
    slotBusySince = undefined;
    if (committed) conflict = undefined;
  };
  while (!signal.aborted) {
    try {
      await streamOnce(config, group, glog, signal, onProgress, backends, transfer, startResync, metrics);
      return { group: group.name };
    } catch (err) {
      let error = inContext(err, 'FERRY_RUN', { group: group.name });
      if (error.code === 'FERRY_BINARY_INCOMPATIBLE' && transfer.binary) {
        // Nothing of the batch committed; the same changes come again, as text.
        transfer.binary = false;
        glog.info({ reason: error.message }, 'reconnecting to read this group as text');
        continue;
      }
      if (error.code === 'FERRY_TABLE_RECOPY' && error.context.table) {
        // Nothing of the batch committed. Once the copy has started, the stream holds the table's changes and passes this point.
        startResync(error.context.table, error.message);
        await sleep(delay, signal);
        delay = Math.min(delay * 2, config.apply.retryMaxMs);
        continue;
      }
      if (error.code === 'FERRY_SWITCHED_OVER') {
        // Not a failure: `ferry switchover` retired the group; the reverse configuration streams the other way.
        glog.info(error.message);
        return { group: group.name };
      }
      if (error.code === 'FERRY_TABLE_JOINED') {
        // Not a failure: the stream starts again with the table's held changes applied and its copy known to the filter.
        glog.info({ table: error.context.table, reason: error.message }, 'a table joined the group; starting its stream again');
        continue;
      }
      const kind = transientKind(err);
      slotBusySince = error.code === 'FERRY_SLOT_ACTIVE' ? slotBusySince ?? Date.now() : undefined;
      let transient = kind === 'connection' && (slotBusySince === undefined || Date.now() - slotBusySince < SLOT_BUSY_LIMIT_MS);
      if (kind === 'conflict') {
        const key = `${sqlState(err)} ${error.context.table ?? ''} ${error.context.position ?? ''}`;
        conflict = { key, count: conflict?.key === key ? conflict.count + 1 : 1 };
        transient = conflict.count < config.apply.retryAttempts;
        if (!transient) {
          error = new FerryError(error.code, `${error.message} (the same failure ${conflict.count} times in a row at this position)`,
            'find the target session that holds the locks this group needs (pg_locks, pg_stat_activity) and end it, or raise apply.retry_attempts; then run again',
            { exitCode: error.exitCode, context: error.context, cause: err });
        }
      }
      if (!transient && await switchedOver(config, group.name)) {
        // Its source objects were dropped under it by the switchover's last step: the end of this group, not a failure.
        glog.info({ err: error.describe() }, `group ${group.name} was switched over: the target is its primary now`);
        return { group: group.name };
      }
      await recordError(config, group.name, error, !transient);
      metrics?.failed(group.name, error.code, transient);
      if (!transient) {
        glog.error({ code: error.code, err: error.describe() }, 'group stopped');
        return { group: group.name, error };
      }
      if (kind === 'conflict') {
        glog.warn({ code: error.code, sqlstate: sqlState(err), err: error.describe(), attempt: conflict?.count, retryInMs: delay },
          'the batch lost against another target session; retrying from the committed position');
      } else {
        glog.warn({ code: error.code, err: error.describe(), retryInMs: delay }, 'connection lost; reconnecting');
      }
      await sleep(delay, signal);
      delay = Math.min(delay * 2, config.apply.retryMaxMs);
    }
  }
  return { group: group.name };
}

async function streamOnce(
  config: FerryConfig, group: GroupConfig, log: Logger, signal: AbortSignal, onProgress: (committed: boolean) => void, backends: Backend[],
  transfer: { readonly binary: boolean }, startResync: (table: string, reason: string) => void, metrics: ApplyMetrics | undefined,
): Promise<void> {
  const capture = streamSourceOf(config.source.capture);
  const target = await connect(config.target.url, { role: 'target', applicationName: `ferry:${group.name}`, pipeline: true });
  let stream: ChangeStream | undefined;
  const catalog = capture.openCatalog(config, group);
  // Tables whose copied rows this stream's filter knows (see skipCopiedChanges), set once the stream starts.
  const filtered = new Set<string>();
  const formatPosition = (position: Position) => capture.formatPosition(position);
  const schema = catalog && new SchemaEvolution(target, group.name, group.schemaChanges, catalog, log, formatPosition);
  const definitions = schema && new DefinitionReconciler(target, group.name, group.schemaChanges, schema, log, formatPosition);
  const applier = new Applier(target, group.name, log, formatPosition, catalog, schema, definitions);
  try {
    const earlier = [...backends];
    const own = await ownBackend(target);
    if (own) backends.push(own);
    if (backends.length > 10) backends.shift();
    if (!await lockGroup(target, group.name, earlier, log, signal)) return;
    const row = await readGroup(target, group.name);
    if (!row && (await target.query(sql.switchedOver, [group.name])).rows.length > 0) {
      throw new FerryError('FERRY_SWITCHED_OVER', `group ${group.name} was switched over: the target is its primary now`, undefined, { context: { group: group.name } });
    }
    if (!row || row.state !== 'streaming' || row.position === null) {
      throw new FerryError('FERRY_NOT_INITIALISED', `group ${group.name} has not been initialised on the target`,
        'run "ferry init -c <config>" first', { exitCode: 2, context: { group: group.name } });
    }
    if (row.capture !== config.source.capture) {
      throw new FerryError('FERRY_CAPTURE_CHANGED', `group ${group.name} was initialised with capture ${row.capture}, the configuration says ${config.source.capture}`,
        'run "ferry drop" with the old configuration and "ferry init" with the new one', { exitCode: 2, context: { group: group.name } });
    }
    const start = row.position;
    await applier.prepareSession(config.apply.lockTimeoutMs);
    const observed = metrics && { metrics, group: group.name, names: new Map<number, string>() };
    await replayHeldChanges(target, applier, group.name, start, config.apply.batchMaxRows, log, observed && ((batch, mode, seconds) => {
      if (mode) observed.metrics.batchApplied(observed.group, countRows(batch, observed.names), mode, seconds);
    }));
    await resumeInterruptedCopies(target, group.name, row.tables, startResync);
    // Read after the replay (a copy that finished since has held changes, which the hold sees and starts again for),
    // and before the stream starts: a backlog then keeps this process busy, and every round trip waits longer.
    const resumed = (await target.query<{ table_name: string; plan: ChunkPlan; snapshot_position: string }>(sql.chunksIfResumed, [group.name, start])).rows;
    for (const r of resumed) filtered.add(r.table_name);
    stream = await capture.openStream({ config, group, startAfter: start, target, binary: transfer.binary, log });
    log.info({ position: formatPosition(start), ...stream.details }, 'streaming');
    const resume = () => resumeInterruptedCopies(target, group.name, row.tables, startResync);
    const held = holdJoiningChanges(stream.events(), joiningTables(target, group.name, start, filtered, resume), group.name);
    const events = resumed.length === 0 ? held
      : skipCopiedChanges(held, resumed.map((r) => ({ table: r.table_name, plan: r.plan, snapshotPosition: storedPosition(r.snapshot_position) })), group.name);
    await applyLoop(events, stream, applier, config, signal, start, () => onProgress(true), onProgress, observed);
  } finally {
    await applier.rollback();
    await stream?.close();
    await catalog?.close();
    await target.end().catch(() => undefined);
  }
}

/** Whether `ferry switchover` retired the group (past its point of no return); false when the target cannot say. */
async function switchedOver(config: FerryConfig, group: string): Promise<boolean> {
  try {
    const target = await connect(config.target.url, { role: 'target', applicationName: `ferry:${group}` });
    try {
      return (await target.query(sql.switchedOver, [group])).rows.length > 0;
    } finally {
      await target.end().catch(() => undefined);
    }
  } catch {
    return false;
  }
}

/**
 * A copy of a joining table that no process holds the copy lock for was
 * interrupted (a crash, a kill): its changes would be held for ever. It is
 * copied again from the start, as `ferry resync` does. Checked when the
 * stream starts and while it holds changes.
 */
async function resumeInterruptedCopies(target: pg.Client, group: string, tables: readonly string[], startResync: (table: string, reason: string) => void): Promise<void> {
  const unfinished = (await target.query<{ table_name: string }>(sql.unfinishedCopies, [group])).rows.map((r) => r.table_name).filter((t) => tables.includes(t));
  if (unfinished.length === 0 || (await target.query<{ locked: boolean }>(sql.tryLockGroupCopy, [group])).rows[0]?.locked !== true) return;
  await target.query(sql.unlockGroupCopy, [group]);
  for (const table of unfinished) startResync(table, 'an earlier copy of the table was interrupted');
}

/**
 * The target's view of tables joining the group (`ferry init` after one was
 * added to the configuration, or `ferry resync`): a table whose copy runs has
 * its changes held; one copied since this stream started (under a snapshot
 * newer than its start, which the stream's filter does not know) or with
 * changes still held needs the stream to start again.
 */
function joiningTables(target: pg.Client, group: string, start: Position, filtered: ReadonlySet<string>, resumeInterrupted: () => Promise<void>): JoiningTables {
  return {
    async holding(relation: Relation) {
      const rows = (await target.query<{ table_name: string; pending: boolean; newer: boolean; held: boolean }>(sql.joiningTable,
        [group, `${relation.schema}.${relation.table}`, qualifiedName(relation.schema, relation.table), start])).rows;
      const copying = rows.find((r) => r.pending);
      if (copying) return copying.table_name;
      const joined = rows.find((r) => r.held || (r.newer && !filtered.has(r.table_name)));
      if (joined) {
        throw new FerryError('FERRY_TABLE_JOINED', `table ${joined.table_name} was copied into group ${group} since this stream started`, undefined,
          { context: { group, table: joined.table_name } });
      }
      return undefined;
    },
    async copied(tables: readonly string[]) {
      await resumeInterrupted();
      return (await target.query<{ table_name: string }>(sql.copiedTables, [group, tables])).rows.map((r) => r.table_name);
    },
  };
}

async function applyLoop(
  events: AsyncIterable<readonly (SourceEvent | HeldChange)[]>, stream: ChangeStream, applier: Applier, config: FerryConfig, signal: AbortSignal, start: Position,
  onCommit: () => void, onProgress: (committed: boolean) => void,
  observed: { readonly metrics: ApplyMetrics; readonly group: string; readonly names: Map<number, string> } | undefined,
): Promise<void> {
  // Whether the applier waits for the next batch (then it is cut at the next commit).
  let applying = false;
  const it = batches(events, {
    maxRows: config.apply.batchMaxRows,
    maxBytes: config.apply.batchMaxBytes,
    maxDelayMs: config.apply.batchMaxDelayMs,
  }, () => !applying)[Symbol.asyncIterator]();
  let position = start;
  // The next batch is cut (and decoded) while the current one is applied.
  let next = it.next();
  next.catch(() => undefined);
  for (;;) {
    const result = await untilAborted(next, signal);
    if (result === 'aborted' || result.done) return;
    // Before asking for the next batch: the generator resumes inside this call.
    applying = true;
    next = it.next();
    next.catch(() => undefined);
    const batch: Batch = result.value;
    const started = observed && performance.now();
    const { committed, mode } = await applier.apply(batch, position).finally(() => { applying = false; });
    if (observed && started !== undefined) {
      // Counted even when nothing was written: the batch may name tables (relation descriptions) later batches use.
      const rows = countRows(batch, observed.names);
      if (mode) observed.metrics.batchApplied(observed.group, rows, mode, (performance.now() - started) / 1000);
      if (committed !== undefined) observed.metrics.committed(observed.group, batch.commit?.transactions ?? 0);
    }
    if (committed !== undefined) {
      position = committed;
      stream.acknowledge(committed);
      onCommit();
    } else if (batch.idle !== undefined && !applier.inTransaction) {
      if (batch.idle > position) {
        await applier.recordIdle(batch.idle, batch.idleTime);
        position = batch.idle;
      }
      stream.acknowledge(batch.idle);
      // An idle stream is a working one too: the next outage starts its backoff afresh.
      onProgress(false);
    }
    if (signal.aborted && !applier.inTransaction) return;
  }
}

/**
 * `promise`, or 'aborted' once the signal fires. A fresh abort promise per
 * call: racing one long-lived promise again and again would keep every
 * batch it was raced against reachable until the run ends.
 */
async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | 'aborted'> {
  if (signal.aborted) return 'aborted';
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<'aborted'>((resolve) => {
    onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

async function recordError(config: FerryConfig, group: string, error: FerryError, fatal: boolean): Promise<void> {
  try {
    const target = await connect(config.target.url, { role: 'target', applicationName: `ferry:${group}:error` });
    try {
      await target.query(sql.recordError, [group, error.describe(), fatal]);
    } finally {
      await target.end();
    }
  } catch {
    // The target may be what failed; the log has the error either way.
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}
