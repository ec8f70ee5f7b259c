import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import { relationsOf } from '../catalog/source-relations.js';
import { resolveTables } from '../catalog/source-tables.js';
import { withQualifiedNames } from '../catalog/qualified-names.js';
import { FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { qualifiedName } from '../pg/connect.js';
import { syncAllSequences, throwIfFailed } from '../sequences/sync-sequences.js';
import type { CreatedForeignKey } from './state.js';
import { switchoverSql } from './switchover-sql.js';

export interface SourceForeignKey {
  readonly table: string;
  readonly name: string;
  readonly definition: string;
  readonly validated: boolean;
  readonly referenced: string;
}

/** The foreign keys of the groups' source tables (and partitions) that the target does not have: init skipped them. */
export async function missingForeignKeys(config: FerryConfig, source: pg.Client, target: pg.Client): Promise<SourceForeignKey[]> {
  const oids: number[] = [];
  for (const group of config.groups) {
    const { tables } = await resolveTables(source, group.tables);
    for (const table of tables) for (const relation of relationsOf(table)) oids.push(relation.oid);
  }
  const keys = await withQualifiedNames(source, async () => (await source.query<SourceForeignKey>(switchoverSql.sourceForeignKeys, [oids])).rows);
  const missing: SourceForeignKey[] = [];
  for (const key of keys) {
    if ((await target.query(switchoverSql.targetConstraint, [key.table, key.name])).rows.length === 0) missing.push(key);
  }
  return missing;
}

/** Keys whose referenced table is not on the target cannot be created there: preflight says so before anything changes. */
export async function foreignKeyProblems(target: pg.Client, keys: readonly SourceForeignKey[]): Promise<string[]> {
  const problems: string[] = [];
  for (const key of keys) {
    if (!(await target.query<{ present: boolean }>(switchoverSql.tableExists, [key.referenced])).rows[0]?.present) {
      problems.push(`foreign key ${key.name} of ${key.table} references ${key.referenced}, which is not on the target: replicate that table too, or drop the key on the source`);
    }
  }
  return problems;
}

/**
 * Makes the target a complete primary: every sequence at the source's exact
 * value (the source is fenced, so it is final), the foreign keys init
 * skipped created NOT VALID (no scan under a strong lock) and then
 * validated (a scan that lets writes wait less), and user triggers firing
 * as on the source. `created` receives each key as soon as it exists, so an
 * abort (or a re-run after a crash) can drop it again.
 */
export async function finishTarget(
  config: FerryConfig, source: pg.Client, target: pg.Client, log: Logger, created: (key: CreatedForeignKey) => Promise<void>,
): Promise<{ sequences: number; foreignKeys: number; triggers: number }> {
  const sequences = await syncAllSequences(config, { mode: 'exact' }, 'ferry:switchover');
  throwIfFailed(sequences);
  const keys = await missingForeignKeys(config, source, target);
  for (const key of keys) {
    try {
      await target.query(switchoverSql.addForeignKeyNotValid(key.table, key.name, key.definition));
      await created({ table: key.table, name: key.name });
      if (key.validated) await target.query(switchoverSql.validateConstraint(key.table, key.name));
      log.info({ table: key.table, constraint: key.name }, 'foreign key created and validated on the target');
    } catch (err) {
      throw new FerryError('FERRY_SWITCHOVER_FOREIGN_KEY', `foreign key ${key.name} of ${key.table} could not be created on the target: ${(err as Error).message}`,
        'rows on the target break the key: run "ferry verify" and fix the rows, then run the switchover again', { context: { table: key.table }, cause: err });
    }
  }
  const triggers = await alignTriggers(config, source, target, log);
  return { sequences: sequences.length, foreignKeys: keys.length, triggers };
}

/** Triggers on both sides whose firing differs (enabled, disabled, replica, always) are set as on the source. */
async function alignTriggers(config: FerryConfig, source: pg.Client, target: pg.Client, log: Logger): Promise<number> {
  const names: string[] = [];
  for (const group of config.groups) for (const t of (await resolveTables(source, group.tables)).tables) names.push(qualifiedName(t.schema, t.name));
  type Trigger = { table: string; name: string; enabled: string };
  const read = async (c: pg.Client) => (await c.query<Trigger>(switchoverSql.triggers, [names])).rows;
  const onTarget = new Map((await read(target)).map((t) => [`${t.table} ${t.name}`, t]));
  let changed = 0;
  for (const t of await read(source)) {
    const there = onTarget.get(`${t.table} ${t.name}`);
    if (!there) {
      log.info({ table: t.table, trigger: t.name }, 'trigger of the source is not on the target (ferry does not copy triggers)');
      continue;
    }
    if (there.enabled === t.enabled) continue;
    await target.query(switchoverSql.setTrigger(t.table, t.name, t.enabled));
    changed++;
  }
  return changed;
}

/** An abort takes back the keys it created: the forward stream must go on applying as before. */
export async function dropCreatedForeignKeys(target: pg.Client, keys: readonly CreatedForeignKey[]): Promise<void> {
  for (const key of keys) await target.query(switchoverSql.dropConstraint(key.table, key.name));
}
