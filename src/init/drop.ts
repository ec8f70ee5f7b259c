import type { FerryConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { walSql } from '../source/pg-wal/wal-setup-sql.js';
import { dropTriggerSchemaIfUnused, uninstallCapture } from '../source/pg-trigger/capture-install.js';
import { sql } from '../target/control-sql.js';
import { dropSlot } from './init.js';

/**
 * Removes what ferry created: each group's slot and publication on the
 * source (with trigger capture: its triggers, capture function and queue,
 * and the source's ferry schema once no group is left), the control schema
 * on the target. Replicated tables and their rows stay. Safe to repeat.
 */
export async function dropAll(config: FerryConfig, log: Logger): Promise<void> {
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:drop' });
  try {
    for (const group of config.groups) {
      if (config.source.capture === 'trigger') {
        const removed = await uninstallCapture(source, group.name);
        log.info({ group: group.name, removed }, 'dropped capture triggers and queue');
        continue;
      }
      const dropped = await dropSlot(source, group.slot);
      await source.query(walSql.dropPublication(group.publication));
      log.info({ group: group.name, slot: group.slot, slotDropped: dropped, publication: group.publication }, 'dropped source objects');
    }
    if (config.source.capture === 'trigger' && await dropTriggerSchemaIfUnused(source)) log.info('dropped the ferry schema on the source');
  } finally {
    await source.end().catch(() => undefined);
  }
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:drop' });
  try {
    await target.query(sql.dropSchema);
    log.info('dropped the ferry schema on the target');
  } finally {
    await target.end().catch(() => undefined);
  }
}
