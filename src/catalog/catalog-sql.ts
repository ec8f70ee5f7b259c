/**
 * Every catalog query Ferry uses to describe tables and types, on the source
 * (to recreate them) and on the target (to compare with what is there). They
 * run under `withQualifiedNames`, so names outside pg_catalog come back
 * schema-qualified. PostgreSQL 10 is the oldest version served; the few
 * columns that came later are switched on by `version` (server_version_num).
 */

/** Objects with OIDs below this were made by initdb: built in, present on every server. */
export const FIRST_USER_OID = 16384;

/** `quote_ident(schema).quote_ident(name)` of the collation with OID `oid`. */
function collationName(oid: string): string {
  return `(SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
             FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = ${oid})`;
}

/** The collation `coll` when it differs from the one type `typ` has anyway (so COLLATE must be written). */
function explicitCollation(coll: string, typ: string): string {
  return `CASE WHEN ${coll} <> 0 AND ${coll} <> (SELECT ct.typcollation FROM pg_type ct WHERE ct.oid = ${typ}) THEN ${collationName(coll)} END`;
}

/**
 * Ordinary and partitioned tables (not partitions) whose schema and name match
 * the LIKE patterns $1 and $2, with their columns, primary key, replica
 * identity and partition key.
 */
export function tablesSql(version: number): string {
  const identity = version >= 100000 ? 'a.attidentity' : `''`;
  const generatedKinds = version >= 180000 ? `('s', 'v')` : `('s')`;
  const generated = version >= 120000 ? `CASE WHEN a.attgenerated IN ${generatedKinds} THEN pg_get_expr(d.adbin, d.adrelid) END` : 'NULL';
  const virtual = version >= 180000 ? `a.attgenerated = 'v'` : 'false';
  const defaultExpr = version >= 120000 ? `CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END` : 'pg_get_expr(d.adbin, d.adrelid)';
  // The identity column's own sequence (pg_depend 'i'), with the options it was created with.
  const identitySequence = version >= 100000
    ? `CASE WHEN a.attidentity <> '' THEN (
         SELECT json_build_object('name', quote_ident(sn.nspname) || '.' || quote_ident(s.relname),
                  'start', p.seqstart::text, 'increment', p.seqincrement::text, 'min', p.seqmin::text,
                  'max', p.seqmax::text, 'cache', p.seqcache::text, 'cycle', p.seqcycle)
           FROM pg_depend dep JOIN pg_class s ON s.oid = dep.objid AND s.relkind = 'S'
           JOIN pg_namespace sn ON sn.oid = s.relnamespace JOIN pg_sequence p ON p.seqrelid = s.oid
          WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
            AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype = 'i') END`
    : 'NULL';
  return `
    SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relreplident AS replica_identity,
           c.relkind = 'p' AS partitioned,
           CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
           (SELECT i.indexrelid::regclass::text FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident) AS identity_index,
           (SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident) AS identity_index_def,
           COALESCE((SELECT array_agg(a.attname::text ORDER BY k.ord)
                       FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                      WHERE i.indrelid = c.oid AND i.indisprimary), '{}'::text[]) AS primary_key,
           (SELECT json_agg(json_build_object(
                      'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'typeOid', a.atttypid::int,
                      'notNull', a.attnotnull, 'default', ${defaultExpr}, 'identity', ${identity},
                      'identitySequence', ${identitySequence},
                      'generated', ${generated}, 'virtual', ${virtual},
                      'collation', ${explicitCollation('a.attcollation', 'a.atttypid')})
                    ORDER BY a.attnum)
              FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND n.nspname LIKE $1 AND c.relname LIKE $2
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'ferry') AND n.nspname NOT LIKE 'pg_toast%'
     ORDER BY n.nspname, c.relname`;
}

/**
 * Direct partitions of relation $1 (partitioned tables, also sub-partitioned
 * ones), with their bounds and, if partitioned again, their own key. Foreign
 * partitions are listed too: on the target they become ordinary partitions
 * that hold the rows the source reads through them.
 */
export const partitionsSql = `
  SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relreplident AS replica_identity,
         pg_get_expr(c.relpartbound, c.oid) AS bound,
         CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE i.inhparent = $1 AND c.relispartition AND c.relkind IN ('r', 'p', 'f')
   ORDER BY n.nspname, c.relname`;

/**
 * Constraints defined on relation $1 itself: CHECK, UNIQUE, EXCLUDE, FOREIGN
 * KEY and, on partitions, a primary key of their own. Constraints a partition
 * inherits from its parent (coninhcount > 0) are left out: recreating the
 * parent's recreates them. NOT NULL (a constraint row from PostgreSQL 18 on)
 * is part of the column. `index` is the name of the index that backs a
 * UNIQUE, EXCLUDE or primary key constraint.
 */
export const constraintsSql = `
  SELECT k.conname AS name, k.contype AS kind, pg_get_constraintdef(k.oid) AS definition,
         (SELECT ic.relname FROM pg_class ic WHERE ic.oid = k.conindid AND k.contype IN ('p', 'u', 'x')) AS index
    FROM pg_constraint k
   WHERE k.conrelid = $1 AND k.contype IN ('c', 'u', 'x', 'f', 'p') AND k.coninhcount = 0
   ORDER BY k.contype, k.conname`;

/**
 * Indexes of relation $1 that are not built by a constraint and not attached
 * to an index of a parent partitioned table (those come back when the
 * parent's index is created). Invalid ones (a failed CREATE INDEX
 * CONCURRENTLY) are left out.
 */
export const indexesSql = `
  SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
   WHERE i.indrelid = $1 AND i.indisvalid AND NOT ic.relispartition
     AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
   ORDER BY ic.relname`;

/** Name of the replica identity index of relation $1 (unqualified: ALTER TABLE … USING INDEX wants it so). */
export const identityIndexNameSql = `
  SELECT ic.relname AS name FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = $1 AND i.indisreplident`;

/** One type by OID: kind, and what recreating or comparing it needs. */
export function typeSql(version: number): string {
  const multirangeOf = version >= 140000 ? '(SELECT r.rngtypid::int FROM pg_range r WHERE r.rngmultitypid = t.oid)' : 'NULL::int';
  return `
    SELECT t.oid::int AS oid, n.nspname AS schema, t.typname AS name, format_type(t.oid, NULL) AS sql, t.typtype AS typtype,
           CASE WHEN t.typlen = -1 AND t.typelem <> 0 THEN t.typelem::int END AS element_of,
           ${multirangeOf} AS multirange_of,
           (SELECT rc.relkind FROM pg_class rc WHERE rc.oid = t.typrelid) AS relkind,
           (SELECT e.extname FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
             WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e') AS extension,
           t.typbasetype::int AS base_oid,
           CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base,
           t.typnotnull AS not_null, t.typdefault AS "default",
           CASE WHEN t.typtype = 'd' THEN ${explicitCollation('t.typcollation', 't.typbasetype')} END AS collation,
           ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels,
           COALESCE((SELECT json_agg(json_build_object('name', k.conname, 'definition', pg_get_constraintdef(k.oid)) ORDER BY k.conname)
                       FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c'), '[]') AS checks,
           COALESCE((SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                                       'typeOid', a.atttypid::int, 'collation', ${explicitCollation('a.attcollation', 'a.atttypid')})
                              ORDER BY a.attnum)
                       FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS attributes,
           (SELECT json_build_object('subtype', format_type(r.rngsubtype, NULL), 'subtypeOid', r.rngsubtype::int,
                     'collation', ${explicitCollation('r.rngcollation', 'r.rngsubtype')},
                     'opclass', quote_ident(opn.nspname) || '.' || quote_ident(opc.opcname), 'defaultOpclass', opc.opcdefault,
                     'diff', CASE WHEN r.rngsubdiff <> 0 THEN r.rngsubdiff::regproc::text END,
                     'canonical', CASE WHEN r.rngcanonical <> 0 THEN r.rngcanonical::regproc::text END)
              FROM pg_range r JOIN pg_opclass opc ON opc.oid = r.rngsubopc JOIN pg_namespace opn ON opn.oid = opc.opcnamespace
             WHERE r.rngtypid = t.oid) AS range
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE t.oid = $1`;
}

/** OID of the type named $1 (a qualified type name, as format_type writes it), or NULL. */
export const typeOidSql = `SELECT to_regtype($1)::oid::int AS oid`;

/**
 * User-made functions, operators, operator classes and families, collations
 * and text search objects that the given relations ($1: tables and
 * partitions) with their indexes, their column defaults and non-foreign-key constraints,
 * and the given types ($2, with their domain constraints) depend on. Ferry
 * does not create these; each comes with the address pg_get_object_address
 * resolves on the target, and the extension it belongs to, if any.
 */
export const dependenciesSql = `
  WITH objects(classid, objid) AS (
    SELECT 'pg_class'::regclass::oid, r FROM unnest($1::oid[]) r
    UNION ALL SELECT 'pg_class'::regclass::oid, i.indexrelid FROM pg_index i WHERE i.indrelid = ANY ($1::oid[])
    UNION ALL SELECT 'pg_attrdef'::regclass::oid, ad.oid FROM pg_attrdef ad WHERE ad.adrelid = ANY ($1::oid[])
    UNION ALL SELECT 'pg_constraint'::regclass::oid, k.oid FROM pg_constraint k
               WHERE (k.conrelid = ANY ($1::oid[]) AND k.contype <> 'f') OR k.contypid = ANY ($2::oid[])
    UNION ALL SELECT 'pg_type'::regclass::oid, t FROM unnest($2::oid[]) t
  )
  SELECT DISTINCT pg_describe_object(d.refclassid, d.refobjid, 0) AS description,
         a.type, a.object_names AS names, a.object_args AS args,
         (SELECT e.extname FROM pg_depend x JOIN pg_extension e ON e.oid = x.refobjid
           WHERE x.classid = d.refclassid AND x.objid = d.refobjid AND x.refclassid = 'pg_extension'::regclass AND x.deptype = 'e') AS extension
    FROM objects o JOIN pg_depend d ON d.classid = o.classid AND d.objid = o.objid
    CROSS JOIN LATERAL pg_identify_object_as_address(d.refclassid, d.refobjid, 0) a
   WHERE d.refobjid >= ${FIRST_USER_OID}
     AND d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass, 'pg_opclass'::regclass, 'pg_opfamily'::regclass,
                          'pg_collation'::regclass, 'pg_ts_config'::regclass, 'pg_ts_dict'::regclass)
   ORDER BY 1`;

/** Resolves an object address from the source on this server; fails if there is no such object. */
export const objectExistsSql = `SELECT pg_get_object_address($1, $2, $3) IS NOT NULL AS ok`;

/** Which of the qualified relation names in $1 are taken on this server. */
export const takenRelationNamesSql = `SELECT n AS name FROM unnest($1::text[]) n WHERE to_regclass(n) IS NOT NULL`;

/** Columns of the table named $1 (qualified, quoted) on this server, none if it does not exist. */
export const columnsSql = `
  SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
    FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
   ORDER BY a.attnum`;

/** Names of the constraints and indexes already on the table named $1 (qualified, quoted). */
export const builtNamesSql = `
  SELECT k.conname AS name FROM pg_constraint k WHERE k.conrelid = to_regclass($1)
  UNION
  SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = to_regclass($1)`;

export const serverVersionSql = `SELECT current_setting('server_version_num')::int AS version`;

/**
 * What decides whether a column's values may travel in binary (read with
 * `columnTypeOf` in pg/binary-format.ts), for `a` pg_attribute joined to
 * `t` pg_type.
 */
export const binaryTypeColumns = `a.atttypid::int8 AS type_oid, t.typtype,
         CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0 END::int8 AS typelem,
         t.typsend::oid <> 0 AND t.typreceive::oid <> 0 AS has_binary`;

/**
 * The written columns (not generated) of the tables named in $1 (qualified,
 * quoted; missing ones are skipped) with what decides whether their values
 * may travel in binary: type OID, kind, element type, send/receive functions.
 */
export function columnTypesSql(version: number): string {
  const notGenerated = version >= 120000 ? `AND a.attgenerated = ''` : '';
  return `
  SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS table_name, a.attname AS column_name,
         ${binaryTypeColumns}
    FROM unnest($1::text[]) AS x(name)
    JOIN pg_class c ON c.oid = to_regclass(x.name)
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ${notGenerated}
    JOIN pg_type t ON t.oid = a.atttypid`;
}

/** Of the privileges init and apply use on the existing table named $1, those the current role lacks. */
export const missingTablePrivilegesSql = `
  SELECT current_user AS role, array_agg(p ORDER BY o) FILTER (WHERE NOT has_table_privilege(to_regclass($1), p)) AS missing
    FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) WITH ORDINALITY AS x(p, o)`;

/** Whether the current role may create tables in schema $1; null when the schema does not exist. */
export const schemaCreatePrivilegeSql = `
  SELECT current_user AS role, (SELECT has_schema_privilege(n.oid, 'CREATE') FROM pg_namespace n WHERE n.nspname = $1) AS allowed`;

/**
 * Relation $1 (by OID) and, if it is a partition, every partitioned table
 * above it, the root last: each with its bound (pg_get_expr of relpartbound)
 * and, if partitioned, its key. `constraint_def` is a partition's whole
 * partition constraint, its ancestors' included, as a condition on the
 * root's rows. No rows when $1 no longer exists.
 */
export const partitionLineageSql = `
  WITH RECURSIVE up(oid, depth) AS (
    SELECT c.oid, 0 FROM pg_class c WHERE c.oid = $1
    UNION ALL
    SELECT i.inhparent, up.depth + 1 FROM up JOIN pg_class c ON c.oid = up.oid JOIN pg_inherits i ON i.inhrelid = up.oid
     WHERE c.relispartition
  )
  SELECT n.nspname AS schema, c.relname AS name, c.relispartition AS is_partition,
         CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS bound,
         CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
         CASE WHEN c.relispartition THEN pg_get_partition_constraintdef(c.oid) END AS constraint_def
    FROM up JOIN pg_class c ON c.oid = up.oid JOIN pg_namespace n ON n.oid = c.relnamespace
   ORDER BY up.depth DESC`;

/**
 * The indexes of the table named $1 that can find a row by equality on their
 * columns, best first: btree, valid, not partial, no expressions, and each
 * key column with its type's default operator class and own collation, so
 * that `column = value` is an index condition. The same choice native logical
 * replication (PostgreSQL 16+) makes for REPLICA IDENTITY FULL; unique ones
 * first, then those with more columns.
 */
export function rowFindingIndexesSql(version: number): string {
  const keyColumns = version >= 110000 ? 'i.indnkeyatts' : 'i.indnatts';
  return `
  SELECT i.indexrelid::regclass::text AS name,
         array(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                WHERE k.n <= ${keyColumns} ORDER BY k.n) AS columns
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam
   WHERE i.indrelid = to_regclass($1) AND am.amname = 'btree'
     AND i.indisvalid AND i.indisready AND i.indislive AND i.indpred IS NULL AND i.indexprs IS NULL
     AND NOT EXISTS (
       SELECT 1 FROM unnest(i.indkey::int2[], i.indclass::oid[], i.indcollation::oid[]) WITH ORDINALITY AS k(attnum, opclass, coll, n)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         JOIN pg_opclass oc ON oc.oid = k.opclass
        WHERE k.n <= ${keyColumns} AND (NOT oc.opcdefault OR k.coll <> a.attcollation))
   ORDER BY i.indisunique DESC, ${keyColumns} DESC, i.indexrelid`;
}

/**
 * The live columns of source relation $1 (by OID) as the catalog has them
 * now: for a column added with a constant default, the value its existing
 * rows read (`missing`, a one-element array literal, PostgreSQL 11+), and
 * the default a new row gets. Generated columns are left out, as the stream
 * leaves them out.
 */
export function sourceColumnsSql(version: number): string {
  return `
  SELECT a.attnum::int AS attnum, a.attname AS name, a.attnotnull AS not_null,
         ${version >= 110000 ? 'CASE WHEN a.atthasmissing THEN a.attmissingval::text END' : 'NULL'} AS missing,
         t.typcategory = 'A' AS is_array,
         pg_get_expr(d.adbin, d.adrelid) AS default_expr,
         ${explicitCollation('a.attcollation', 'a.atttypid')} AS collation
    FROM pg_attribute a
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ${notGenerated(version)}
   ORDER BY a.attnum`;
}

/** Generated columns (PostgreSQL 12+) are not in the stream. */
function notGenerated(version: number): string {
  return version >= 120000 ? `AND a.attgenerated = ''` : '';
}

/** SQL names of types ($1: OIDs, $2: type modifiers, pairwise), qualified when run under withQualifiedNames. */
export const typeNamesSql = `SELECT format_type(o, m) AS name FROM unnest($1::oid[], $2::int[]) WITH ORDINALITY AS x(o, m, n) ORDER BY n`;

/** The columns of target table $1 (qualified name) and their types; of its partition root when it is a partition. */
export const targetColumnTypesSql = `
  SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
    FROM pg_attribute a
   WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`;

/**
 * The columns of source relation $1 as pgoutput describes them (live, not
 * generated, in attribute order), with their attribute numbers and whether
 * each is part of the replica identity, as its Relation message flags them.
 */
export function describedColumnsSql(version: number): string {
  return `
  SELECT a.attnum::int AS attnum, a.attname AS name, a.atttypid::int AS type_oid, a.atttypmod AS type_mod,
         CASE c.relreplident WHEN 'f' THEN true WHEN 'n' THEN false
           ELSE EXISTS (SELECT 1 FROM pg_index i
                         WHERE i.indrelid = c.oid AND (CASE c.relreplident WHEN 'd' THEN i.indisprimary ELSE i.indisreplident END)
                           AND a.attnum = ANY (i.indkey)) END AS is_key
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ${notGenerated(version)}
   ORDER BY a.attnum`;
}
