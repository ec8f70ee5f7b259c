import type pg from 'pg';
import type { TableDefinition } from '../../change/captured-ddl.js';
import type { CaptureMode } from '../../config/schema.js';
import { migrate } from '../../pg/versioned-schema.js';
import { allCaptures } from '../capture.js';
import { ddlCaptureFunctions, ddlCaptureSql, migrations } from './ddl-capture-sql.js';
import { inTransaction } from '../../pg/in-transaction.js';
import { dropSourceSchemaIfEmpty } from '../source-schema.js';

/** Whether this role may create event triggers (a superuser; rds_superuser on RDS and Aurora), and the server's version. */
export async function ddlCapturePrivilege(client: pg.Client): Promise<{ readonly allowed: boolean; readonly version: number }> {
  const row = (await client.query<{ allowed: boolean; version: number }>(ddlCaptureSql.privilege)).rows[0];
  return { allowed: row?.allowed === true, version: row?.version ?? 0 };
}

export async function ddlCaptureInstalled(client: pg.Client): Promise<boolean> {
  return (await client.query<{ present: boolean }>(ddlCaptureSql.installed)).rows[0]?.present === true;
}

/**
 * Installs or upgrades DDL capture in the source's ferry schema, in one
 * transaction: its tables (versioned), its functions for this server and
 * every capture method, and the event triggers.
 */
export async function installDdlCapture(client: pg.Client, version: number): Promise<void> {
  const recorders = Object.fromEntries(Object.entries(allCaptures()).map(([name, capture]) => [name, capture.recordMessageSql]));
  await inTransaction(client, async () => {
    await client.query(ddlCaptureSql.lock);
    await client.query(ddlCaptureSql.createSchema);
    await migrate(client, {
      name: "DDL capture in the source's ferry schema", tooNewCode: 'FERRY_DDL_CAPTURE_VERSION', migrations,
      versionTableExists: ddlCaptureSql.versionTableExists, installedVersion: ddlCaptureSql.installedVersion, setVersion: ddlCaptureSql.setVersion,
    });
    for (const statement of ddlCaptureFunctions(version, recorders)) await client.query(statement);
    const present = new Set((await client.query<{ name: string }>(ddlCaptureSql.eventTriggers)).rows.map((r) => r.name));
    if (!present.has('ferry_ddl_capture')) for (const statement of ddlCaptureSql.createEventTrigger) await client.query(statement);
    if (!present.has('ferry_ddl_capture_drop')) for (const statement of ddlCaptureSql.createDropEventTrigger) await client.query(statement);
  });
}

/** From now on, DDL of these tables (oids) is recorded in `group`'s stream; the group's other tables are forgotten. */
export async function registerDdlTables(client: pg.Client, group: string, capture: CaptureMode, tables: readonly number[]): Promise<void> {
  await client.query(ddlCaptureSql.registerGroup, [group, capture, tables]);
}

/**
 * Stops recording DDL for `group`; removes DDL capture (event triggers,
 * functions, tables, and the ferry schema if nothing else is in it) once no
 * group is left. True when it was removed.
 */
export async function unregisterDdlGroup(client: pg.Client, group: string): Promise<boolean> {
  if (!(await ddlCaptureInstalled(client))) return false;
  return inTransaction(client, async () => {
    await client.query(ddlCaptureSql.lock);
    await client.query(ddlCaptureSql.unregisterGroup, [group]);
    if (((await client.query<{ n: number }>(ddlCaptureSql.groupsLeft)).rows[0]?.n ?? 0) > 0) return false;
    for (const statement of ddlCaptureSql.dropAll) await client.query(statement);
    await dropSourceSchemaIfEmpty(client);
    return true;
  });
}

/** Whether DDL of `group`'s tables is recorded now: its tables registered and both event triggers enabled. */
export async function ddlCaptureOn(client: pg.Client, group: string): Promise<boolean> {
  if (!(await ddlCaptureInstalled(client))) return false;
  const row = (await client.query<{ registered: boolean; enabled: number }>(ddlCaptureSql.status, [group])).rows[0];
  return row?.registered === true && row.enabled === 2;
}

/** A table's definition as the event trigger reads it (undefined if the table is gone). */
export async function readDefinition(client: pg.Client, oid: number): Promise<TableDefinition | undefined> {
  return (await client.query<{ definition: TableDefinition | null }>(ddlCaptureSql.definition, [oid])).rows[0]?.definition ?? undefined;
}

