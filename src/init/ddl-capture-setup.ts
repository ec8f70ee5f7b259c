import type pg from 'pg';
import { tableLabel, type SourceTable } from '../catalog/source-tables.js';
import type { FerryConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import {
  ddlCapturePrivilege, installDdlCapture, readDefinition, registerDdlTables, unregisterDdlGroup,
} from '../source/ddl-capture/ddl-capture-install.js';
import { captureOf } from '../source/capture.js';
import { sql } from '../target/control-sql.js';

export interface DdlGroup {
  readonly name: string;
  readonly tables: readonly SourceTable[];
}

/**
 * `source.ddl` at init. With `capture`: installs (or upgrades) the event
 * trigger and records which tables belong to which group, before the
 * groups are set up, so DDL from then on reaches their streams. A role
 * that may not create event triggers is not an error: DDL is then not
 * captured, the log says how to change that, and everything else works as
 * with `off`. With `off`: the groups stop being captured (the event trigger
 * goes with the last group). True when DDL capture is on for the groups.
 */
export async function setUpDdlCapture(config: FerryConfig, source: pg.Client, groups: readonly DdlGroup[], log: Logger): Promise<boolean> {
  if (config.source.ddl === 'off') {
    for (const group of groups) {
      try {
        if (await unregisterDdlGroup(source, group.name)) log.info('removed DDL capture (event triggers) from the source: no group uses it any more');
      } catch (err) {
        log.warn({ code: 'FERRY_DDL_CAPTURE_REMOVE', group: group.name, err: (err as Error).message },
          'source.ddl is off, but DDL capture installed earlier could not be removed: run "ferry init" or "ferry drop" once as the role that installed it (a superuser)');
      }
    }
    return false;
  }
  const { allowed, version } = await ddlCapturePrivilege(source);
  if (!allowed) {
    log.warn({ code: 'FERRY_DDL_CAPTURE_PRIVILEGE' },
      'source.ddl is capture, but the source role may not create event triggers: DDL is not captured. Column changes are still followed from the stream '
      + 'and "ferry ddl" still works. To capture DDL, run "ferry init" as a superuser (on RDS or Aurora, a member of rds_superuser: GRANT rds_superuser TO <role>); '
      + 'or set source.ddl: off');
    return false;
  }
  if (!captureOf(config.source.capture).carriesMessages(version)) {
    log.warn({ code: 'FERRY_DDL_CAPTURE_UNAVAILABLE', capture: config.source.capture, serverVersion: version },
      `source.ddl is capture, but ${config.source.capture} capture cannot carry captured DDL from this source (WAL capture needs PostgreSQL 14 or later): `
      + 'DDL is not captured; column changes are still followed from the stream. Use trigger capture, or set source.ddl: off');
    return false;
  }
  await installDdlCapture(source, version);
  for (const group of groups) await registerDdlTables(source, group.name, config.source.capture, group.tables.map((t) => t.oid));
  log.info({ groups: groups.map((g) => g.name) }, 'DDL of the replicated tables is captured on the source');
  return true;
}

/**
 * Records on the target the definitions DDL capture compares with, for the
 * tables that have none yet: read now, which is at or after the group's
 * position, so a captured DDL still in the stream finds its index or
 * constraint recorded (created on the target then if it lacks it) and
 * the drops after it known.
 */
export async function recordDefinitions(source: pg.Client, target: pg.Client, group: DdlGroup): Promise<void> {
  for (const table of group.tables) {
    const definition = await readDefinition(source, table.oid);
    if (definition) await target.query(sql.recordDefinitionIfMissing, [group.name, table.oid, tableLabel(table), JSON.stringify(definition)]);
  }
}
