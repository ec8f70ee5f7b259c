import type pg from 'pg';
import { FerryError } from '../errors.js';

/** A schema Ferry installs and upgrades: `migrations[i]` brings version i to i+1. */
export interface VersionedSchema {
  /** Where it lives, for the error message: "the target's ferry schema". */
  readonly name: string;
  /** Error code when the installed version is newer than this ferry. */
  readonly tooNewCode: string;
  readonly migrations: readonly string[];
  /** `present`: whether the version table exists. */
  readonly versionTableExists: string;
  /** `version`: the installed version. */
  readonly installedVersion: string;
  /** Takes the new version as $1. */
  readonly setVersion: string;
}

/** Brings the schema to the latest version; runs inside the caller's transaction, under its lock. */
export async function migrate(client: pg.Client, schema: VersionedSchema): Promise<void> {
  const { migrations } = schema;
  let version: number;
  if ((await client.query<{ present: boolean }>(schema.versionTableExists)).rows[0]?.present) {
    version = (await client.query<{ version: number }>(schema.installedVersion)).rows[0]?.version ?? 0;
  } else {
    await client.query(migrations[0] as string);
    version = 1;
  }
  if (version > migrations.length) {
    throw new FerryError(schema.tooNewCode, `${schema.name} is version ${version}, newer than this ferry (${migrations.length})`, 'upgrade ferry');
  }
  for (; version < migrations.length; version++) await client.query(migrations[version] as string);
  await client.query(schema.setVersion, [migrations.length]);
}
