import type pg from 'pg';
import { relationsOf } from '../../catalog/source-relations.js';
import { tableLabel, type SourceTable } from '../../catalog/source-tables.js';
import { qualifiedName, quoteIdent } from '../../pg/connect.js';
import { queueExists } from './capture-install.js';
import { triggerSql } from './trigger-sql.js';

export interface TriggerSettings {
  readonly version: number;
  readonly user_name: string;
  readonly database: string;
  readonly superuser: boolean;
  readonly can_create: boolean;
  readonly schema_exists: boolean;
  readonly schema_owned: boolean;
  readonly plpgsql: boolean;
}

export async function readTriggerSettings(client: pg.Client): Promise<TriggerSettings> {
  return (await client.query<TriggerSettings>(triggerSql.settings)).rows[0] as TriggerSettings;
}

/**
 * What trigger capture needs from the source, each missing piece with its
 * fix. No superuser, no REPLICATION, no wal_level: the owner of the tables,
 * with CREATE on the database (for the `ferry` schema), is enough.
 */
export async function triggerProblems(
  client: pg.Client, settings: TriggerSettings, tables: readonly SourceTable[], newGroups: readonly string[],
): Promise<string[]> {
  const problems: string[] = [];
  const user = quoteIdent(settings.user_name);
  if (settings.version < 100000) {
    problems.push(`the source runs PostgreSQL ${Math.floor(settings.version / 10000)}.${Math.floor(settings.version / 100) % 100}; trigger capture needs 10 or later (transition tables)`);
    return problems;
  }
  if (!settings.plpgsql) problems.push('the source database has no PL/pgSQL, which the capture function is written in: run CREATE EXTENSION plpgsql;');
  if (!settings.superuser) {
    if (!settings.schema_exists && !settings.can_create) {
      problems.push(`source role ${settings.user_name} may not create the ferry schema in database ${settings.database}: run GRANT CREATE ON DATABASE ${quoteIdent(settings.database)} TO ${user};`);
    }
    if (settings.schema_exists && !settings.schema_owned) {
      problems.push(`the source's ferry schema belongs to another role: run ferry as that role, or ALTER SCHEMA ferry OWNER TO ${user};`);
    }
  }
  for (const table of tables) {
    const name = qualifiedName(table.schema, table.name);
    if (table.partitioned && settings.version < 110000) {
      problems.push(`table ${tableLabel(table)} is partitioned, and PostgreSQL 10 has no row triggers on partitioned tables: list its partitions in the group instead`);
    }
    if (settings.superuser) continue;
    for (const relation of relationsOf(table)) {
      const row = (await client.query<{ owner: boolean; owner_name: string }>(triggerSql.ownsTable, [relation.oid])).rows[0];
      if (row && !row.owner) {
        const label = relation === table ? `table ${tableLabel(table)}` : `partition ${tableLabel(relation)} of ${tableLabel(table)}`;
        problems.push(`source role ${settings.user_name} does not own ${label} (owner: ${row.owner_name}), which creating its capture triggers requires: ` +
          `run ALTER TABLE ${relation === table ? name : qualifiedName(relation.schema, relation.name)} OWNER TO ${user}; or GRANT ${quoteIdent(row.owner_name)} TO ${user};`);
      }
    }
  }
  for (const group of newGroups) {
    if (settings.schema_exists && await queueExists(client, group)) {
      problems.push(`group ${group}: the source already has a trigger queue for this group but the target has no record of it: ` +
        'it belongs to another ferry deployment or an earlier one; remove it with "ferry drop" of that deployment, or give the group another name');
    }
  }
  return problems;
}
