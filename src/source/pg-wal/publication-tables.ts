import type pg from 'pg';
import { FerryError } from '../../errors.js';
import { qualifiedName } from '../../pg/connect.js';
import { walSql } from './wal-setup-sql.js';

/** How long adding a table waits for the transactions that write it. */
const ADD_LOCK_TIMEOUT = '10s';

/**
 * Adds tables to a group's publication. The SHARE lock, held to the commit,
 * waits for every transaction writing them and holds new writers back for the
 * moment of the ALTER: a transaction that wrote a table before it joined the
 * publication and commits after could otherwise lose those earlier changes
 * (logical decoding reads each change with the catalog of its own moment).
 */
export async function addPublicationTables(client: pg.Client, group: string, publication: string, tables: readonly { schema: string; name: string }[]): Promise<void> {
  const missing = (await membership(client, publication, tables.map((t) => qualifiedName(t.schema, t.name)))).filter((m) => !m.member);
  if (missing.length === 0) return;
  const names = missing.map((m) => m.name).join(', ');
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL lock_timeout = '${ADD_LOCK_TIMEOUT}'`);
    await client.query(`LOCK TABLE ${names} IN SHARE MODE`);
    await client.query(walSql.addPublicationTables(publication, names));
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if ((err as { code?: string }).code === '55P03') {
      throw new FerryError('FERRY_ADD_TABLE_LOCK_TIMEOUT', `adding ${names} to publication ${publication} waited more than ${ADD_LOCK_TIMEOUT} for transactions that write them`,
        'retry when no long transaction writes those tables (see pg_locks)', { context: { group }, cause: err });
    }
    throw err;
  }
}

/** Removes tables (qualified, quoted names) from a group's publication: their later changes no longer reach the group. */
export async function removePublicationTables(client: pg.Client, publication: string, tables: readonly string[]): Promise<void> {
  const present = (await membership(client, publication, tables)).filter((m) => m.member);
  if (present.length > 0) await client.query(walSql.dropPublicationTables(publication, present.map((m) => m.name).join(', ')));
}

async function membership(client: pg.Client, publication: string, tables: readonly string[]) {
  return (await client.query<{ name: string; member: boolean }>(walSql.publicationMembership, [publication, tables])).rows;
}
