import { quoteIdent, quoteLiteral } from '../pg/connect.js';

/**
 * Every statement `ferry verify` runs, on the source and on the target alike.
 *
 * A row is hashed as md5 of `ROW(columns)::text` in UTF-8: every Ferry
 * connection prints values the same way (src/pg/connect.ts), so equal rows
 * have equal text on both servers, whatever their versions and encodings.
 * A row falls into a bucket by the md5 of its key's text (keyless tables: of
 * its own text), so a row lands in the same bucket on both sides, whatever
 * order or collation each side sorts keys in. `row-text.ts` computes the same
 * hash and bucket in JavaScript for rows decoded from the WAL or a trigger
 * queue. A trigger queue is read with trigger capture's own statements
 * (trigger-sql.ts), as `ferry run` reads a batch.
 */

/** What a scan reads: a relation (with `only`, not its partitions), optionally one page range of it. */
export interface ScanPiece {
  /** Qualified and quoted. */
  readonly relation: string;
  readonly only: boolean;
  readonly pages: { readonly from: number | null; readonly to: number | null } | null;
}

/** The columns compared (source order) and the key that identifies a row (none: compared as a multiset). */
export interface TableShape {
  readonly columns: readonly string[];
  readonly key: readonly string[] | null;
}

const col = (name: string) => `t.${quoteIdent(name)}`;
const rowText = (columns: readonly string[]) => `ROW(${columns.map(col).join(', ')})::text`;
const md5 = (text: string) => `md5(convert_to(${text}, 'UTF8'))`;
const hash64 = (md5Column: string) => `('x' || substr(${md5Column}, 1, 16))::bit(64)::bigint`;
const bucket = (md5Column: string, mask: number) => `(('x' || substr(${md5Column}, 1, 8))::bit(32)::int & ${Math.trunc(mask)})`;
const textArray = (columns: readonly string[]) => `ARRAY[${columns.map((c) => `${col(c)}::text`).join(', ')}]::text[]`;

function from(piece: ScanPiece, ...conds: string[]): string {
  if (piece.pages?.from != null) conds.push(`t.ctid >= '(${Math.trunc(piece.pages.from)},0)'::tid`);
  if (piece.pages?.to != null) conds.push(`t.ctid < '(${Math.trunc(piece.pages.to)},0)'::tid`);
  return `${piece.only ? 'ONLY ' : ''}${piece.relation} t${conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : ''}`;
}

/** Per row: `km` md5 of the key's text (keyless: none), `rm` md5 of the row's text, and any extra columns. */
function digests(shape: TableShape, piece: ScanPiece, extra: readonly string[] = []): string {
  const key = shape.key ? [`${md5(rowText(shape.key))} AS km`] : [];
  return `SELECT ${[...key, `${md5(rowText(shape.columns))} AS rm`, ...extra].join(', ')} FROM ${from(piece)}`;
}

/** Membership in a list of buckets as a semi-join, which stays fast for long lists on every version. */
function inBuckets(buckets: readonly number[]): string {
  return `b IN (SELECT unnest('{${buckets.map((b) => Math.trunc(b)).join(',')}}'::int[]))`;
}

export const verifySql = {
  beginSnapshot: `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`,
  rollback: `ROLLBACK`,
  importSnapshot: (name: string) => `SET TRANSACTION SNAPSHOT ${quoteLiteral(name)}`,
  exportSnapshot: `SELECT pg_export_snapshot() AS snapshot`,
  currentLsn: `SELECT pg_current_wal_lsn()::text AS lsn`,
  serverVersion: `SELECT current_setting('server_version_num')::int AS version`,

  /**
   * Replication command: a slot that lives as long as this connection, for
   * its snapshot (every transaction committed before its consistent point,
   * none after) and to decode what commits after that point.
   */
  createSlot: (name: string) => `CREATE_REPLICATION_SLOT ${quoteIdent(name)} TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT`,

  /**
   * On the connection that holds the slot: pgoutput messages of every
   * transaction committed after the slot's start and before `upto`, without
   * consuming them. Simple-protocol text only: it runs on a replication connection.
   */
  windowChanges: (slot: string, upto: string, publications: readonly string[]) =>
    `SELECT data FROM pg_logical_slot_peek_binary_changes(${quoteLiteral(slot)}, ${quoteLiteral(upto)}::pg_lsn, NULL,
       'proto_version', '1', 'publication_names', ${quoteLiteral(publications.map(quoteIdent).join(','))})`,

  /**
   * The partitions, at any depth, of the tables named in `relations`
   * (qualified, quoted), each with the index of its table: their changes
   * come under their own names. Simple-protocol text, as `windowChanges`.
   */
  partitionsOf: (relations: readonly string[]) =>
    `WITH RECURSIVE tree(oid, i) AS (
       SELECT to_regclass(x)::oid, i FROM unnest(ARRAY[${relations.map(quoteLiteral).join(', ') || 'NULL'}]::text[]) WITH ORDINALITY AS r(x, i)
        WHERE to_regclass(x) IS NOT NULL
       UNION ALL SELECT h.inhrelid, tree.i FROM tree JOIN pg_inherits h ON h.inhparent = tree.oid)
     SELECT n.nspname || '.' || c.relname AS label, (tree.i - 1)::int AS index, c.relkind <> 'p' AS leaf
       FROM tree JOIN pg_class c ON c.oid = tree.oid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relispartition`,

  /** Trigger capture: the source snapshot in the terms ticks are written in (`xmin:xmax:xip,…`). */
  txidSnapshot: `SELECT txid_current_snapshot()::text AS snapshot`,

  /**
   * Trigger capture: a group's queue (its partitioned table, and so each of
   * its queue tables) in ACCESS SHARE mode until the transaction ends.
   * Emptying a queue table takes TRUNCATE's ACCESS EXCLUSIVE lock with a
   * short lock timeout and, when it times out, tries again later: so no
   * queue table is emptied while verify may still have to read it.
   */
  lockQueue: (queue: string) => `LOCK TABLE ${queue} IN ACCESS SHARE MODE`,

  /**
   * Trigger capture: until the transaction ends, no group named in $1 can
   * acknowledge a tick (`UPDATE ferry.queues`) or take one, so no tick at or
   * after the acknowledged one is forgotten while verify reads the target's
   * positions and their ticks. Held for a few statements only.
   */
  holdAcknowledgements: `SELECT group_name FROM ferry.queues WHERE group_name = ANY ($1::text[]) ORDER BY group_name FOR SHARE`,

  /** The tables relation $1 is a partition of, at any depth. */
  partitionAncestors: `
    WITH RECURSIVE up(rel) AS (
      SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = $1
      UNION ALL SELECT i.inhparent FROM pg_inherits i JOIN up ON i.inhrelid = up.rel)
    SELECT n.nspname AS schema, c.relname AS name FROM up JOIN pg_class c ON c.oid = up.rel JOIN pg_namespace n ON n.oid = c.relnamespace`,

  /** Columns of the replica identity index of relation $1. */
  identityColumns: `
    SELECT COALESCE((SELECT array_agg(a.attname::text ORDER BY k.ord)
                       FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                      WHERE i.indrelid = $1 AND i.indisreplident), '{}'::text[]) AS columns`,

  /** Columns of the relation named $1 (qualified, quoted) and whether each is generated. */
  targetColumns: (version: number) => `
    SELECT a.attname AS name, ${version >= 120000 ? `a.attgenerated <> ''` : 'false'} AS generated
      FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attnum`,

  /** Kind and size of the relation named $1 and, for an estimate of its rows, of all its partitions. */
  relationSize: `
    WITH RECURSIVE tree(oid) AS (
      SELECT to_regclass($1)::oid
      UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.oid)
    SELECT (SELECT c.relkind::text FROM pg_class c WHERE c.oid = to_regclass($1)) AS kind,
           COALESCE(sum(pg_relation_size(c.oid)), 0)::float8 AS bytes,
           COALESCE(sum(GREATEST(c.reltuples, 0)), 0)::float8 AS tuples
      FROM tree JOIN pg_class c ON c.oid = tree.oid`,

  /** Leaf partitions of the partitioned table named $1 (PostgreSQL 12+). */
  leafPartitions: `
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS relation, c.relkind::text AS kind,
           pg_relation_size(c.oid)::float8 AS bytes
      FROM pg_partition_tree(to_regclass($1)) p JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE p.isleaf ORDER BY 1`,

  /** Per bucket of one piece: rows and the sum of their 64-bit hashes (order-independent). */
  bucketTotals(shape: TableShape, piece: ScanPiece, mask: number): string {
    return `SELECT ${bucket(shape.key ? 'km' : 'rm', mask)} AS b, count(*)::text AS n, sum(${hash64('rm')})::text AS s
              FROM (${digests(shape, piece)}) d GROUP BY 1`;
  },

  /**
   * Rows of the given buckets, ordered by bucket: key texts and hash per
   * row, or for a keyless table each distinct row with its count and text.
   */
  bucketRows(shape: TableShape, piece: ScanPiece, mask: number, buckets: readonly number[]): string {
    if (shape.key) {
      return `SELECT b, key, h FROM (
                SELECT ${bucket('km', mask)} AS b, key, ${hash64('rm')}::text AS h
                  FROM (${digests(shape, piece, [`${textArray(shape.key)} AS key`])}) d) x
               WHERE ${inBuckets(buckets)} ORDER BY b`;
    }
    return `SELECT b, h, count(*)::int AS n, min(r COLLATE "C") AS row FROM (
              SELECT ${bucket('rm', mask)} AS b, ${hash64('rm')}::text AS h, r
                FROM (SELECT r, ${md5('r')} AS rm FROM (SELECT ${rowText(shape.columns)} AS r FROM ${from(piece)}) z) d) x
             WHERE ${inBuckets(buckets)} GROUP BY b, h ORDER BY b`;
  },

  /**
   * Column texts of the rows with the given keys (a whole-table piece). With
   * `typedKeyLookup`, $1, $2, … hold one array of values per key column, cast
   * to the key columns' types so that the key's index finds them; otherwise
   * $1 holds the keys' row texts.
   */
  rowsByKey(shape: TableShape & { key: readonly string[] }, keyTypes: readonly string[], piece: ScanPiece): string {
    const match = typedKeyLookup(keyTypes)
      ? `(${shape.key.map(col).join(', ')}) IN (SELECT * FROM unnest(${keyTypes.map((type, i) => `$${i + 1}::${type}[]`).join(', ')}))`
      : `${rowText(shape.key)} = ANY ($1::text[])`;
    return `SELECT ${textArray(shape.key)} AS key, ${textArray(shape.columns)} AS values FROM ${from(piece, match)}`;
  },
};

/** Key values can be passed as arrays of the key's own types, unless a key column is an array itself. */
export function typedKeyLookup(keyTypes: readonly string[]): boolean {
  return keyTypes.every((type) => !type.endsWith(']'));
}

export const cursorSql = {
  declare: (name: string, query: string) => `DECLARE ${quoteIdent(name)} NO SCROLL CURSOR FOR ${query}`,
  fetch: (name: string, rows: number) => `FETCH ${Math.trunc(rows)} FROM ${quoteIdent(name)}`,
  close: (name: string) => `CLOSE ${quoteIdent(name)}`,
};
