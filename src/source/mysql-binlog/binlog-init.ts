import mysql, { type Connection } from 'mysql2/promise';
import type pg from 'pg';
import { mysqlConfig, type FerryConfig, type GroupConfig } from '../../config/schema.js';
import { CopyProgress } from '../../copy/copy-progress.js';
import { copyPartlyCopiedAgain } from '../../init/group-copy.js';
import { FerryError, PrerequisiteError } from '../../errors.js';
import type { InitSummary } from '../../init/init.js';
import type { Logger } from '../../observe/logger.js';
import { connect } from '../../pg/connect.js';
import { ensureControlSchema, readGroup, type GroupRow } from '../../target/control-schema.js';
import { sql } from '../../target/control-sql.js';
import type { Position } from '../position.js';
import { connectionOptions } from './binlog-connection.js';
import { binlogFiles } from './binlog-files.js';
import { compareFilePositions } from './binlog-position.js';
import { binlogPosition, formatBinlogPosition } from './binlog-stream-position.js';
import { openConsistentSnapshot, type ConsistentSnapshot } from './consistent-snapshot.js';
import { targetLabel, targetName, type GroupTable } from './group-table.js';
import { copyChunk } from './mysql-copy.js';
import { planMySqlChunks } from './mysql-chunk-plan.js';
import { checkBinlogSource, describePrerequisite } from './mysql-prerequisites.js';
import { groupTables } from './mysql-tables.js';
import { createTargetTables, createTargetIndexes, targetTableProblems } from './target-tables.js';

interface PlannedGroup {
  readonly config: GroupConfig;
  readonly tables: readonly GroupTable[];
  readonly existing: GroupRow | undefined;
}

/**
 * `ferry init` for a MySQL or MariaDB source: checks the source's binlog
 * settings, privileges and keys and the target's tables, all at once; then
 * per group creates the target tables from the MySQL catalog (through the
 * type map), opens consistent snapshots lined up with the binlog (see
 * consistent-snapshot.ts), records the earliest snapshot's place as the
 * group's start, copies the tables in key-range chunks in parallel, each
 * chunk with the binlog place of the snapshot it was read under, builds the
 * secondary indexes, and marks the group streaming. Nothing is created on
 * the source.
 *
 * An interrupted copy resumes: finished chunks stay, the others are read
 * under a newer snapshot, and the stream skips, row by row, the changes
 * those chunks already hold (the overlap filter), provided the source still
 * has the binlog from the group's start.
 */
export async function initBinlogGroups(config: FerryConfig, log: Logger): Promise<InitSummary[]> {
  const options = mysqlConfig(config);
  const control = await mysql.createConnection(connectionOptions(config.source.url));
  let target: pg.Client | undefined;
  try {
    target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:init' });
    const plan: PlannedGroup[] = [];
    for (const group of config.groups) {
      plan.push({ config: group, tables: await groupTables(control, group.tables, options.typeMap, options.schemas), existing: await readGroup(target, group.name) });
    }
    await checkPrerequisites(config, control, target, plan, log);
    await ensureControlSchema(target);
    const summaries: InitSummary[] = [];
    for (const group of plan) summaries.push(await initGroup(config, control, target, group, log.child({ group: group.config.name })));
    return summaries;
  } finally {
    await control.end().catch(() => undefined);
    await target?.end().catch(() => undefined);
  }
}

async function checkPrerequisites(config: FerryConfig, control: Connection, target: pg.Client, plan: readonly PlannedGroup[], log: Logger): Promise<void> {
  const pending = plan.filter((g) => g.existing?.state !== 'streaming');
  const names = pending.flatMap((g) => g.tables.map((t) => ({ database: t.source.database, name: t.source.name })));
  const problems: string[] = [];
  if (names.length > 0) {
    const source = await checkBinlogSource(control, names);
    problems.push(...source.problems.map(describePrerequisite));
    for (const w of source.warnings) log.warn({ code: w.code }, describePrerequisite(w));
  }
  const owner = new Map<string, string>();
  for (const group of plan) {
    for (const t of group.tables) {
      const label = targetLabel(t);
      const other = owner.get(label);
      if (other !== undefined && other !== group.config.name) problems.push(`table ${t.source.database}.${t.source.name} is in groups ${other} and ${group.config.name}: a table can belong to one group only`);
      owner.set(label, group.config.name);
    }
    if (group.existing && group.existing.capture !== config.source.capture) {
      problems.push(`group ${group.config.name} was initialised with capture ${group.existing.capture} but the configuration now says ${config.source.capture}: `
        + 'to change a group\'s capture, run "ferry drop" with the old configuration and "ferry init" with the new one');
    }
    if (group.existing?.state === 'streaming') {
      const configured = group.tables.map(targetLabel).sort();
      const recorded = [...group.existing.tables].sort();
      if (configured.join('\n') !== recorded.join('\n')) {
        problems.push(`group ${group.config.name} streams ${recorded.join(', ')}; the configuration now lists ${configured.join(', ')}: `
          + 'tables cannot join or leave a MySQL group while it streams yet; put new tables in a new group, or "ferry drop --group" and "ferry init" this one');
      }
    } else {
      problems.push(...await targetTableProblems(target, group.tables, group.existing !== undefined));
    }
  }
  if (problems.length > 0) throw new PrerequisiteError(problems);
}

async function initGroup(config: FerryConfig, control: Connection, target: pg.Client, group: PlannedGroup, log: Logger): Promise<InitSummary> {
  const name = group.config.name;
  const labels = group.tables.map(targetLabel);
  if (group.existing?.state === 'streaming') {
    const position = group.existing.position === null ? '' : formatBinlogPosition(group.existing.position);
    log.info({ position }, 'already initialised');
    return { group: name, action: 'already initialised', tables: labels.length, rows: 0, position };
  }
  const options = mysqlConfig(config);
  const resuming = group.existing?.position != null;
  let snapshot: ConsistentSnapshot | undefined;
  try {
    let start: Position;
    if (resuming) {
      start = group.existing?.position as Position;
      await requireBinlogFrom(control, start, name);
      // A table's chunks would otherwise come from two snapshots: a unique value that moved between them would be there twice (or not at all) when its key is built.
      await copyPartlyCopiedAgain(target, name, group.tables.map((t) => ({ label: targetLabel(t), name: targetName(t) })), () => false,
        'its chunks would come from two snapshots', log);
      snapshot = await openSnapshot(config, group);
      log.warn({ position: formatBinlogPosition(start), resumeSnapshot: formatBinlogPosition(binlogPosition(snapshot.start.file)) },
        'resuming an interrupted copy; finished chunks are kept');
    } else {
      // Tables an earlier, interrupted attempt created still need their keys and indexes at the end.
      const createdBefore = group.existing
        ? (await target.query<{ created_tables: string[] }>(sql.createdTables, [name])).rows[0]?.created_tables ?? [] : [];
      if (group.existing) {
        log.warn('an earlier init of this group stopped before its copy started; starting it again');
        await target.query(sql.deleteGroup, [name]);
      }
      await target.query(sql.insertGroup, [name, 'binlog', null, null, labels]);
      await target.query(sql.addCreatedTables, [name, createdBefore]);
      await createTargetTables(target, group.tables, log, (label) => target.query(sql.addCreatedTables, [name, [label]]));
      // The snapshot after the tables' plan: chunk bounds read now only split the work, whatever rows the snapshot shows.
      const chunks = [];
      for (const table of group.tables) chunks.push({ table, planned: await planMySqlChunks(control, table, config.copy.chunkBytes) });
      snapshot = await openSnapshot(config, group);
      start = binlogPosition(snapshot.start.file);
      await target.query('BEGIN');
      for (const { table, planned } of chunks) {
        for (const [i, chunk] of planned.entries()) {
          await target.query(sql.insertChunk, [name, targetLabel(table), i, planned.length, JSON.stringify(chunk.plan), chunk.estimatedBytes]);
        }
      }
      await target.query(sql.recordStart, [name, start]);
      await target.query('COMMIT');
      log.info({ position: formatBinlogPosition(start), tables: labels.length, snapshotLock: snapshot.lock }, 'copying tables');
    }
    const started = Date.now();
    const rows = await copyPending(config, target, group, snapshot, log);
    await snapshot.close();
    snapshot = undefined;
    const created = new Set((await target.query<{ created_tables: string[] }>(sql.createdTables, [name])).rows[0]?.created_tables ?? []);
    await createTargetIndexes(config.target.url, target, group.tables.filter((t) => created.has(targetLabel(t))),
      config.copy.parallel, log, () => target.query(sql.startStreaming, [name]));
    log.info({ rows, seconds: (Date.now() - started) / 1000, position: formatBinlogPosition(start), snapshotLock: options.snapshotLock }, 'initialised');
    return { group: name, action: 'initialised', tables: labels.length, rows, position: formatBinlogPosition(start) };
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw err instanceof FerryError ? err : new FerryError('FERRY_INIT', `initialising group ${name} failed: ${(err as Error).message}`,
      'fix the cause and run "ferry init" again; finished chunks are kept', { context: { group: name }, cause: err });
  } finally {
    await snapshot?.close();
  }
}

function openSnapshot(config: FerryConfig, group: PlannedGroup): Promise<ConsistentSnapshot> {
  return openConsistentSnapshot(config.source.url, {
    workers: Math.max(1, config.copy.parallel),
    tables: group.tables.map((t) => ({ database: t.source.database, name: t.source.name })),
    lock: mysqlConfig(config).snapshotLock,
  });
}

/** A resumed copy needs the binlog from the group's start: the stream reads it from there. */
async function requireBinlogFrom(control: Connection, start: Position, group: string): Promise<void> {
  const files = await binlogFiles(control);
  const first = files[0];
  if (first && binlogPosition({ file: first.file, offset: 0 }) <= start) return;
  throw new FerryError('FERRY_BINLOG_PURGED', `group ${group}: the source no longer has the binlog from the group's start (${formatBinlogPosition(start)}), which the interrupted copy needs`,
    'run "ferry drop --group ' + group + '" and "ferry init" again (the copy starts over), and keep binlogs longer (binlog_expire_logs_seconds)', { exitCode: 2, context: { group } });
}

interface ChunkRow { table_name: string; chunk: number; plan: GroupTableChunkPlan; estimated_bytes: string; snapshot_position: string | null }
type GroupTableChunkPlan = Parameters<typeof copyChunk>[2];

/**
 * Every chunk not yet copied, largest first, each by whichever snapshot
 * worker is free; a chunk's rows and its record commit together, with the
 * binlog place of the worker's snapshot.
 */
async function copyPending(config: FerryConfig, target: pg.Client, group: PlannedGroup, snapshot: ConsistentSnapshot, log: Logger): Promise<number> {
  const name = group.config.name;
  const all = (await target.query<ChunkRow>(sql.chunks, [name])).rows;
  const byLabel = new Map(group.tables.map((t) => [targetLabel(t), t]));
  const estimate = new Map<string, number>();
  for (const r of all) estimate.set(r.table_name, (estimate.get(r.table_name) ?? 0) + Number(r.estimated_bytes));
  const jobs = all.filter((r) => r.snapshot_position === null).sort((a, b) => Number(b.estimated_bytes) - Number(a.estimated_bytes));
  const progress = new CopyProgress(name, jobs.reduce((n, j) => n + Number(j.estimated_bytes), 0), jobs.length, log);
  // Workers at different binlog places (MariaDB without a lock) each take whole tables: a table read at two moments
  // may hold a row twice or not at all for a while (a unique value moved between ranges), which its keys, built next, refuse.
  const shared = snapshot.workers.every((w) => compareFilePositions(w.position.file, snapshot.workers[0]?.position.file ?? w.position.file) === 0);
  // Tables dealt out in the jobs' order, largest chunk first: with one worker per table the largest take longest.
  const owner = new Map<string, number>();
  for (const job of jobs) if (!owner.has(job.table_name)) owner.set(job.table_name, owner.size % snapshot.workers.length);
  const taken = new Set<ChunkRow>();
  const take = (worker: number) => jobs.find((j) => !taken.has(j) && (shared || owner.get(j.table_name) === worker));
  let rows = 0;
  const mapOptions = mysqlConfig(config).typeMap;
  try {
    await Promise.all(snapshot.workers.map(async (worker, index) => {
      const session = await connect(config.target.url, { role: 'target', applicationName: `ferry:init:${name}` });
      try {
        for (let job = take(index); job !== undefined; job = take(index)) {
          taken.add(job);
          const table = byLabel.get(job.table_name);
          if (!table) throw new FerryError('FERRY_INIT', `group ${name} has a chunk of ${job.table_name}, which the configuration no longer lists`, 'run "ferry drop" and "ferry init" for the group', { context: { group: name } });
          await session.query('BEGIN');
          const copied = await copyChunk(worker.connection, table, job.plan, session, mapOptions,
            (bytes) => progress.advance(job.table_name, estimate.get(job.table_name) ?? 0, bytes));
          await session.query(sql.markChunkCopied, [name, job.table_name, job.chunk, copied.rows, copied.bytes, binlogPosition(worker.position.file), 'text']);
          await session.query('COMMIT');
          rows += copied.rows;
          progress.chunkDone(copied.rows);
        }
      } catch (err) {
        await session.query('ROLLBACK').catch(() => undefined);
        for (const job of jobs) taken.add(job);
        throw err;
      } finally {
        await session.end().catch(() => undefined);
      }
    }));
  } finally {
    progress.stop();
  }
  return rows;
}
