import type pg from 'pg';
import { serverVersionSql } from '../catalog/catalog-sql.js';
import { tableLabel, resolveTables } from '../catalog/source-tables.js';
import type { FerryConfig, GroupConfig } from '../config/schema.js';
import { recordDescriptions } from '../init/record-descriptions.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { captureOf } from '../source/capture.js';
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
const reverseCapture = () => captureOf('wal');

/** Why the old target cannot be the source of the reverse groups; nothing is changed here. */
export async function reverseProblems(config: FerryConfig, newPrimary: pg.Client): Promise<string[]> {
  const capture = reverseCapture();
  const tables = [];
  // What an earlier attempt set up is made again: only the other groups need room for theirs.
  const fresh: GroupConfig[] = [];
  for (const group of config.groups) {
    tables.push(...(await resolveTables(newPrimary, group.tables)).tables);
    if (!(await capture.isSetUp(newPrimary, group))) fresh.push(group);
  }
  const { problems } = await capture.prerequisites(newPrimary, tables, fresh);
  // The checks speak of "the source": here that is the target of this configuration.
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
  const capture = reverseCapture();
  const newPrimary = await connect(config.target.url, { role: 'target', applicationName: 'ferry:switchover' });
  const oldSource = await connect(config.source.url, { role: 'source', applicationName: 'ferry:switchover' });
  try {
    await ensureControlSchema(oldSource);
    const serverVersion = (await newPrimary.query<{ version: number }>(serverVersionSql)).rows[0]?.version ?? 0;
    const created: ReverseGroup[] = [];
    for (const group of config.groups) {
      const { tables } = await resolveTables(newPrimary, group.tables);
      const objects = capture.sourceObjects(group);
      await oldSource.query(sql.deleteGroup, [group.name]);
      await oldSource.query(sql.insertGroup, [group.name, capture.name, objects.slot, objects.publication, tables.map(tableLabel)]);
      const glog = log.child({ group: group.name });
      // Nothing is copied: the two sides are equal at the snapshot's position, where the stream starts.
      const snapshot = await capture.setUp({ url: config.target.url, source: newPrimary, group, serverVersion, log: glog }, tables);
      await snapshot.close();
      await oldSource.query(sql.recordStart, [group.name, snapshot.position]);
      await recordDescriptions(newPrimary, oldSource, group.name, tables);
      await oldSource.query(sql.startStreaming, [group.name]);
      const position = capture.formatPosition(snapshot.position);
      glog.info({ slot: objects.slot, position }, 'reverse group created on the new primary');
      created.push({ group: group.name, slot: objects.slot ?? '', position });
    }
    await oldSource.query(switchoverSql.clearStandingFences);
    await oldSource.query(switchoverSql.addStandingFence, [JSON.stringify(fence)]);
    return created;
  } finally {
    await Promise.all([newPrimary.end().catch(() => undefined), oldSource.end().catch(() => undefined)]);
  }
}

/** An abort removes the reverse groups again: their capture on the target, their rows on the source. */
export async function dropReverseGroups(config: FerryConfig, log: Logger): Promise<void> {
  const capture = reverseCapture();
  const newPrimary = await connect(config.target.url, { role: 'target', applicationName: 'ferry:switchover' });
  try {
    for (const group of config.groups) await capture.removeGroup(newPrimary, group, log);
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
