import type { FerryConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { captureOf } from '../source/capture.js';
import { sourceDatabaseOf } from '../source/source-database.js';
import { unregisterDdlGroup } from '../source/ddl-capture/ddl-capture-install.js';
import { controlSchemaExists } from '../target/control-schema.js';
import { sql } from '../target/control-sql.js';

/**
 * Removes what ferry created for the configured groups (all of them, or those
 * `--group` names): each group's slot and publication on the source (with
 * trigger capture: its triggers, capture function and queue, and the source's
 * ferry schema once no group is left; DDL capture's event triggers once no
 * group uses them), and its rows in the target's control
 * schema, which goes once no group of any configuration is left in it. Groups
 * the configuration does not name keep streaming. Replicated tables and their
 * rows stay. Safe to repeat.
 */
export async function dropGroups(config: FerryConfig, log: Logger): Promise<void> {
  await sourceDatabaseOf(config).removeGroups(config, log);
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:drop' });
  try {
    if (!(await controlSchemaExists(target))) return;
    for (const group of config.groups) {
      const removed = (await target.query(sql.deleteGroup, [group.name])).rowCount ?? 0;
      if (removed > 0) log.info({ group: group.name }, "removed the group from the target's ferry schema");
    }
    if (((await target.query<{ n: number }>(sql.groupCount)).rows[0]?.n ?? 0) === 0) {
      await target.query(sql.dropSchema);
      log.info('dropped the ferry schema on the target');
    }
  } finally {
    await target.end().catch(() => undefined);
  }
}

/** `ferry drop` on a PostgreSQL source: each group's capture, DDL capture where no group uses it any more, and what the groups shared. */
export async function removePgGroups(config: FerryConfig, log: Logger): Promise<void> {
  const capture = captureOf(config.source.capture);
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:drop' });
  try {
    for (const group of config.groups) await capture.removeGroup(source, group, log);
    for (const group of config.groups) {
      try {
        if (await unregisterDdlGroup(source, group.name)) log.info('removed DDL capture (event triggers) from the source: no group uses it any more');
      } catch (err) {
        log.warn({ code: 'FERRY_DDL_CAPTURE_REMOVE', group: group.name, err: (err as Error).message },
          'could not remove DDL capture from the source: run "ferry drop" again as the role that installed it (a superuser)');
      }
    }
    await capture.removeShared(source, log);
  } finally {
    await source.end().catch(() => undefined);
  }
}
