import type pg from 'pg';
import type { FerryConfig, GroupConfig } from '../config/schema.js';
import { tableLabel, type SourceTable } from '../catalog/source-tables.js';
import { targetTableSql } from '../copy/target-table-sql.js';
import type { Logger } from '../observe/logger.js';
import { qualifiedName } from '../pg/connect.js';
import { copyGroupSequences } from '../sequences/sync-sequences.js';
import { captureOf, type SourceSide } from '../source/capture.js';
import { sql } from '../target/control-sql.js';
import { copyPendingChunks, recordChunkPlan, resetPartialTables } from './group-copy.js';
import { buildIndexesAndConstraints, prepareTargetTables } from './target-tables.js';
import { alignEmptiedTables } from './align-emptied-tables.js';
import { recordDescriptions } from './record-descriptions.js';

/**
 * Brings a streaming group's tables in line with the configuration without
 * touching the others: tables no longer listed stop being replicated (their
 * target rows stay); new ones are created on the target and copied under a
 * snapshot taken after they joined the group's stream. The stream skips what
 * the copy holds, exactly as for a resumed copy; meanwhile the group holds
 * the new tables' changes and keeps applying the rest (see
 * hold-joining-changes.ts).
 */
export async function changeGroupTables(
  config: FerryConfig, group: GroupConfig, configured: readonly SourceTable[], recorded: readonly string[],
  source: pg.Client, target: pg.Client, serverVersion: number, log: Logger,
): Promise<{ added: number; removed: number; rows: number }> {
  return withGroupCopyLock(target, group.name, () => changeTables(config, group, configured, recorded, source, target, serverVersion, log));
}

async function changeTables(
  config: FerryConfig, group: GroupConfig, configured: readonly SourceTable[], recorded: readonly string[],
  source: pg.Client, target: pg.Client, serverVersion: number, log: Logger,
): Promise<{ added: number; removed: number; rows: number }> {
  const capture = captureOf(config.source.capture);
  const on: SourceSide = { url: config.source.url, source, group, serverVersion, log };
  const { joining: added, leaving: removed } = await tableChanges(target, group.name, configured, recorded);
  if (removed.length > 0) {
    await capture.removeTables(on, removed.map(quotedLabel));
    await target.query(sql.forgetTables, [group.name, removed]);
    await target.query(sql.forgetDescriptions, [group.name, removed]);
    log.info({ tables: removed }, 'tables no longer replicated by this group; their rows stay on the target');
  }
  let rows = 0;
  if (added.length > 0) {
    const planned = new Set((await target.query<{ table_name: string }>(sql.chunks, [group.name])).rows.map((r) => r.table_name));
    // An earlier attempt that stopped half way has its plan and tables already.
    const fresh = added.filter((t) => !planned.has(tableLabel(t)));
    await resetPartialTables(target, group.name, added.filter((t) => planned.has(tableLabel(t))), log);
    await prepareTargetTables(target, fresh, false, log, async (created) => { await target.query(sql.addCreatedTables, [group.name, created.map(tableLabel)]); });
    // Planned before the stream can carry the tables: from here on, the group holds their changes back until they are copied.
    await recordChunkPlan(source, target, group.name, fresh, serverVersion, config.copy.chunkBytes);
    await capture.addTables(on, added);
    rows = await copyUnderSnapshot(config, on, added, target);
    const created = new Set((await target.query<{ created_tables: string[] }>(sql.createdTables, [group.name])).rows[0]?.created_tables ?? []);
    await buildIndexesAndConstraints(target, added.filter((t) => created.has(tableLabel(t))), log);
    await copyGroupSequences(source, target, group.name, added.map((t) => t.oid), log);
    await recordDescriptions(source, target, group.name, added);
    log.info({ tables: added.map(tableLabel), rows }, 'tables joined the group');
  }
  await target.query(sql.changeGroupTables, [group.name, removed, added.map(tableLabel)]);
  return { added: added.length, removed: removed.length, rows };
}

/**
 * `ferry resync`: copies tables of a streaming group again, in place, for a
 * table damaged on the target. The group's apply session is restarted, so
 * that it holds the tables' changes until the copy is done and then applies
 * those the copy does not hold.
 */
export async function resyncTables(
  config: FerryConfig, group: GroupConfig, tables: readonly SourceTable[], source: pg.Client, target: pg.Client, serverVersion: number, log: Logger,
): Promise<number> {
  return withGroupCopyLock(target, group.name, () => copyAgain(config, group, tables, source, target, serverVersion, log));
}

async function copyAgain(
  config: FerryConfig, group: GroupConfig, tables: readonly SourceTable[], source: pg.Client, target: pg.Client, serverVersion: number, log: Logger,
): Promise<number> {
  const labels = tables.map(tableLabel);
  await recordChunkPlan(source, target, group.name, tables, serverVersion, config.copy.chunkBytes, true);
  await target.query(sql.restartGroupApply, [group.name]);
  // Waits for the restarted session's open transaction, if it still had one, to end.
  await target.query(targetTableSql.truncate(tables.map((t) => qualifiedName(t.schema, t.name))));
  await alignEmptiedTables(config, source, target, group, tables, log);
  const rows = await copyUnderSnapshot(config, { url: config.source.url, source, group, serverVersion, log }, tables, target);
  await copyGroupSequences(source, target, group.name, tables.map((t) => t.oid), log);
  log.info({ tables: labels, rows }, 'tables copied again');
  return rows;
}

/** Copies the tables' pending chunks under a snapshot the group's capture lines up with its stream. */
async function copyUnderSnapshot(config: FerryConfig, on: SourceSide, tables: readonly SourceTable[], target: pg.Client): Promise<number> {
  const snapshot = await captureOf(config.source.capture).copySnapshot(on);
  try {
    return await copyPendingChunks(config, on.source, target, on.group.name, tables, snapshot, on.log);
  } finally {
    await snapshot.close();
  }
}

/**
 * The configured tables that join a streaming group, and the recorded ones
 * that leave it. A table renamed on the source keeps its oid, which the
 * group has a description of: the stream renames it on the target at its
 * place, so it neither leaves nor joins.
 */
export async function tableChanges(
  target: pg.Client, group: string, configured: readonly SourceTable[], recorded: readonly string[],
): Promise<{ joining: SourceTable[]; leaving: string[] }> {
  const described = new Map((await target.query<{ relation_id: string; table_name: string }>(sql.describedTables, [group])).rows
    .map((r) => [r.table_name, Number(r.relation_id)]));
  const describedOids = new Set(described.values());
  const recordedLabels = new Set(recorded);
  const configuredLabels = new Set(configured.map(tableLabel));
  const configuredOids = new Set(configured.map((t) => t.oid));
  return {
    joining: configured.filter((t) => !recordedLabels.has(tableLabel(t)) && !describedOids.has(t.oid)),
    leaving: recorded.filter((label) => !configuredLabels.has(label) && !configuredOids.has(described.get(label) ?? -1)),
  };
}

/** Runs `copy` holding the group's copy lock (see control-sql.ts, lockGroupCopy). */
async function withGroupCopyLock<T>(target: pg.Client, group: string, copy: () => Promise<T>): Promise<T> {
  await target.query(sql.lockGroupCopy, [group]);
  try {
    return await copy();
  } finally {
    await target.query(sql.unlockGroupCopy, [group]).catch(() => undefined);
  }
}

/** `schema.name` as recorded → the quoted, qualified form SQL takes. */
function quotedLabel(label: string): string {
  const dot = label.indexOf('.');
  return qualifiedName(label.slice(0, dot), label.slice(dot + 1));
}
