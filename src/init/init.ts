import type pg from 'pg';
import type { FerryConfig, GroupConfig } from '../config/schema.js';
import { formatTableRef } from '../config/schema.js';
import { identityProblems } from '../catalog/table-checks.js';
import { resolveTables, tableLabel, type SourceTable } from '../catalog/source-tables.js';
import { FerryError, PrerequisiteError, ConfigError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { formatLsn } from '../source/pg-wal/lsn.js';
import { readWalSettings, walProblems, type WalSettings } from '../source/pg-wal/prerequisites.js';
import { copyGroupSequences } from '../sequences/sync-sequences.js';
import { ReplicationConnection, type CreatedSlot } from '../source/pg-wal/replication-connection.js';
import { copyPendingChunks, recordChunkPlan, resetPartialTables } from './group-copy.js';
import { walSql } from '../source/pg-wal/wal-setup-sql.js';
import { ensureControlSchema, readGroup, type GroupRow } from '../target/control-schema.js';
import { sql } from '../target/control-sql.js';
import { buildIndexesAndConstraints, prepareTargetTables, targetTableProblems } from './target-tables.js';

interface PlannedGroup {
  readonly config: GroupConfig;
  readonly tables: SourceTable[];
  readonly existing: GroupRow | undefined;
}

export interface InitSummary {
  readonly group: string;
  readonly action: 'initialised' | 'already initialised';
  readonly tables: number;
  readonly rows: number;
  readonly position: string;
}

/**
 * `ferry init`: checks everything first and reports every problem at once,
 * then per group creates the publication, the target tables and the slot,
 * copies the rows under the slot's exported snapshot and records the slot's
 * start as the group's position. A group found half-initialised (a crash
 * during an earlier init) is cleaned up and redone; a finished one is left
 * as it is.
 */
export async function initGroups(config: FerryConfig, log: Logger): Promise<InitSummary[]> {
  if (config.source.capture !== 'wal') {
    throw new ConfigError(`source.capture: ${config.source.capture} capture is not available in this version of ferry`, 'use capture: wal');
  }
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:init' });
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:init' });
  try {
    const settings = await readWalSettings(source);
    const plan = await planGroups(config, source, target);
    await checkPrerequisites(source, target, settings, plan);
    await ensureControlSchema(target);
    const summaries: InitSummary[] = [];
    for (const group of plan) {
      summaries.push(await initGroup(config, group, source, target, settings, log.child({ group: group.config.name })));
    }
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
        ? `group ${group.name}: pattern ${formatTableRef(ref)} matches no table on the source`
        : `group ${group.name}: table ${formatTableRef(ref)} does not exist on the source`);
    }
    for (const t of tables) {
      const other = owner.get(t.oid);
      if (other && other !== group.name) problems.push(`table ${tableLabel(t)} is in groups ${other} and ${group.name}: a table can belong to one group only`);
      owner.set(t.oid, group.name);
    }
    plan.push({ config: group, tables, existing: await readGroup(target, group.name) });
  }
  if (problems.length > 0) throw new PrerequisiteError(problems);
  return plan;
}

async function checkPrerequisites(source: pg.Client, target: pg.Client, settings: WalSettings, plan: readonly PlannedGroup[]): Promise<void> {
  const pendingGroups = plan.filter((g) => g.existing?.state !== 'streaming');
  const user = (await source.query<{ u: string; d: string }>('SELECT current_user AS u, current_database() AS d')).rows[0] as { u: string; d: string };
  const allTables = pendingGroups.flatMap((g) => g.tables);
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
  for (const group of plan) {
    if (group.existing?.state === 'streaming') {
      const configured = group.tables.map(tableLabel).sort();
      const recorded = [...group.existing.tables].sort();
      if (configured.join(',') !== recorded.join(',')) {
        problems.push(`group ${group.config.name} is initialised with tables ${recorded.join(', ')} but the configuration now names ${configured.join(', ')}: ` +
          `to change a running group's tables, run "ferry drop" and "ferry init" again`);
      }
    }
  }
  const canCreate = (await target.query<{ ok: boolean }>(`SELECT has_database_privilege(current_database(), 'CREATE') OR
      EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'ferry') AS ok`)).rows[0]?.ok;
  if (!canCreate) problems.push(`the target role may not create the ferry schema: run GRANT CREATE ON DATABASE <target database> TO <target user>;`);
  if (problems.length > 0) throw new PrerequisiteError(problems);
}

async function initGroup(
  config: FerryConfig, group: PlannedGroup, source: pg.Client, target: pg.Client, settings: WalSettings, log: Logger,
): Promise<InitSummary> {
  const name = group.config.name;
  if (group.existing?.state === 'streaming') {
    log.info({ position: group.existing.position }, 'already initialised');
    return { group: name, action: 'already initialised', tables: group.tables.length, rows: 0, position: group.existing.position ?? '' };
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
        : walSql.createPublication(group.config.publication, group.tables, settings.version));
      snapshot = await replication.createSlot(group.config.slot);
      position = formatLsn(snapshot.consistentPoint);
      await recordChunkPlan(source, target, name, group.tables, settings.version, config.copy.chunkBytes);
      await target.query(sql.recordSlot, [name, position]);
      log.info({ slot: group.config.slot, position, tables: labels.length }, 'slot created; copying tables');
    }
    const started = Date.now();
    const rows = await copyPendingChunks(config, source, target, name, group.tables, snapshot, log);
    const createdLabels = new Set((await target.query<{ created_tables: string[] }>(sql.createdTables, [name])).rows[0]?.created_tables ?? []);
    await buildIndexesAndConstraints(target, group.tables.filter((t) => createdLabels.has(tableLabel(t))), log);
    await copyGroupSequences(source, target, name, group.tables.map((t) => t.oid), log);
    await target.query(sql.startStreaming, [name]);
    log.info({ rows, seconds: (Date.now() - started) / 1000, position }, 'initialised');
    return { group: name, action: 'initialised', tables: labels.length, rows, position };
  } catch (err) {
    throw err instanceof FerryError ? err : new FerryError('FERRY_INIT', `initialising group ${name} failed: ${(err as Error).message}`,
      'fix the cause and run "ferry init" again', { context: { group: name }, cause: err });
  } finally {
    await replication.close();
  }
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
