import type pg from 'pg';
import type { Column, Relation, ReplicaIdentity } from '../../change/change.js';
import { FerryError } from '../../errors.js';
import { anchorOf, catalogLayout, inferLayout, textReadsAs, type CatalogAttribute, type Layout, type RowField } from './layout-inference.js';

/** A table as its catalog has it now. */
interface CatalogTable {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  readonly identity: 'd' | 'n' | 'f' | 'i';
  /** Every column, dropped ones included, in attnum order. */
  readonly attributes: readonly CatalogAttribute[];
  readonly key: readonly string[];
  /** The group table it belongs to: itself, or the partitioned root it is a partition of. */
  readonly root: number | null;
}

/** A column the target last recorded for a table (ferry.source_columns). */
export interface KnownColumn {
  readonly attnum: number | null;
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
}

/** How a queued row of one table, with a given number of fields, becomes a change of a group table. */
export interface RowShape {
  readonly relation: Relation;
  /** For each column of `relation`, the index of its field in the queued row. */
  readonly pick: readonly number[];
  /** How many leading fields hold every key column: enough of an old row to tell whether its key changed. */
  readonly keyFields: number;
}

/** A queued row whose columns cannot be told (see inferLayout); `relation` is the table as its catalog has it now. */
export interface Unreadable {
  readonly unreadable: string;
  readonly relation: Relation;
}

const catalogTableSql = (version: number) => `
  SELECT n.nspname AS schema, c.relname AS name, c.relreplident AS identity,
         COALESCE((SELECT json_agg(json_build_object('attnum', a.attnum, 'name', a.attname, 'typeOid', a.atttypid::bigint, 'typeMod', a.atttypmod,
                                                     'dropped', a.attisdropped, 'generated', ${version >= 120000 ? `a.attgenerated <> ''` : 'false'}) ORDER BY a.attnum)
                     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0), '[]') AS attributes,
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
 * What the queued rows mean. Each table's rows go through its layouts in
 * stream order, starting from the layout the target last recorded (`known`,
 * read from the target when the stream starts); each row's layout is
 * inferred from the one before and the catalog of now (see
 * layout-inference.ts), and a row whose layout cannot be told is
 * Unreadable. A row is described with the column names of now (a renamed
 * column is renamed at the table's next row), a column dropped since under
 * its old name, and each column's attnum, so the applier follows drops,
 * additions, renames and type changes at their place in the stream.
 *
 * A partition's rows are changes of the partition itself, as WAL capture
 * sends them, so the applier can create a partition the target lacks; with
 * `asRoot` (verify, which compares whole tables) they are changes of its
 * root, matched by column name. The catalog is read again for every batch.
 */
export class RelationLayouts {
  private readonly tables = new Map<number, CatalogTable>();
  /** The layout of each table's last row read, or the one the target recorded: later rows have it or a newer one. */
  private readonly anchors = new Map<number, Layout>();
  /** Tables whose anchor a captured definition set: their next rows have exactly its columns. */
  private readonly pinned = new Set<number>();
  /** By table oid, then by number of fields: valid for the table's anchor and catalog of now. */
  private readonly shapes = new Map<number, Map<number, RowShape | Unreadable>>();
  private readonly relations = new Map<string, Relation>();
  private version: number | undefined;

  constructor(
    private readonly client: pg.Client, private readonly group: string, private readonly roots: readonly number[],
    private readonly known: ReadonlyMap<number, readonly KnownColumn[]> = new Map(), private readonly asRoot = false,
    /** DDL capture records every change of the tables' layouts in the queue: the known layout holds until the first such message. */
    private readonly announced = false,
  ) {}

  /** The shape of the next row of table `oid`, which has `fields` values; rows of a table are asked for in stream order. */
  async shape(oid: number, fields: number): Promise<RowShape | Unreadable> {
    const cached = this.shapes.get(oid)?.get(fields);
    if (cached) return cached;
    const table = await this.table(oid);
    const anchor = this.anchor(table);
    if (this.pinned.has(oid)) {
      if (anchor.length === fields) {
        const shape = await this.shapeOf(table, anchor);
        this.shapes.set(oid, new Map([[fields, shape]]));
        return shape;
      }
      // Changed since by DDL no message recorded (capture was off meanwhile): told as usual.
      this.pinned.delete(oid);
    }
    const decision = inferLayout(anchor, table.attributes, fields, textReadsAs);
    let shape: RowShape | Unreadable;
    if ('unreadable' in decision) {
      shape = { unreadable: decision.unreadable, relation: this.relation(table, catalogLayout(table.attributes).filter(written)) };
    } else {
      shape = await this.shapeOf(table, decision.layout);
      if (!sameLayout(decision.layout, this.anchor(table))) {
        // Older layouts are done with: what was decided from them no longer holds.
        this.anchors.set(oid, decision.layout);
        this.shapes.delete(oid);
        return shape;
      }
    }
    let byFields = this.shapes.get(oid);
    if (!byFields) this.shapes.set(oid, byFields = new Map());
    byFields.set(fields, shape);
    return shape;
  }

  /**
   * A definition of the table recorded in the queue at this place (DDL
   * capture's message, written in the DDL's own transaction): the rows after
   * it have exactly its columns, whatever their count would allow.
   */
  async pin(oid: number, columns: readonly KnownColumn[]): Promise<void> {
    const table = await this.table(oid).catch(() => undefined);
    if (!table) return;
    this.anchors.set(oid, anchorOf(columns, table.attributes));
    this.pinned.add(oid);
    this.shapes.delete(oid);
  }

  /** The table itself, for TRUNCATE, in the layout of its last row: a partition's own rows are emptied, not its root's. */
  async own(oid: number): Promise<Relation> {
    const table = await this.table(oid);
    return this.relation(table, this.anchor(table).filter(written));
  }

  /** Reads the catalog afresh on next use (for every batch: the table may have changed since). */
  refresh(): void {
    this.tables.clear();
    this.shapes.clear();
  }

  private anchor(table: CatalogTable): Layout {
    let anchor = this.anchors.get(table.oid);
    if (!anchor) {
      this.anchors.set(table.oid, anchor = anchorOf(this.known.get(table.oid), table.attributes));
      if (this.announced && this.known.has(table.oid)) this.pinned.add(table.oid);
    }
    return anchor;
  }

  private async shapeOf(table: CatalogTable, layout: Layout): Promise<RowShape> {
    const present = layout.map((f) => (written(f) ? f.name : undefined));
    let relation: Relation;
    let pick: number[];
    if (!this.asRoot || table.root === null || table.root === table.oid) {
      const columns = layout.filter(written);
      relation = this.relation(table, columns);
      pick = columns.map((c) => layout.indexOf(c));
    } else {
      const root = await this.table(table.root);
      const columns = catalogLayout(root.attributes).filter((c) => written(c) && present.includes(c.name));
      relation = this.relation(root, columns);
      pick = columns.map((c) => present.indexOf(c.name));
    }
    const keyFields = 1 + Math.max(-1, ...pick.filter((_, i) => relation.columns[i]?.isKey));
    return { relation, pick, keyFields };
  }

  private async table(oid: number): Promise<CatalogTable> {
    const known = this.tables.get(oid);
    if (known) return known;
    this.version ??= Number((await this.client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]?.v ?? 0);
    const row = (await this.client.query<Omit<CatalogTable, 'oid' | 'root'> & { root: string | null }>(catalogTableSql(this.version), [oid, this.roots])).rows[0];
    if (!row) {
      throw new FerryError('FERRY_TRIGGER_TABLE_GONE', `a queued change belongs to table ${oid}, which no longer exists on the source`,
        'a replicated table was dropped while its changes were queued: run "ferry drop" and "ferry init" again for this group',
        { context: { group: this.group } });
    }
    const attributes = row.attributes.map((a) => ({ ...a, typeOid: Number(a.typeOid) }));
    const table = { ...row, attributes, oid, root: row.root === null ? null : Number(row.root) };
    this.tables.set(oid, table);
    return table;
  }

  /** One Relation object per distinct description, so the consumer can tell when it changes. */
  private relation(table: CatalogTable, columns: readonly RowField[]): Relation {
    // Trigger capture has the whole old row: a table without a usable key is matched on all columns.
    const keyed = table.key.length > 0 && (table.identity === 'd' || table.identity === 'i');
    const replicaIdentity: ReplicaIdentity = !keyed ? 'full' : table.identity === 'i' ? 'index' : 'default';
    const cols: Column[] = columns.map((c) => ({ name: c.name, typeOid: c.typeOid, typeMod: c.typeMod, isKey: keyed ? table.key.includes(c.name) : true, attnum: c.attnum }));
    const key = JSON.stringify([table.oid, table.schema, table.name, replicaIdentity, cols]);
    let relation = this.relations.get(key);
    if (!relation) {
      relation = { relationId: table.oid, schema: table.schema, table: table.name, replicaIdentity, columns: cols };
      this.relations.set(key, relation);
    }
    return relation;
  }
}

/** A field the target gets: not computed there, not a column added and dropped again since (whose value goes with it). */
function written(field: RowField): boolean {
  return !field.generated && field.typeOid !== 0;
}

function sameLayout(a: Layout, b: Layout): boolean {
  return a.length === b.length && a.every((f, i) => {
    const g = b[i] as RowField;
    return f.attnum === g.attnum && f.name === g.name && f.typeOid === g.typeOid && f.typeMod === g.typeMod;
  });
}
