import type { Pair } from './harness.js';

/** The live columns of relation `rel` in order: name, type, collation (where not the type's), NOT NULL, default. */
function columnsOf(rel: string): string {
  return `(SELECT string_agg(format('%s %s%s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                    COALESCE(' collate ' || (SELECT co.collname FROM pg_collation co
                                              WHERE co.oid = a.attcollation AND a.attcollation <> (SELECT ty.typcollation FROM pg_type ty WHERE ty.oid = a.atttypid))::text, ''),
                    CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                    COALESCE(' default ' || pg_get_expr(d.adbin, d.adrelid), '')), ', ' ORDER BY a.attnum)
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = ${rel} AND a.attnum > 0 AND NOT a.attisdropped)`;
}

/**
 * A schema fingerprint of every table of schema `public` (and each
 * partition): live columns in order with type, collation, NOT NULL and default; index
 * definitions; constraints other than foreign keys (which `init` leaves to
 * the switchover); the partition bound. Written independently of Ferry's
 * own catalog code, so that it checks that code rather than repeats it.
 */
const FINGERPRINT = `
  SELECT c.relname AS table,
         concat_ws(E'\\n  ',
           'columns: ' || ${columnsOf('c.oid')},
           'indexes: ' || (SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ' ORDER BY 1) FROM pg_index i WHERE i.indrelid = c.oid),
           'constraints: ' || (SELECT string_agg(format('%s %s', k.conname, pg_get_constraintdef(k.oid)), '; ' ORDER BY k.conname)
                                 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype <> 'f'),
           'partition of: ' || (SELECT p.relname || ' ' || pg_get_expr(c.relpartbound, c.oid)
                                  FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent WHERE h.inhrelid = c.oid)) AS facts
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
   ORDER BY c.relname`;

export interface SchemaFingerprint {
  readonly tables: readonly string[];
  /** One block per table, in name order. */
  readonly text: string;
}

export async function schemaFingerprint(pair: Pair, side: 'source' | 'target'): Promise<SchemaFingerprint> {
  const rows = (await pair.sql(side, FINGERPRINT)).rows as { table: string; facts: string }[];
  return { tables: rows.map((r) => r.table), text: rows.map((r) => `${r.table}\n  ${r.facts}`).join('\n') };
}

/** One table's columns (type, collation, NOT NULL, default, in order), index definitions and constraints other than foreign keys and NOT NULL. */
const TABLE_DEFINITION = `
  SELECT ${columnsOf('to_regclass($1)')} AS columns,
         (SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ' ORDER BY 1) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
           WHERE i.indrelid = to_regclass($1) AND ic.relname <> ALL ($2::text[])) AS indexes,
         (SELECT string_agg(format('%s %s', conname, pg_get_constraintdef(c.oid)), '; ' ORDER BY conname) FROM pg_constraint c
           WHERE c.conrelid = to_regclass($1) AND c.contype NOT IN ('f', 'n')) AS constraints`;

export interface TableDefinitionText {
  readonly columns: string | null;
  readonly indexes: string | null;
  readonly constraints: string | null;
}

/** `table`'s definition on one side; indexes named in `ignoring` (a target's own) left out. */
export async function tableDefinition(pair: Pair, side: 'source' | 'target', table: string, ignoring: readonly string[] = []): Promise<TableDefinitionText> {
  return (await pair.sql(side, TABLE_DEFINITION, [table, ignoring])).rows[0] as TableDefinitionText;
}
