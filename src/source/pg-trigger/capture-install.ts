import type pg from 'pg';
import { relationsOf } from '../../catalog/source-relations.js';
import { tableLabel, type SourceTable } from '../../catalog/source-tables.js';
import { FerryError } from '../../errors.js';
import { qualifiedName } from '../../pg/connect.js';
import { migrate } from '../../pg/versioned-schema.js';
import { inTransaction } from '../../pg/in-transaction.js';
import {
  CAPTURE_VERSION, captureFunction, migrations, partitionCapture, partitionedTriggers, queueNames, queueTables, tableTriggers, triggerSql,
} from './trigger-sql.js';
import { dropSourceSchemaIfEmpty } from '../source-schema.js';

/**
 * Creates or upgrades the shared part of the source's `ferry` schema (queue
 * registry, slots, ticks). Versioned like the target's control schema:
 * `ferry.trigger_schema_version` records what is installed.
 */
export async function ensureTriggerSchema(client: pg.Client): Promise<void> {
  await inTransaction(client, async () => {
    await client.query(triggerSql.lockSchema);
    await client.query(triggerSql.createSchema);
    await migrate(client, {
      name: "the source's ferry schema", tooNewCode: 'FERRY_TRIGGER_SCHEMA_VERSION', migrations,
      versionTableExists: triggerSql.schemaVersionExists, installedVersion: triggerSql.installedVersion, setVersion: triggerSql.setVersion,
    });
  });
}

export async function queueExists(client: pg.Client, group: string): Promise<boolean> {
  if (!(await registryExists(client))) return false;
  return (await client.query<{ present: boolean }>(triggerSql.queueExists, [group])).rows[0]?.present ?? false;
}

/**
 * The group's tables (roots of partitioned ones) as oids, once it is sure the
 * queue has the layout this version of Ferry reads.
 */
export async function queuedTables(client: pg.Client, group: string): Promise<number[]> {
  const row = (await client.query<{ tables: string[]; capture_version: number }>(triggerSql.queueTables, [group])).rows[0];
  if (row && row.capture_version !== CAPTURE_VERSION) {
    throw new FerryError('FERRY_TRIGGER_CAPTURE_VERSION',
      `the capture of group ${group} on the source was installed by another version of Ferry (queue layout ${row.capture_version}, this one reads ${CAPTURE_VERSION})`,
      `let the group catch up with the Ferry that installed it, then run "ferry drop" and "ferry init" for group ${group} with this one`,
      { exitCode: 2, context: { group } });
  }
  return row?.tables.map(Number) ?? [];
}

async function registryExists(client: pg.Client): Promise<boolean> {
  return (await client.query<{ present: boolean }>(triggerSql.registryExists)).rows[0]?.present ?? false;
}

/**
 * Installs a group's queue, capture function and triggers in one
 * transaction: either every table is captured or none. Creating a trigger
 * waits for transactions writing to the table; it gives up after a while
 * rather than stall the application behind its lock.
 */
export async function installCapture(client: pg.Client, group: string, tables: readonly SourceTable[], sourceVersion: number): Promise<void> {
  const names = queueNames(group);
  await inTransaction(client, async () => {
    await client.query(triggerSql.ddlLockTimeout);
    for (const statement of queueTables(names)) await client.query(statement);
    await client.query(captureFunction(names, sourceVersion));
    // Trigger functions cannot be called directly; revoked all the same, as it runs with ferry's rights.
    await client.query(`REVOKE ALL ON FUNCTION ${names.capture}() FROM PUBLIC`);
    await client.query(triggerSql.insertQueue, [group, tables.map((t) => qualifiedName(t.schema, t.name)), CAPTURE_VERSION]);
    await client.query(triggerSql.insertSlots, [group]);
    await createTriggers(client, group, tables);
  });
}

/**
 * Completes the capture of partitions created since it was installed (a new
 * month): their TRUNCATE trigger, which PostgreSQL does not clone from the
 * root as it does the row trigger. Run by `ferry run` at start and then
 * every second or so; a partition truncated before that (moments after its
 * creation, or while ferry run is stopped) is not captured. One partition
 * at a time, waiting briefly for its lock: a busy one is done next round.
 * Returns the partitions completed, and those the role may not add a
 * trigger to (owned by another role), which must not stop the group.
 */
export async function captureNewPartitions(
  client: pg.Client, group: string, tables: readonly number[],
): Promise<{ readonly done: string[]; readonly refused: string[] }> {
  const names = queueNames(group);
  const partitions = (await client.query<{ name: string }>(triggerSql.partitionsToCapture, [tables, `ferry_${group}_truncate`])).rows.map((r) => r.name);
  const done: string[] = [];
  const refused: string[] = [];
  for (const partition of partitions) {
    await client.query('BEGIN');
    try {
      await client.query(triggerSql.shortLockTimeout);
      for (const statement of partitionCapture(names, partition)) await client.query(statement);
      await client.query('COMMIT');
      done.push(partition);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      const code = (err as { code?: string }).code;
      // 55P03: busy, next round. 42710: another ferry run of this group created it meanwhile.
      if (code === '42501') refused.push(partition);
      else if (code !== '55P03' && code !== '42710') throw ddlError(err, group, partition, 'capturing a new partition');
    }
  }
  return { done, refused };
}

/**
 * Adds tables to a group whose queue exists: their triggers and their place
 * in the queue's table list, in one transaction. Creating a trigger waits for
 * the transactions writing the table, so none of them straddles the moment
 * capture starts.
 */
export async function addCaptureTables(client: pg.Client, group: string, tables: readonly SourceTable[]): Promise<void> {
  await inTransaction(client, async () => {
    await client.query(triggerSql.ddlLockTimeout);
    await createTriggers(client, group, tables);
    await client.query(triggerSql.addQueueTables, [group, tables.map((t) => qualifiedName(t.schema, t.name))]);
  });
}

async function createTriggers(client: pg.Client, group: string, tables: readonly SourceTable[]): Promise<void> {
  const names = queueNames(group);
  for (const table of tables) {
    const statements = table.partitioned ? partitionedTriggers(names, table, relationsOf(table).slice(1)) : tableTriggers(names, table);
    try {
      for (const statement of statements) await client.query(statement);
    } catch (err) {
      throw ddlError(err, group, tableLabel(table), 'creating its capture triggers');
    }
  }
}

/** Stops capturing tables (qualified, quoted names) of a group: their triggers go, rows already queued stay in order. */
export async function removeCaptureTables(client: pg.Client, group: string, tables: readonly string[]): Promise<void> {
  const names = queueNames(group);
  await inTransaction(client, async () => {
    await client.query(triggerSql.ddlLockTimeout);
    for (const table of tables) {
      const family = (await client.query<{ name: string }>(triggerSql.tableAndPartitions, [table])).rows.map((r) => r.name);
      try {
        for (const on of family) {
          for (const kind of ['insert', 'update', 'delete', 'truncate', 'row'] as const) await client.query(`DROP TRIGGER IF EXISTS ${names.trigger(kind)} ON ${on}`);
        }
      } catch (err) {
        throw ddlError(err, group, table, 'removing its capture triggers');
      }
    }
    await client.query(triggerSql.removeQueueTables, [group, tables]);
  });
}

/** Removes a group's triggers, function, queue and sequences; then the shared schema if no group is left. */
export async function uninstallCapture(client: pg.Client, group: string): Promise<boolean> {
  const names = queueNames(group);
  const present = await registryExists(client);
  const hasFunction = (await client.query<{ present: boolean }>(`SELECT to_regproc($1) IS NOT NULL AS present`, [names.capture])).rows[0]?.present;
  if (!present && !hasFunction) return false;
  await inTransaction(client, async () => {
    await client.query(triggerSql.lockSchema);
    await client.query(triggerSql.ddlLockTimeout);
    try {
      await client.query(triggerSql.dropCapture(names));
    } catch (err) {
      throw ddlError(err, group, undefined, 'dropping its capture triggers');
    }
    const queue = (await client.query<{ kind: string }>(triggerSql.queueKind, [names.queue])).rows[0];
    await client.query(triggerSql.dropQueue(names, queue?.kind === 'v'));
    await client.query(triggerSql.dropSequences(names));
    if (present) await client.query(triggerSql.deleteQueue, [group]);
  });
  return true;
}

/** Drops the shared tables and the schema once no group uses them; the schema stays if something else lives in it. */
export async function dropTriggerSchemaIfUnused(client: pg.Client): Promise<boolean> {
  if (!(await registryExists(client))) return false;
  return inTransaction(client, async () => {
    await client.query(triggerSql.lockSchema);
    if (((await client.query<{ n: number }>(triggerSql.queueCount)).rows[0]?.n ?? 0) > 0) return false;
    await client.query(triggerSql.dropShared);
    await dropSourceSchemaIfEmpty(client);
    return true;
  });
}

function ddlError(err: unknown, group: string, table: string | undefined, doing: string): FerryError {
  const pgErr = err as { code?: string; message?: string };
  const what = table ? `table ${table}` : `group ${group}`;
  if (pgErr.code === '55P03') {
    return new FerryError('FERRY_TRIGGER_LOCK_TIMEOUT', `${doing} on ${what} waited more than 10 s for transactions that use the table`,
      'retry when no long transaction holds the table (see pg_locks), or stop its writers briefly', { context: { group, table }, cause: err });
  }
  return new FerryError('FERRY_TRIGGER_INSTALL', `${doing} on ${what} failed: ${pgErr.message ?? String(err)}`,
    'run ferry as the owner of the table (see "ferry init" prerequisites)', { context: { group, table }, cause: err });
}
