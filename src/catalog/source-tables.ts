import type pg from 'pg';
import type { TableRef } from '../config/schema.js';

/** A source table as the catalog describes it: enough to check it, publish it and recreate it. */
export interface SourceTable {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** 'd' default (primary key), 'n' nothing, 'f' full, 'i' index. */
  readonly replicaIdentity: 'd' | 'n' | 'f' | 'i';
  readonly hasPrimaryKey: boolean;
  readonly identityIndex: string | null;
  /** CREATE UNIQUE INDEX statement of the replica identity index, if any. */
  readonly identityIndexDef: string | null;
  readonly partitioned: boolean;
  readonly columns: readonly SourceColumn[];
  readonly primaryKey: readonly string[];
}

export interface SourceColumn {
  readonly name: string;
  readonly type: string;
  readonly notNull: boolean;
  readonly default: string | null;
  /** '' none, 'a' ALWAYS, 'd' BY DEFAULT. */
  readonly identity: '' | 'a' | 'd';
  /** Expression of a stored generated column, else null. */
  readonly generated: string | null;
}

export function tableLabel(t: { schema: string; name: string }): string {
  return `${t.schema}.${t.name}`;
}

/**
 * Resolves the configured table names and patterns against the source
 * catalog. Patterns match ordinary and partitioned tables (not partitions);
 * a literal name that matches nothing is reported by the caller.
 */
export async function resolveTables(client: pg.Client, refs: readonly TableRef[]): Promise<{ tables: SourceTable[]; unmatched: TableRef[] }> {
  const found = new Map<number, SourceTable>();
  const unmatched: TableRef[] = [];
  for (const ref of refs) {
    const rows = await describe(client, ref);
    if (rows.length === 0) unmatched.push(ref);
    for (const t of rows) found.set(t.oid, t);
  }
  return { tables: [...found.values()], unmatched };
}

function likePattern(text: string, isPattern: boolean): string {
  const escaped = text.replace(/[\\%_]/g, (c) => `\\${c}`);
  return isPattern ? escaped.replace(/\*/g, '%') : escaped;
}

async function describe(client: pg.Client, ref: TableRef): Promise<SourceTable[]> {
  const version = Number((await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]?.v);
  const identity = version >= 100000 ? 'a.attidentity' : `''`;
  const generated = version >= 120000 ? `CASE WHEN a.attgenerated = 's' THEN pg_get_expr(d.adbin, d.adrelid) END` : 'NULL';
  const defaultExpr = version >= 120000 ? `CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END` : 'pg_get_expr(d.adbin, d.adrelid)';
  const res = await client.query(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relreplident AS replica_identity,
            c.relkind = 'p' AS partitioned,
            (SELECT i.indexrelid::regclass::text FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident) AS identity_index,
            (SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident) AS identity_index_def,
            COALESCE((SELECT array_agg(a.attname::text ORDER BY k.ord)
                        FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                       WHERE i.indrelid = c.oid AND i.indisprimary), '{}'::text[]) AS primary_key,
            (SELECT json_agg(json_build_object(
                       'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'notNull', a.attnotnull,
                       'default', ${defaultExpr}, 'identity', ${identity}, 'generated', ${generated})
                     ORDER BY a.attnum)
               FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND n.nspname LIKE $1 AND c.relname LIKE $2
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'ferry') AND n.nspname NOT LIKE 'pg_toast%'
      ORDER BY n.nspname, c.relname`,
    [likePattern(ref.schema, ref.pattern), likePattern(ref.table, ref.pattern)],
  );
  return res.rows.map((r) => ({
    oid: r.oid,
    schema: r.schema,
    name: r.name,
    replicaIdentity: r.replica_identity,
    hasPrimaryKey: r.primary_key.length > 0,
    identityIndex: r.identity_index,
    identityIndexDef: r.identity_index_def,
    partitioned: r.partitioned,
    primaryKey: r.primary_key,
    columns: (r.columns ?? []).map((c: SourceColumn & { identity: string | null }) => ({ ...c, identity: c.identity ?? '' })),
  }));
}
