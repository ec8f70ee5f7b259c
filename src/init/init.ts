import type pg from 'pg';
import type { FerryConfig, GroupConfig } from '../config/schema.js';
import { formatTableRef } from '../config/schema.js';
import { identityProblems } from '../catalog/table-checks.js';
import { resolveTables, tableLabel, type SourceTable } from '../catalog/source-tables.js';
import { FerryError, PrerequisiteError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { formatLsn, parseLsn } from '../source/pg-wal/lsn.js';
import { readWalSettings, unlimitedSlotWalWarning, walProblems, type WalSettings } from '../source/pg-wal/prerequisites.js';
import { copyGroupSequences } from '../sequences/sync-sequences.js';
import { ReplicationConnection, type CreatedSlot } from '../source/pg-wal/replication-connection.js';
import { copyPendingChunks, recordChunkPlan, resetPartialTables } from './group-copy.js';
import { ensureTriggerSchema, installCapture, queueExists, uninstallCapture } from '../source/pg-trigger/capture-install.js';
import { formatTick, openCopySnapshot, type CopySnapshot } from '../source/pg-trigger/ticks.js';
import { readTriggerSettings, triggerProblems, type TriggerSettings } from '../source/pg-trigger/trigger-prerequisites.js';
import { publishPartitionsThemselves } from '../source/pg-wal/partition-publishing.js';
import { walSql } from '../source/pg-wal/wal-setup-sql.js';
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
 * then per group creates the publication, the target tables and the slot,
 * copies the rows under the slot's exported snapshot and records the slot's
 * start as the group's position. (With trigger capture: the queue and
 * triggers instead of publication and slot, and a snapshot recorded as the
 * queue's first tick.) With `source.ddl: capture`, DDL of the groups'
 * tables is captured from before their setup on (see ddl-capture-setup.ts).
 * A group found half-initialised (a crash during an
 * earlier init) is cleaned up and redone; a finished one is left as it is.
 */
export async function initGroups(config: FerryConfig, log: Logger): Promise<InitSummary[]> {
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:init' });
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:init' });
  try {
    const settings = config.source.capture === 'trigger' ? await readTriggerSettings(source) : await readWalSettings(source);
    const plan = await planGroups(config, source, target);
    await checkPrerequisites(config, source, target, settings, plan);
    if (!('plpgsql' in settings)) {
      const warning = await unlimitedSlotWalWarning(source);
      if (warning !== undefined) log.warn({ code: 'FERRY_SLOT_WAL_UNLIMITED' }, warning);
    }
    await ensureControlSchema(target);
    if ('plpgsql' in settings) await ensureTriggerSchema(source);
    const ddlGroups = plan.map((g) => ({ name: g.config.name, tables: g.tables }));
    const ddlCaptured = await setUpDdlCapture(config, source, ddlGroups, log);
    const summaries: InitSummary[] = [];
    for (const group of plan) {
      const glog = log.child({ group: group.config.name });
      summaries.push('plpgsql' in settings
        ? await initTriggerGroup(config, group, source, target, settings, glog)
        : await initGroup(config, group, source, target, settings, glog));
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

async function checkPrerequisites(
  config: FerryConfig, source: pg.Client, target: pg.Client, settings: WalSettings | TriggerSettings, plan: readonly PlannedGroup[],
): Promise<void> {
  if ('plpgsql' in settings) {
    await checkTriggerPrerequisites(config, source, target, settings, plan);
    return;
  }
  const pendingGroups = plan.filter((g) => g.existing?.state !== 'streaming');
  const user = (await source.query<{ u: string; d: string }>('SELECT current_user AS u, current_database() AS d')).rows[0] as { u: string; d: string };
  const allTables = [...pendingGroups.flatMap((g) => g.tables), ...plan.flatMap((g) => g.joining)];
  const problems = await walProblems(source, settings, user.u, user.d, allTables, pendingGroups.filter((g) => !g.existing).length);
  for (const table of allTables) problems.push(...identityProblems(table));
  for (const group of pendingGroups) {
    if (!group.existing) {
      const slot = (await source.query(walSql.slot, [group.config.slot])).rows[0];
      if (slot) {
        problems.push(`group ${group.config.name}: replication slot ${group.config.slot} already exists on the source but the target has no record of it: ` +
          `drop it (SELECT pg_drop_replication_slot('${group.config.slot}');) or set another slot name for the group`);
      }
    }
    problems.push(...await targetTableProblems(target, group.config.name, group.tables, group.existing !== undefined));
  }
  problems.push(...await joiningTableProblems(target, plan));
  problems.push(...commonProblems(config, plan));
  problems.push(...await targetSchemaProblems(target));
  if (problems.length > 0) throw new PrerequisiteError(problems);
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

/** Trigger capture: no slot, no publication, no replica identity; the tables' owner and CREATE on the database. */
async function checkTriggerPrerequisites(
  config: FerryConfig, source: pg.Client, target: pg.Client, settings: TriggerSettings, plan: readonly PlannedGroup[],
): Promise<void> {
  const pendingGroups = plan.filter((g) => g.existing?.state !== 'streaming');
  const problems = await triggerProblems(source, settings, [...pendingGroups.flatMap((g) => g.tables), ...plan.flatMap((g) => g.joining)],
    pendingGroups.filter((g) => !g.existing).map((g) => g.config.name));
  for (const group of pendingGroups) {
    problems.push(...await targetTableProblems(target, group.config.name, group.tables, group.existing !== undefined));
  }
  problems.push(...await joiningTableProblems(target, plan));
  problems.push(...commonProblems(config, plan));
  problems.push(...await targetSchemaProblems(target));
  if (problems.length > 0) throw new PrerequisiteError(problems);
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

async function initGroup(
  config: FerryConfig, group: PlannedGroup, source: pg.Client, target: pg.Client, settings: WalSettings, log: Logger,
): Promise<InitSummary> {
  const name = group.config.name;
  if (group.existing?.state === 'streaming') {
    const position = group.existing.position ?? '';
    return streamingGroup(config, group, source, target, settings.version, position, log);
  }
  const labels = group.tables.map(tableLabel);
  const slotExists = (await source.query(walSql.slot, [group.config.slot])).rows.length > 0;
  const resuming = group.existing?.position != null && slotExists;
  const replication = await ReplicationConnection.open(config.source.url, `ferry:${name}:init`);
  try {
    let snapshot: CreatedSlot;
    let position: string;
    if (resuming) {
      // The slot still holds the start position, but the snapshot that went with
      // it died with the crashed init. The rest is copied under a newer snapshot;
      // streaming then skips, row by row, the changes those chunks already hold.
      position = group.existing?.position as string;
      await resetPartialTables(target, name, group.tables, log);
      snapshot = await replication.createSlot(`${group.config.slot.slice(0, 56)}_resume`, true);
      log.warn({ position, resumeSnapshot: formatLsn(snapshot.consistentPoint) }, 'resuming an interrupted copy; finished chunks are kept');
    } else {
      // Tables an earlier, interrupted attempt created still need their indexes at the end.
      const createdBefore = group.existing
        ? (await target.query<{ created_tables: string[] }>(sql.createdTables, [name])).rows[0]?.created_tables ?? [] : [];
      if (group.existing) {
        log.warn('an earlier init of this group stopped before its slot was ready; starting it again');
        await dropSlot(source, group.config.slot);
        await target.query(sql.deleteGroup, [name]);
      }
      await target.query(sql.insertGroup, [name, 'wal', group.config.slot, group.config.publication, labels]);
      await target.query(sql.addCreatedTables, [name, createdBefore]);
      await prepareTargetTables(target, group.tables, group.existing !== undefined, log,
        async (created) => { await target.query(sql.addCreatedTables, [name, created.map(tableLabel)]); });
      const published = (await source.query<{ present: boolean }>(walSql.publicationExists, [group.config.publication])).rows[0]?.present;
      await source.query(published
        ? walSql.setPublicationTables(group.config.publication, group.tables)
        : walSql.createPublication(group.config.publication, group.tables));
      await publishPartitionsThemselves(source, group.config.publication, log);
      snapshot = await replication.createSlot(group.config.slot);
      position = formatLsn(snapshot.consistentPoint);
      await recordChunkPlan(source, target, name, group.tables, settings.version, config.copy.chunkBytes);
      await target.query(sql.recordSlot, [name, position]);
      log.info({ slot: group.config.slot, position, tables: labels.length }, 'slot created; copying tables');
    }
    const rows = await copyAndFinish(config, group, source, target, snapshot, position, log);
    return { group: name, action: 'initialised', tables: labels.length, rows, position };
  } catch (err) {
    throw initError(err, name);
  } finally {
    await replication.close();
  }
}

/**
 * Trigger capture: the queue and triggers are installed (and committed)
 * first, then a snapshot is taken and recorded as a tick. The copy reads
 * under that snapshot; streaming replays exactly the queued transactions
 * it does not see.
 */
async function initTriggerGroup(
  config: FerryConfig, group: PlannedGroup, source: pg.Client, target: pg.Client, settings: TriggerSettings, log: Logger,
): Promise<InitSummary> {
  const name = group.config.name;
  if (group.existing?.state === 'streaming') {
    const position = group.existing.position ? formatTick(parseLsn(group.existing.position)) : '';
    return streamingGroup(config, group, source, target, settings.version, position, log);
  }
  const labels = group.tables.map(tableLabel);
  const resuming = group.existing?.position != null && await queueExists(source, name);
  let snapshot: CopySnapshot | undefined;
  try {
    let position: string;
    if (resuming) {
      // As with a slot: finished chunks stay, the rest is copied under a newer
      // snapshot (a newer tick), and streaming skips what those chunks hold.
      position = group.existing?.position as string;
      await resetPartialTables(target, name, group.tables, log);
      snapshot = await openCopySnapshot(config.source.url, name);
      log.warn({ position: formatTick(parseLsn(position)), resumeSnapshot: formatTick(snapshot.consistentPoint) }, 'resuming an interrupted copy; finished chunks are kept');
    } else {
      const createdBefore = group.existing
        ? (await target.query<{ created_tables: string[] }>(sql.createdTables, [name])).rows[0]?.created_tables ?? [] : [];
      if (group.existing) {
        log.warn('an earlier init of this group stopped before its queue was ready; starting it again');
        await uninstallCapture(source, name);
        await target.query(sql.deleteGroup, [name]);
      }
      await target.query(sql.insertGroup, [name, 'trigger', null, null, labels]);
      await target.query(sql.addCreatedTables, [name, createdBefore]);
      await prepareTargetTables(target, group.tables, group.existing !== undefined, log,
        async (created) => { await target.query(sql.addCreatedTables, [name, created.map(tableLabel)]); });
      await installCapture(source, name, group.tables, settings.version);
      snapshot = await openCopySnapshot(config.source.url, name);
      position = formatLsn(snapshot.consistentPoint);
      await recordChunkPlan(source, target, name, group.tables, settings.version, config.copy.chunkBytes);
      await target.query(sql.recordSlot, [name, position]);
      log.info({ position: formatTick(snapshot.consistentPoint), tables: labels.length }, 'capture triggers installed; copying tables');
    }
    const rows = await copyAndFinish(config, group, source, target, snapshot, formatTick(parseLsn(position)), log);
    return { group: name, action: 'initialised', tables: labels.length, rows, position: formatTick(parseLsn(position)) };
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
  config: FerryConfig, group: PlannedGroup, source: pg.Client, target: pg.Client, snapshot: CreatedSlot, position: string, log: Logger,
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

/** Drops a slot, first ending a walsender that still holds it. */
export async function dropSlot(source: pg.Client, slot: string): Promise<boolean> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const row = (await source.query<{ active: boolean }>(walSql.slot, [slot])).rows[0];
    if (!row) return false;
    if (row.active) {
      await source.query(walSql.terminateSlotHolder, [slot]);
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    try {
      await source.query(walSql.dropSlot, [slot]);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code !== '55006') throw err; // in use: retry
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new FerryError('FERRY_SLOT_BUSY', `replication slot ${slot} stays in use`, 'stop whatever reads from it (another ferry run?) and retry');
}
