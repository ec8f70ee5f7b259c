import { qualifiedName } from '../pg/connect.js';

/**
 * Every statement the sequence sync runs, on source and target. Catalog
 * queries use `pg_sequence` (PostgreSQL 10+); values come from the sequence
 * relation itself (`last_value`, `is_called`), which every version has and
 * which, unlike `pg_sequences.last_value`, tells "never used" apart from "no
 * privilege" (the latter is an error, not a NULL).
 */

/** A sequence by schema and name, as the catalog spells them (unquoted). */
export interface SequenceName {
  readonly schema: string;
  readonly name: string;
}

export const sequenceSql = {
  /**
   * Sequences the given tables use: owned by a column (deptype 'a' = serial
   * or OWNED BY, 'i' = identity), or named in a column default (the default
   * expression depends on the sequence, e.g. `nextval('s'::regclass)`, also
   * inside a larger expression). One row per (sequence, column) use.
   * $1: oid[] of the tables.
   */
  usedByTables: `
    WITH tables AS (SELECT unnest($1::oid[]) AS relid),
    uses AS (
      SELECT d.objid AS seq, d.refobjid AS relid, d.refobjsubid AS attnum,
             CASE d.deptype WHEN 'i' THEN 'identity' ELSE 'serial' END AS kind
        FROM pg_depend d JOIN tables t ON t.relid = d.refobjid
       WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
         AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
      UNION
      SELECT d.refobjid, ad.adrelid, ad.adnum, 'default'
        FROM pg_attrdef ad JOIN tables t ON t.relid = ad.adrelid
        JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass
    )
    SELECT s.oid AS oid, sn.nspname AS schema, s.relname AS name,
           tn.nspname AS table_schema, t.relname AS table_name, a.attname AS column_name, u.kind,
           format_type(p.seqtypid, NULL) AS data_type, p.seqincrement::text AS increment,
           p.seqmin::text AS min, p.seqmax::text AS max, p.seqstart::text AS start,
           p.seqcache::text AS cache, p.seqcycle AS cycle
      FROM uses u
      JOIN pg_class s ON s.oid = u.seq AND s.relkind = 'S'
      JOIN pg_namespace sn ON sn.oid = s.relnamespace
      JOIN pg_sequence p ON p.seqrelid = s.oid
      JOIN pg_class t ON t.oid = u.relid
      JOIN pg_namespace tn ON tn.oid = t.relnamespace
      JOIN pg_attribute a ON a.attrelid = u.relid AND a.attnum = u.attnum AND NOT a.attisdropped
     ORDER BY sn.nspname, s.relname, u.kind = 'default', tn.nspname, t.relname, a.attnum`,

  /**
   * On the target, for each source sequence (by position in the arrays): the
   * sequence the same table column uses there (its identity sequence, or the
   * one its default names), else the sequence with the same name. An
   * identity sequence may be named differently on the target (the name was
   * taken, or the source's was renamed), which is why the column comes first.
   * $1..$5: text[] of sequence schema, sequence name, table schema, table name, column.
   */
  resolveOnTarget: `
    SELECT u.i::int AS i, s.oid AS oid, sn.nspname AS schema, s.relname AS name,
           p.seqincrement::text AS increment, p.seqmin::text AS min, p.seqmax::text AS max
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
             WITH ORDINALITY AS u(seq_schema, seq_name, table_schema, table_name, column_name, i)
      LEFT JOIN LATERAL (
        SELECT found.oid FROM (
          SELECT d.objid AS oid, 1 AS preference
            FROM pg_class t JOIN pg_namespace tn ON tn.oid = t.relnamespace
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = u.column_name AND NOT a.attisdropped
            JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                            AND d.refobjid = t.oid AND d.refobjsubid = a.attnum AND d.deptype = 'i'
           WHERE tn.nspname = u.table_schema AND t.relname = u.table_name
          UNION ALL
          SELECT d.refobjid, 2
            FROM pg_class t JOIN pg_namespace tn ON tn.oid = t.relnamespace
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = u.column_name AND NOT a.attisdropped
            JOIN pg_attrdef ad ON ad.adrelid = t.oid AND ad.adnum = a.attnum
            JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass
           WHERE tn.nspname = u.table_schema AND t.relname = u.table_name
          UNION ALL
          SELECT c.oid, 3
            FROM pg_class c JOIN pg_namespace cn ON cn.oid = c.relnamespace
           WHERE cn.nspname = u.seq_schema AND c.relname = u.seq_name
        ) found JOIN pg_class k ON k.oid = found.oid AND k.relkind = 'S'
        ORDER BY found.preference LIMIT 1
      ) hit ON true
      LEFT JOIN pg_class s ON s.oid = hit.oid
      LEFT JOIN pg_namespace sn ON sn.oid = s.relnamespace
      LEFT JOIN pg_sequence p ON p.seqrelid = s.oid
     ORDER BY u.i`,

  /** `last_value` and `is_called` of each sequence, in one statement; `i` is the position in the list. */
  values: (sequences: readonly SequenceName[]): string => sequences
    .map((s, i) => `SELECT ${i} AS i, last_value::text AS last_value, is_called FROM ${qualifiedName(s.schema, s.name)}`)
    .join('\nUNION ALL\n'),

  /** setval for many sequences in one round trip. $1 oid[], $2 bigint[] (as text), $3 boolean[]. */
  setValues: `SELECT setval(u.seq::regclass, u.value, u.is_called)
                FROM unnest($1::oid[], $2::bigint[], $3::boolean[]) AS u(seq, value, is_called)`,

  setValue: 'SELECT setval($1::oid::regclass, $2::bigint, $3::boolean)',

  /**
   * setval only if the new state hands out a next value further along (in
   * direction $5, 1 or -1) than the sequence's current state, checked in the
   * same statement. Returns a row if it was set. $1 oid, $2 value, $3
   * is_called, $4 the target sequence's increment, $5 direction.
   */
  setIfBehind: (s: SequenceName): string => `
    SELECT setval($1::oid::regclass, $2::bigint, $3::boolean) AS value
      FROM ${qualifiedName(s.schema, s.name)} cur
     WHERE $5::int * ((CASE WHEN $3::boolean THEN $2::bigint::numeric + $4::bigint ELSE $2::bigint::numeric END)
                    - (CASE WHEN cur.is_called THEN cur.last_value::numeric + $4::bigint ELSE cur.last_value::numeric END)) > 0`,
};

/** The statement that recreates a source sequence on the target, for error hints. */
export function createSequenceStatement(s: SequenceName & {
  dataType: string; increment: string; min: string; max: string; start: string; cache: string; cycle: boolean;
}): string {
  return `CREATE SEQUENCE ${qualifiedName(s.schema, s.name)} AS ${s.dataType} INCREMENT BY ${s.increment} ` +
    `MINVALUE ${s.min} MAXVALUE ${s.max} START WITH ${s.start} CACHE ${s.cache}${s.cycle ? ' CYCLE' : ''};`;
}
