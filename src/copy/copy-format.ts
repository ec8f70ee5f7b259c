import type pg from 'pg';
import { FIRST_USER_OID } from '../catalog/catalog-sql.js';
import { qualifiedName } from '../pg/connect.js';

/**
 * Binary COPY moves rows without text conversion on either side, but its
 * format carries type OIDs (arrays, composites) and is only meaningful when
 * both sides agree on every type. So: binary when every copied column has
 * the same built-in type on source and target, text otherwise.
 */
export async function copyFormat(
  source: pg.Client, target: pg.Client, table: { schema: string; name: string }, columns: readonly string[],
): Promise<'binary' | 'text'> {
  const query = `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
                        a.atttypid < ${FIRST_USER_OID} AND COALESCE(t.typelem, 0) < ${FIRST_USER_OID} AND t.typtype = 'b' AS builtin
                   FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                  WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`;
  const name = qualifiedName(table.schema, table.name);
  const [src, dst] = await Promise.all([source.query(query, [name]), target.query(query, [name])]);
  const targetTypes = new Map(dst.rows.map((r) => [r.name as string, r]));
  for (const column of columns) {
    const s = src.rows.find((r) => r.name === column);
    const t = targetTypes.get(column);
    if (!s || !t || !s.builtin || !t.builtin || s.type !== t.type) return 'text';
  }
  return 'binary';
}
