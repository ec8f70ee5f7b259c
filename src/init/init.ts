import type pg from 'pg';
import type { FerryConfig, GroupConfig } from '../config/schema.js';
import { formatTableRef } from '../config/schema.js';
import { serverVersionSql } from '../catalog/catalog-sql.js';
import { resolveTables, tableLabel, type SourceTable } from '../catalog/source-tables.js';
import { FerryError, PrerequisiteError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { copyGroupSequences } from '../sequences/sync-sequences.js';
import { captureOf, type Capture, type CopySnapshot, type SourceSide } from '../source/capture.js';
import type { Position } from '../source/position.js';
import { copyPendingChunks, recordChunkPlan, resetPartialTables } from './group-copy.js';
import { ensureControlSchema, readGroup, type GroupRow } from '../target/control-schema.js';
import { sql } from '../target/control-sql.js';
import { buildIndexesAndConstraints, prepareTargetTables, targetTableProblems } from './target-tables.js';
import { recordDescriptions } from './record-descriptions.js';
import { changeGroupTables, tableChanges } from './group-tables.js';
import { recordDefinitions, setUpDdlCapture } from './ddl-capture-setup.js';

interface PlannedGroup {
  readonly config: GroupConfig;
  readonly tables: SourceTable[];
  readonly existing: GroupRow | undefined;
  /** Tables the configuration adds to a group that is streaming already. */
  readonly joining: SourceTable[];
}

export interface InitSummary {
  readonly group: string;
  readonly action: 'initialised' | 'already initialised' | 'tables changed';
  readonly tables: number;
  readonly rows: number;
  readonly position: string;
}

/**
 * `ferry init`: checks everything first and reports every problem at once,
 * then per group sets up its capture on the source (a publication and a
 * slot, or a queue and triggers), creates the target tables, copies the
 * rows under the snapshot the capture lines up with its stream, and records
 * that snapshot's position as the group's. With `source.ddl: capture`, DDL
 * of the groups' tables is captured from before their setup on (see
 * ddl-capture-setup.ts). A group found half-initialised (a crash during an
 * earlier init) resumes its copy if its capture is still there, and is
 * redone if not; a finished one is left as it is.
 */
export async function initGroups(config: FerryConfig, log: Logger): Promise<InitSummary[]> {
  const capture = captureOf(config.source.capture);
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:init' });
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:init' });
  try {
    const serverVersion = (await source.query<{ version: number }>(serverVersionSql)).rows[0]?.version ?? 0;
    const plan = await planGroups(config, source, target);
    await checkPrerequisites(capture, config, source, target, plan, log);
    await ensureControlSchema(target);
    await capture.prepareSource(source);
    const ddlGroups = plan.map((g) => ({ name: g.config.name, tables: g.tables }));
    const ddlCaptured = await setUpDdlCapture(config, source, ddlGroups, log);
    const summaries: InitSummary[] = [];
    for (const group of plan) {
      const on = { url: config.source.url, source, group: group.config, serverVersion, log: log.child({ group: group.config.name }) };
      summaries.push(await initGroup(capture, config, group, on, target));
    }
    if (ddlCaptured) for (const group of ddlGroups) await recordDefinitions(source, target, group);
    return summaries;
  } finally {
    await source.end().catch(() => undefined);
    await target.end().catch(() => undefined);
  }
}

async function planGroups(config: FerryConfig, source: pg.Client, target: pg.Client): Promise<PlannedGroup[]> {
  const plan: PlannedGroup[] = [];
  const problems: string[] = [];
  const owner = new Map<number, string>();
  for (const group of config.groups) {
    const { tables, unmatched } = await resolveTables(source, group.tables);
    for (const ref of unmatched) {
      problems.push(ref.pattern
        ? `group ${group.name}: pattern ${formatTableRef(ref)} matches no table on the source: fix the pattern or remove it from the group`
        : `group ${group.name}: table ${formatTableRef(ref)} does not exist on the source: fix its name (quote mixed-case names) or remove it from the group`);
    }
    for (const t of tables) {
      const other = owner.get(t.oid);
      if (other && other !== group.name) problems.push(`table ${tableLabel(t)} is in groups ${other} and ${group.name}: a table can belong to one group only`);
      owner.set(t.oid, group.name);
    }
    const existing = await readGroup(target, group.name);
    const joining = existing?.state === 'streaming' ? (await tableChanges(target, group.name, tables, existing.tables)).joining : [];
    plan.push({ config: group, tables, existing, joining });
  }
  if (problems.length > 0) throw new PrerequisiteError(problems);
  return plan;
}

/** Every problem of source (the capture's) and target at once; then the capture's warnings. */
async function checkPrerequisites(
  capture: Capture, config: FerryConfig, source: pg.Client, target: pg.Client, plan: readonly PlannedGroup[], log: Logger,
): Promise<void> {
  const pendingGroups = plan.filter((g) => g.existing?.state !== 'streaming');
  const { problems, warnings } = await capture.prerequisites(source, [...pendingGroups.flatMap((g) => g.tables), ...plan.flatMap((g) => g.joining)],
    pendingGroups.filter((g) => !g.existing).map((g) => g.config));
  const all = [...problems];
  for (const group of pendingGroups) {
    all.push(...await targetTableProblems(target, group.config.name, group.tables, group.existing !== undefined));
  }
  all.push(...await joiningTableProblems(target, plan));
  all.push(...commonProblems(config, plan));
  all.push(...await targetSchemaProblems(target));
  if (all.length > 0) throw new PrerequisiteError(all);
  for (const warning of warnings) log.warn({ code: warning.code }, warning.message);
}

/** The target side of joining tables; one that an interrupted attempt planned (and partly copied) may have rows. */
async function joiningTableProblems(target: pg.Client, plan: readonly PlannedGroup[]): Promise<string[]> {
  const problems: string[] = [];
  for (const group of plan) {
    const joining = group.joining;
    if (joining.length === 0) continue;
    const planned = new Set((await target.query<{ table_name: string }>(sql.chunks, [group.config.name])).rows.map((r) => r.table_name));
    problems.push(...await targetTableProblems(target, group.config.name, joining.filter((t) => !planned.has(tableLabel(t))), false));
    problems.push(...await targetTableProblems(target, group.config.name, joining.filter((t) => planned.has(tableLabel(t))), true));
  }
  return problems;
}

/** Groups already initialised must still match the configuration's capture. */
function commonProblems(config: FerryConfig, plan: readonly PlannedGroup[]): string[] {
  const problems: string[] = [];
  for (const group of plan) {
    if (group.existing && group.existing.capture !== config.source.capture) {
      problems.push(`group ${group.config.name} was initialised with capture ${group.existing.capture} but the configuration now says ${config.source.capture}: ` +
        `to change a group's capture, run "ferry drop" with the old configuration and "ferry init" with the new one`);
    }
  }
  return problems;
}

async function targetSchemaProblems(target: pg.Client): Promise<string[]> {
  const canCreate = (await target.query<{ ok: boolean }>(`SELECT has_database_privilege(current_database(), 'CREATE') OR
      EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'ferry') AS ok`)).rows[0]?.ok;
  return canCreate ? [] : [`the target role may not create the ferry schema: run GRANT CREATE ON DATABASE <target database> TO <target user>;`];
}

async function initGroup(capture: Capture, config: FerryConfig, group: PlannedGroup, on: SourceSide, target: pg.Client): Promise<InitSummary> {
  const { source, log } = on;
  const name = group.config.name;
  if (group.existing?.state === 'streaming') {
    const position = group.existing.position === null ? '' : capture.formatPosition(group.existing.position);
    return streamingGroup(config, group, source, target, on.serverVersion, position, log);
  }
  const labels = group.tables.map(tableLabel);
  const resuming = group.existing?.position != null && await capture.isSetUp(source, group.config);
  let snapshot: CopySnapshot | undefined;
  try {
    let position: Position;
    if (resuming) {
      // The capture still holds the start position, but the snapshot that went
      // with it died with the crashed init. The rest is copied under a newer
      // snapshot; streaming then skips, row by row, the changes those chunks already hold.
      position = group.existing?.position as Position;
      await resetPartialTables(target, name, group.tables, log);
      snapshot = await capture.copySnapshot(on);
      log.warn({ position: capture.formatPosition(position), resumeSnapshot: capture.formatPosition(snapshot.position) },
        'resuming an interrupted copy; finished chunks are kept');
    } else {
      // Tables an earlier, interrupted attempt created still need their indexes at the end.
      const createdBefore = group.existing
        ? (await target.query<{ created_tables: string[] }>(sql.createdTables, [name])).rows[0]?.created_tables ?? [] : [];
      if (group.existing) {
        log.warn('an earlier init of this group stopped before its capture was ready; starting it again');
        await target.query(sql.deleteGroup, [name]);
      }
      const objects = capture.sourceObjects(group.config);
      await target.query(sql.insertGroup, [name, capture.name, objects.slot, objects.publication, labels]);
      await target.query(sql.addCreatedTables, [name, createdBefore]);
      await prepareTargetTables(target, group.tables, group.existing !== undefined, log,
        async (created) => { await target.query(sql.addCreatedTables, [name, created.map(tableLabel)]); });
      snapshot = await capture.setUp(on, group.tables);
      position = snapshot.position;
      await recordChunkPlan(source, target, name, group.tables, on.serverVersion, config.copy.chunkBytes);
      await target.query(sql.recordStart, [name, position]);
      log.info({ position: capture.formatPosition(position), tables: labels.length }, 'copying tables');
    }
    const rows = await copyAndFinish(config, group, source, target, snapshot, capture.formatPosition(position), log);
    return { group: name, action: 'initialised', tables: labels.length, rows, position: capture.formatPosition(position) };
  } catch (err) {
    throw initError(err, name);
  } finally {
    await snapshot?.close();
  }
}

/** A group that streams already: only the tables the configuration adds or removes change. */
async function streamingGroup(
  config: FerryConfig, group: PlannedGroup, source: pg.Client, target: pg.Client, serverVersion: number, position: string, log: Logger,
): Promise<InitSummary> {
  const name = group.config.name;
  const recorded = group.existing?.tables ?? [];
  const configured = group.tables.map(tableLabel);
  if (configured.length === recorded.length && configured.every((t) => recorded.includes(t))) {
    log.info({ position }, 'already initialised');
    return { group: name, action: 'already initialised', tables: group.tables.length, rows: 0, position };
  }
  try {
    const { rows } = await changeGroupTables(config, group.config, group.tables, recorded, source, target, serverVersion, log);
    return { group: name, action: 'tables changed', tables: group.tables.length, rows, position };
  } catch (err) {
    throw initError(err, name);
  }
}

/** The part of init every capture shares: copy the rows, build indexes, copy sequences, start streaming. */
async function copyAndFinish(
  config: FerryConfig, group: PlannedGroup, source: pg.Client, target: pg.Client, snapshot: CopySnapshot, position: string, log: Logger,
): Promise<number> {
  const name = group.config.name;
  const started = Date.now();
  const rows = await copyPendingChunks(config, source, target, name, group.tables, snapshot, log);
  const createdLabels = new Set((await target.query<{ created_tables: string[] }>(sql.createdTables, [name])).rows[0]?.created_tables ?? []);
  await buildIndexesAndConstraints(target, group.tables.filter((t) => createdLabels.has(tableLabel(t))), log);
  await copyGroupSequences(source, target, name, group.tables.map((t) => t.oid), log);
  await recordDescriptions(source, target, name, group.tables);
  await target.query(sql.startStreaming, [name]);
  log.info({ rows, seconds: (Date.now() - started) / 1000, position }, 'initialised');
  return rows;
}

function initError(err: unknown, group: string): FerryError {
  return err instanceof FerryError ? err : new FerryError('FERRY_INIT', `initialising group ${group} failed: ${(err as Error).message}`,
    'fix the cause and run "ferry init" again', { context: { group }, cause: err });
}
