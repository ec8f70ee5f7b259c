import type pg from 'pg';

/**
 * Whether copy sessions on the target may set session_replication_role =
 * replica, which skips foreign-key checks and triggers while rows load.
 */
export async function targetSkipsChecks(target: pg.Client): Promise<boolean> {
  await target.query('BEGIN');
  try {
    await target.query('SET LOCAL session_replication_role = replica');
    return true;
  } catch {
    return false;
  } finally {
    await target.query('ROLLBACK');
  }
}

/**
 * Tables in waves such that every table comes after the tables its foreign
 * keys on the target point to: without the replica role, a child's rows can
 * only load once its parents' are in. Tables in a cycle come last together.
 */
export async function foreignKeyWaves(target: pg.Client, tables: readonly string[]): Promise<string[][]> {
  const edges = (await target.query<{ child: string; parent: string }>(
    `SELECT cn.nspname || '.' || c.relname AS child, pn.nspname || '.' || p.relname AS parent
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
       JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
      WHERE k.contype = 'f' AND k.conrelid <> k.confrelid`)).rows;
  const inGroup = new Set(tables);
  const parents = new Map(tables.map((t) => [t, new Set<string>()]));
  for (const e of edges) if (inGroup.has(e.child) && inGroup.has(e.parent)) parents.get(e.child)?.add(e.parent);
  const waves: string[][] = [];
  const placed = new Set<string>();
  while (placed.size < tables.length) {
    const wave = tables.filter((t) => !placed.has(t) && [...(parents.get(t) ?? [])].every((p) => placed.has(p)));
    const next = wave.length > 0 ? wave : tables.filter((t) => !placed.has(t));
    for (const t of next) placed.add(t);
    waves.push(next);
  }
  return waves;
}
