import type pg from 'pg';
import type { SourceTable } from '../../catalog/source-tables.js';
import { tableLabel } from '../../catalog/source-tables.js';
import { quoteIdent } from '../../pg/connect.js';
import { walSql } from './wal-setup-sql.js';

export interface WalSettings {
  readonly version: number;
  readonly wal_level: string;
  readonly max_slots: number;
  readonly used_slots: number;
  readonly max_wal_senders: number;
  readonly superuser: boolean;
  readonly replication: boolean;
  readonly can_create: boolean;
}

export async function readWalSettings(client: pg.Client): Promise<WalSettings> {
  return (await client.query<WalSettings>(walSql.settings)).rows[0] as WalSettings;
}

/**
 * What logical decoding needs from the source, checked up front so that
 * `ferry init` reports every missing piece at once with its fix.
 */
export async function walProblems(
  client: pg.Client, settings: WalSettings, user: string, database: string, tables: readonly SourceTable[], newSlots: number,
): Promise<string[]> {
  const problems: string[] = [];
  if (settings.version < 100000) {
    // Before 10, a major version had two parts (9.6).
    const major = `${Math.floor(settings.version / 10000)}.${Math.floor(settings.version / 100) % 100}`;
    problems.push(`the source runs PostgreSQL ${major}, logical decoding (capture: wal) needs 10 or later: upgrade it, or use capture: trigger`);
    return problems;
  }
  if (settings.wal_level !== 'logical') {
    problems.push(`the source has wal_level = ${settings.wal_level}: run ALTER SYSTEM SET wal_level = logical; and restart the source server (on managed services set the logical replication parameter)`);
  }
  if (!settings.superuser && !settings.replication) {
    problems.push(`source role ${user} may not use replication: run ALTER ROLE ${quoteIdent(user)} REPLICATION; (on RDS: GRANT rds_replication TO ${quoteIdent(user)};)`);
  }
  if (!settings.superuser && !settings.can_create) {
    problems.push(`source role ${user} may not create publications in database ${database}: run GRANT CREATE ON DATABASE ${quoteIdent(database)} TO ${quoteIdent(user)};`);
  }
  if (settings.max_slots - settings.used_slots < newSlots) {
    problems.push(`the source has ${settings.max_slots - settings.used_slots} free replication slot(s) of max_replication_slots = ${settings.max_slots}, ferry needs ${newSlots} more: raise max_replication_slots and restart the source`);
  }
  for (const table of tables) {
    if (table.partitioned && settings.version < 130000) {
      problems.push(`table ${tableLabel(table)} is partitioned, which logical decoding on PostgreSQL ${Math.floor(settings.version / 10000)} cannot publish through its root: list its partitions in the group instead`);
    }
    if (!settings.superuser) {
      const owner = (await client.query<{ owner: boolean }>(walSql.ownsTable, [table.oid])).rows[0]?.owner;
      if (!owner) problems.push(`source role ${user} does not own table ${tableLabel(table)}, which CREATE PUBLICATION requires: run ferry as the table's owner, or ALTER TABLE … OWNER TO ${quoteIdent(user)};`);
    }
  }
  return problems;
}

/**
 * Not a problem that stops `init`, but the one setting that decides whether a
 * stopped ferry can fill the source's disk: with max_slot_wal_keep_size = -1
 * (the default) a slot keeps WAL without limit. Returns the warning to log,
 * or undefined when a limit is set (or the server predates the setting, 13).
 */
export async function unlimitedSlotWalWarning(client: pg.Client): Promise<string | undefined> {
  const row = (await client.query<{ value: string }>(walSql.maxSlotWalKeepSize)).rows[0];
  if (!row || Number(row.value) !== -1) return undefined;
  return 'the source has max_slot_wal_keep_size = -1: a replication slot retains WAL without limit, so a ferry that stops (or falls far behind) '
    + 'can fill the source\'s disk. Set a limit the disk can hold, e.g. ALTER SYSTEM SET max_slot_wal_keep_size = \'50GB\'; SELECT pg_reload_conf(); '
    + '(on RDS: the max_slot_wal_keep_size parameter). A slot past the limit is lost and its group must be initialised again, which ferry says clearly.';
}
