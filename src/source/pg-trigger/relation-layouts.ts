import type pg from 'pg';
import type { Column, Relation, ReplicaIdentity } from '../../change/change.js';
import { FerryError } from '../../errors.js';

/** The columns a table's composite text holds, in order (attnum order, dropped columns left out). */
interface CatalogTable {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  readonly identity: 'd' | 'n' | 'f' | 'i';
  readonly columns: readonly { readonly name: string; readonly typeOid: number; readonly typeMod: number }[];
  readonly key: readonly string[];
  /** The group table it belongs to: itself, or the partitioned root it is a partition of. */
  readonly root: number | null;
}

/** How a queued row of one table, with a given number of fields, becomes a change of a group table. */
export interface RowShape {
  readonly relation: Relation;
  /** For each column of `relation`, the index of its field in the queued row. */
  readonly pick: readonly number[];
  /** How many leading fields hold every key column: enough of an old row to tell whether its key changed. */
  readonly keyFields: number;
}

const catalogTableSql = `
  SELECT n.nspname AS schema, c.relname AS name, c.relreplident AS identity,
         COALESCE((SELECT json_agg(json_build_object('name', a.attname, 'typeOid', a.atttypid::bigint, 'typeMod', a.atttypmod) ORDER BY a.attnum)
                     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns,
         COALESCE((SELECT array_agg(a.attname::text ORDER BY k.ord)
                     FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                    WHERE i.indrelid = c.oid AND CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END), '{}') AS key,
         (WITH RECURSIVE up(rel, depth) AS (
            SELECT c.oid, 0 UNION ALL SELECT i.inhparent, up.depth + 1 FROM up JOIN pg_inherits i ON i.inhrelid = up.rel)
          SELECT rel::bigint FROM up WHERE rel = ANY ($2::oid[]) ORDER BY depth LIMIT 1) AS root
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = $1`;

/**
 * What the queued rows mean, read from the source catalog: the columns of
 * each captured table and of the group table it belongs to. A partition's
 * rows are changes of the partition itself, as WAL capture sends them, so the
 * applier can create a partition the target lacks; with `asRoot` (verify,
 * which compares whole tables) they are changes of its root, matched by
 * column name. Read when first
 * needed, again for every batch and when a row does not fit, so that a
 * column added while the group streams is picked up: rows queued before it
 * simply lack it.
 */
export class RelationLayouts {
  private readonly tables = new Map<number, CatalogTable>();
  /** By table oid, then by number of fields. */
  private readonly shapes = new Map<number, Map<number, RowShape>>();
  private readonly relations = new Map<string, Relation>();

  constructor(
    private readonly client: pg.Client, private readonly group: string, private readonly roots: readonly number[], private readonly asRoot = false,
  ) {}

  /** The shape of a row of table `oid` with `fields` values. */
  async shape(oid: number, fields: number): Promise<RowShape> {
    const cached = this.shapes.get(oid)?.get(fields);
    if (cached) return cached;
    let table = await this.table(oid);
    if (fields !== table.columns.length) {
      // A row that does not fit: the catalog may have changed since it was read.
      this.refresh();
      table = await this.table(oid);
    }
    if (fields > table.columns.length) {
      throw new FerryError('FERRY_TRIGGER_LAYOUT',
        `a queued row of ${table.schema}.${table.name} has ${fields} values but the table now has ${table.columns.length} columns: a column was dropped while its changes were queued`,
        'drop columns of a replicated table only after "ferry wait"; to recover, run "ferry drop" and "ferry init" again for this group',
        { context: { group: this.group, table: `${table.schema}.${table.name}` } });
    }
    const root = !this.asRoot || table.root === null || table.root === oid ? table : await this.table(table.root);
    // Columns are only ever added at the end: a shorter row predates the newest ones.
    const present = table.columns.slice(0, fields).map((c) => c.name);
    const rootColumns = root.columns.filter((c) => present.includes(c.name));
    const relation = this.relation(root, rootColumns);
    const pick = rootColumns.map((c) => present.indexOf(c.name));
    const keyFields = 1 + Math.max(-1, ...pick.filter((_, i) => relation.columns[i]?.isKey));
    const shape = { relation, pick, keyFields };
    let byFields = this.shapes.get(oid);
    if (!byFields) this.shapes.set(oid, byFields = new Map());
    byFields.set(fields, shape);
    return shape;
  }

  /** The table itself, for TRUNCATE: a partition's own rows are emptied, not its root's. */
  async own(oid: number): Promise<Relation> {
    const table = await this.table(oid);
    return this.relation(table, table.columns);
  }

  /**
   * Reads the catalog afresh on next use. Called for every batch: a column
   * dropped and another added since the last read leave the count unchanged,
   * and the old layout would put values in the wrong columns.
   */
  refresh(): void {
    this.tables.clear();
    this.shapes.clear();
  }

  private async table(oid: number): Promise<CatalogTable> {
    const known = this.tables.get(oid);
    if (known) return known;
    const row = (await this.client.query<Omit<CatalogTable, 'oid' | 'root'> & { root: string | null }>(catalogTableSql, [oid, this.roots])).rows[0];
    if (!row) {
      throw new FerryError('FERRY_TRIGGER_TABLE_GONE', `a queued change belongs to table ${oid}, which no longer exists on the source`,
        'a replicated table was dropped while its changes were queued: run "ferry drop" and "ferry init" again for this group',
        { context: { group: this.group } });
    }
    const table = { ...row, oid, root: row.root === null ? null : Number(row.root) };
    this.tables.set(oid, table);
    return table;
  }

  /** One Relation object per distinct description, so the consumer can tell when it changes. */
  private relation(table: CatalogTable, columns: CatalogTable['columns']): Relation {
    // Trigger capture has the whole old row: a table without a usable key is matched on all columns.
    const keyed = table.key.length > 0 && (table.identity === 'd' || table.identity === 'i');
    const replicaIdentity: ReplicaIdentity = !keyed ? 'full' : table.identity === 'i' ? 'index' : 'default';
    const cols: Column[] = columns.map((c) => ({ name: c.name, typeOid: c.typeOid, typeMod: c.typeMod, isKey: keyed ? table.key.includes(c.name) : true }));
    const key = JSON.stringify([table.oid, table.schema, table.name, replicaIdentity, cols]);
    let relation = this.relations.get(key);
    if (!relation) {
      relation = { relationId: table.oid, schema: table.schema, table: table.name, replicaIdentity, columns: cols };
      this.relations.set(key, relation);
    }
    return relation;
  }
}
