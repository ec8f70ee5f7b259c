import type pg from 'pg';
import { FerryError } from '../errors.js';
import { migrate } from '../pg/versioned-schema.js';
import type { Position } from '../source/position.js';
import { migrations, sql } from './control-sql.js';

/** Creates or upgrades the `ferry` control schema on the target; safe to run concurrently. */
export async function ensureControlSchema(client: pg.Client): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(sql.lockSchema);
    await client.query(sql.createSchema);
    await migrate(client, {
      name: "the target's ferry schema", tooNewCode: 'FERRY_CONTROL_VERSION', migrations,
      versionTableExists: `SELECT to_regclass('ferry.schema_version') IS NOT NULL AS present`,
      installedVersion: sql.installedVersion, setVersion: sql.setVersion,
    });
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Whether the control schema is there. One an older ferry installed is
 * brought up to this version first, so that every command of a newer ferry
 * reads what it expects (older ferry processes must be stopped by then).
 */
export async function controlSchemaExists(client: pg.Client): Promise<boolean> {
  try {
    const present = (await client.query<{ present: boolean }>(sql.controlSchemaExists)).rows[0]?.present ?? false;
    if (present && ((await client.query<{ version: number }>(sql.installedVersion)).rows[0]?.version ?? 0) < migrations.length) {
      await ensureControlSchema(client);
    }
    return present;
  } catch (err) {
    if ((err as { code?: string }).code !== '42501') throw err;
    // The schema exists but belongs to a role that has not let this one in.
    throw new FerryError('FERRY_CONTROL_SCHEMA_ACCESS', `the target role may not use the ferry schema on the target: ${(err as Error).message}`,
      'run ferry with the target role that ran "ferry init", or have that role (or a superuser) run ALTER SCHEMA ferry OWNER TO <role> and ALTER TABLE ... OWNER TO <role> for the tables in it',
      { exitCode: 2, cause: err });
  }
}

export interface GroupRow {
  readonly group_name: string;
  readonly capture: string;
  readonly state: 'copying' | 'streaming';
  readonly slot_name: string | null;
  readonly publication_name: string | null;
  readonly tables: string[];
  /** Null until the group's capture is set up on the source. */
  readonly position: Position | null;
  readonly source_commit_time: Date | null;
  readonly applied_at: Date | null;
  readonly rows_applied: string;
  readonly transactions_applied: string;
  readonly last_error: string | null;
  readonly last_error_at: Date | null;
  readonly last_error_fatal: boolean;
  readonly batches_set_based: string;
  readonly batches_in_order: string;
  /** Inside a batch applied in parts (trigger capture): its events applied so far, and in all; null otherwise. */
  readonly part_events: string | null;
  readonly part_events_total: string | null;
  /** Changes of joining tables held until their copy is done (see hold-joining-changes.ts). */
  readonly held_changes: string;
}

export async function readGroup(client: pg.Client, group: string): Promise<GroupRow | undefined> {
  if (!(await controlSchemaExists(client))) return undefined;
  return (await client.query<GroupRow>(sql.group, [group])).rows[0];
}

export async function readGroups(client: pg.Client): Promise<GroupRow[]> {
  if (!(await controlSchemaExists(client))) return [];
  return (await client.query<GroupRow>(sql.allGroups)).rows;
}
