import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import { captureOf } from '../source/capture.js';
import { sql } from '../target/control-sql.js';
import { liftFence, type FenceRecord } from './fence.js';
import { switchoverSql } from './switchover-sql.js';

/**
 * Past the point of no return: the forward groups end. Their slots and
 * publications (or queues and triggers) leave the old source, which would
 * otherwise keep WAL for them and, with a reverse stream writing into it,
 * send those writes straight back. Their rows leave the target's control
 * schema (the schema and the switchover's record stay), so a `ferry run`
 * of the old configuration stops instead of applying. Safe to repeat.
 */
export async function retireForwardGroups(config: FerryConfig, source: pg.Client, target: pg.Client, log: Logger): Promise<void> {
  const capture = captureOf(config.source.capture);
  for (const group of config.groups) {
    await capture.removeGroup(source, group, log);
    await target.query(sql.deleteGroup, [group.name]);
    log.info({ group: group.name }, 'forward group retired: its source objects dropped, its row removed from the target');
  }
}

/**
 * A fence an earlier switchover left on the target, when the target was
 * the source being switched away from, is lifted now that it becomes the
 * primary again: its application roles may log in and write.
 */
export async function liftStandingFences(target: pg.Client, log: Logger): Promise<number> {
  const fences = (await target.query<{ id: number; fence: FenceRecord }>(switchoverSql.standingFences)).rows;
  for (const { id, fence } of fences) {
    await liftFence(target, fence);
    await target.query(switchoverSql.removeStandingFence, [id]);
    log.info({ fence: fence.mode }, 'lifted the fence an earlier switchover left on the new primary');
  }
  return fences.length;
}
