import type pg from 'pg';

/**
 * Runs `read` with `search_path = pg_catalog`. The catalog's deparsers
 * (format_type, pg_get_expr, pg_get_constraintdef, pg_get_indexdef, regclass
 * output) qualify every name they cannot see on the search path, so with only
 * pg_catalog on it every user type, table, function and operator comes out
 * schema-qualified, as pg_dump writes them. Text read this way means the same
 * thing on the other server, whatever search path its connection has, and
 * texts read this way on both sides can be compared as they are.
 */
export async function withQualifiedNames<T>(client: pg.Client, read: () => Promise<T>): Promise<T> {
  const saved = (await client.query<{ path: string }>(`SELECT current_setting('search_path') AS path`)).rows[0]?.path ?? '';
  await client.query(`SELECT set_config('search_path', 'pg_catalog', false)`);
  try {
    return await read();
  } finally {
    await client.query(`SELECT set_config('search_path', $1, false)`, [saved]).catch(() => undefined);
  }
}
