import type pg from 'pg';

/**
 * Drops the source's `ferry` schema, which trigger capture and DDL capture
 * share, inside the caller's open transaction, unless something still
 * lives in it (the other one's objects): then it stays, and the transaction
 * goes on. True when it was dropped.
 */
export async function dropSourceSchemaIfEmpty(client: pg.Client): Promise<boolean> {
  await client.query('SAVEPOINT ferry_schema');
  try {
    await client.query('DROP SCHEMA IF EXISTS ferry');
    return true;
  } catch (err) {
    if ((err as { code?: string }).code !== '2BP01') throw err;
    await client.query('ROLLBACK TO SAVEPOINT ferry_schema');
    return false;
  }
}
