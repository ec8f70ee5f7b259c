import type pg from 'pg';
import { tableLabel, resolveTables } from '../catalog/source-tables.js';
import { identityProblems } from '../catalog/table-checks.js';
import type { FerryConfig } from '../config/schema.js';
import { dropSlot } from '../init/init.js';
import { recordDescriptions } from '../init/record-descriptions.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { formatLsn } from '../source/pg-wal/lsn.js';
import { publishPartitionsThemselves } from '../source/pg-wal/partition-publishing.js';
import { readWalSettings, walProblems } from '../source/pg-wal/prerequisites.js';
import { ReplicationConnection } from '../source/pg-wal/replication-connection.js';
import { walSql } from '../source/pg-wal/wal-setup-sql.js';
import { controlSchemaExists, ensureControlSchema } from '../target/control-schema.js';
import { sql } from '../target/control-sql.js';
import type { FenceRecord } from './fence.js';
import { switchoverSql } from './switchover-sql.js';

/**
 * The reverse direction: the same groups, the same tables, from the new
 * primary (the old target) back to the old source, which gets a control
 * schema of its own for them. It is WAL capture, whatever the forward
 * groups used: the new primary needs logical decoding, the old source
 * (a trigger-captured one may lack it) does not.
 */

/** Why the old target cannot be the source of the reverse groups; nothing is changed here. */
export async function reverseProblems(config: FerryConfig, newPrimary: pg.Client): Promise<string[]> {
  const settings = await readWalSettings(newPrimary);
  const who = (await newPrimary.query<{ u: string; d: string }>('SELECT current_user AS u, current_database() AS d')).rows[0] as { u: string; d: string };
  const tables = [];
  for (const group of config.groups) tables.push(...(await resolveTables(newPrimary, group.tables)).tables);
  const existing = (await newPrimary.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = ANY($1::text[])`,
    [config.groups.map((g) => g.slot)])).rows[0]?.n ?? 0;
  const problems = await walProblems(newPrimary, settings, who.u, who.d, tables, config.groups.length - existing);
  for (const table of tables) problems.push(...identityProblems(table));
  // walProblems speaks of "the source": here that is the target of this configuration.
  return problems.map((p) => `--reverse: on the target (the source of the reverse stream): ${p}`);
}

export interface ReverseGroup { readonly group: string; readonly slot: string; readonly position: string }

/**
 * Creates each reverse group: publication and slot on the new primary, and
 * on the old source its row in the control schema, streaming from the
 * slot's start, with no copy. Run while the old source is fenced, the
 * forward stream is drained and paused, and before any application writes
 * to the new primary: the two sides are equal at the slot's consistent
 * point, so streaming from there misses and repeats nothing. The fence is
 * recorded on the old source too, so the switchover that makes it primary
 * again lifts it. Safe to repeat: leftovers of an earlier attempt are
 * dropped and made again.
 */
export async function createReverseGroups(config: FerryConfig, fence: FenceRecord, log: Logger): Promise<ReverseGroup[]> {
  const newPrimary = await connect(config.target.url, { role: 'target', applicationName: 'ferry:switchover' });
  const oldSource = await connect(config.source.url, { role: 'source', applicationName: 'ferry:switchover' });
  try {
    await ensureControlSchema(oldSource);
    const created: ReverseGroup[] = [];
    for (const group of config.groups) {
      const { tables } = await resolveTables(newPrimary, group.tables);
      await dropSlot(newPrimary, group.slot);
      await newPrimary.query(walSql.dropPublication(group.publication));
      await newPrimary.query(walSql.createPublication(group.publication, tables));
      await publishPartitionsThemselves(newPrimary, group.publication, log);
      await oldSource.query(sql.deleteGroup, [group.name]);
      await oldSource.query(sql.insertGroup, [group.name, 'wal', group.slot, group.publication, tables.map(tableLabel)]);
      const replication = await ReplicationConnection.open(config.target.url, `ferry:${group.name}:switchover`);
      let position: string;
      try {
        position = formatLsn((await replication.createSlot(group.slot)).consistentPoint);
      } finally {
        await replication.close();
      }
      await oldSource.query(sql.recordSlot, [group.name, position]);
      await recordDescriptions(newPrimary, oldSource, group.name, tables);
      await oldSource.query(sql.startStreaming, [group.name]);
      log.info({ group: group.name, slot: group.slot, position }, 'reverse group created on the new primary');
      created.push({ group: group.name, slot: group.slot, position });
    }
    await oldSource.query(switchoverSql.clearStandingFences);
    await oldSource.query(switchoverSql.addStandingFence, [JSON.stringify(fence)]);
    return created;
  } finally {
    await Promise.all([newPrimary.end().catch(() => undefined), oldSource.end().catch(() => undefined)]);
  }
}

/** An abort removes the reverse groups again: slots and publications on the target, rows on the source. */
export async function dropReverseGroups(config: FerryConfig): Promise<void> {
  const newPrimary = await connect(config.target.url, { role: 'target', applicationName: 'ferry:switchover' });
  try {
    for (const group of config.groups) {
      await dropSlot(newPrimary, group.slot);
      await newPrimary.query(walSql.dropPublication(group.publication));
    }
  } finally {
    await newPrimary.end().catch(() => undefined);
  }
  const oldSource = await connect(config.source.url, { role: 'source', applicationName: 'ferry:switchover' });
  try {
    if (!(await controlSchemaExists(oldSource))) return;
    for (const group of config.groups) await oldSource.query(sql.deleteGroup, [group.name]);
    await oldSource.query(switchoverSql.clearStandingFences);
  } finally {
    await oldSource.end().catch(() => undefined);
  }
}
