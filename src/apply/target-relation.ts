import type pg from 'pg';
import type { Column, Relation } from '../change/change.js';
import { FerryError } from '../errors.js';
import { binaryTypeColumns, rowFindingIndexesSql } from '../catalog/catalog-sql.js';
import { binaryIncompatibility, columnTypeOf, type BinaryTypeRow } from '../pg/binary-format.js';
import { qualifiedName } from '../pg/connect.js';

/**
 * A source relation bound to its target table: which source columns are
 * written (present on the target and not generated there) and which identify
 * a row. Columns are matched by name, so column order and dropped columns on
 * either side do not matter.
 */
export interface TargetRelation {
  readonly source: Relation;
  readonly qualifiedName: string;
  readonly label: string;
  /** Indexes into the source tuple of the columns written on the target. */
  readonly written: readonly number[];
  /** Indexes of the identity columns; every column for REPLICA IDENTITY FULL. */
  readonly identity: readonly number[];
  readonly fullIdentity: boolean;
  readonly columnNames: readonly string[];
  /** Written columns that are GENERATED ALWAYS AS IDENTITY on the target: inserts need OVERRIDING SYSTEM VALUE. */
  readonly identityAlways: ReadonlySet<number>;
  /** Target type of each source column (by source index), as SQL; '' for columns not written. */
  readonly types: readonly string[];
  /** Columns whose target type is an array: passed in bulk as text and cast one by one. */
  readonly arrayColumns: ReadonlySet<number>;
  /** Target type OID of each source column (by source index). */
  readonly typeOids: readonly number[];
  /** Set when a source partition's changes go to this root table: the condition that selects the partition's rows. */
  readonly partitionConstraint?: string;
  /** REPLICA IDENTITY FULL: a target index that finds rows by equality on its columns, if there is one. */
  readonly rowIndex?: RowIndex;
}

/** A target index usable to find a row: its name and its key columns (by source index). */
export interface RowIndex {
  readonly name: string;
  readonly columns: readonly number[];
}

/** A row of `rowFindingIndexesSql`. */
interface IndexRow {
  readonly name: string;
  readonly columns: string[];
}

interface TargetColumn extends BinaryTypeRow {
  readonly attname: string;
  readonly generated: boolean;
  readonly identity_always: boolean;
  readonly type: string;
  readonly is_array: boolean;
}

export async function bindTargetRelation(client: pg.Client, relation: Relation, group: string): Promise<TargetRelation> {
  const label = `${relation.schema}.${relation.table}`;
  const version = await serverVersion(client);
  const fullIdentity = relation.replicaIdentity === 'full';
  // The indexes are read alongside the columns: one round trip, not two.
  const [res, indexes] = await Promise.all([
    client.query<TargetColumn>(
      `SELECT a.attname, ${version >= 120000 ? `a.attgenerated <> ''` : 'false'} AS generated, a.attidentity = 'a' AS identity_always,
              format_type(a.atttypid, a.atttypmod) AS type, t.typcategory = 'A' AS is_array,
              ${binaryTypeColumns}
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
      [qualifiedName(relation.schema, relation.table)],
    ),
    fullIdentity ? client.query<IndexRow>(rowFindingIndexesSql(version), [qualifiedName(relation.schema, relation.table)]) : undefined,
  ]);
  if (res.rows.length === 0) {
    throw new FerryError('FERRY_TARGET_TABLE_MISSING', `table ${label} does not exist on the target`,
      'create it on the target (ferry init creates missing tables) or remove it from the group',
      { context: { group, table: label } });
  }
  const targetColumns = new Map(res.rows.map((c) => [c.attname, c]));
  const written: number[] = [];
  const identityAlways = new Set<number>();
  const types: string[] = [];
  const arrayColumns = new Set<number>();
  const typeOids: number[] = [];
  relation.columns.forEach((column, index) => {
    const target = targetColumns.get(column.name);
    if (!target) {
      throw new FerryError('FERRY_TARGET_COLUMN_MISSING', `column ${column.name} of ${label} does not exist on the target`,
        `add it on the target: ALTER TABLE ${qualifiedName(relation.schema, relation.table)} ADD COLUMN ...`,
        { context: { group, table: label } });
    }
    if (!target.generated) written.push(index);
    if (relation.binary && !target.generated) checkBinary(relation, column, target, group);
    types[index] = target.generated ? '' : target.type;
    typeOids[index] = Number(target.type_oid);
    if (target.is_array) arrayColumns.add(index);
    if (target.identity_always) identityAlways.add(index);
  });
  const identity = fullIdentity
    ? written
    : relation.columns.flatMap((column, index) => (column.isKey ? [index] : []));
  const rowIndex = indexes ? findRowIndex(indexes.rows, relation, written) : undefined;
  return {
    source: relation,
    qualifiedName: qualifiedName(relation.schema, relation.table),
    label,
    written,
    identity,
    fullIdentity,
    columnNames: relation.columns.map((c) => c.name),
    identityAlways,
    types,
    arrayColumns,
    typeOids,
    ...(rowIndex ? { rowIndex } : {}),
  };
}

/**
 * Without a key every update and delete has to find its row by value; an
 * index on the target turns that from a scan of the table into a lookup.
 * Only an index on columns Ferry writes will do: the old row carries their
 * values.
 */
function findRowIndex(indexes: readonly IndexRow[], relation: Relation, written: readonly number[]): RowIndex | undefined {
  const byName = new Map(written.map((i) => [relation.columns[i]?.name, i]));
  for (const index of indexes) {
    const columns = index.columns.map((name) => byName.get(name));
    if (columns.length > 0 && columns.every((i) => i !== undefined)) return { name: index.name, columns: columns as number[] };
  }
  return undefined;
}

/**
 * A binary stream was chosen for types that allowed it when it started; a
 * column added or changed since then may not. Transient: the group
 * reconnects and reads this group's changes as text.
 */
function checkBinary(relation: Relation, column: Column, target: TargetColumn, group: string): void {
  const onTarget = columnTypeOf(target);
  // The source's type as the stream describes it; its other properties are those of the same built-in type on the target.
  const why = binaryIncompatibility({ ...onTarget, typeOid: column.typeOid }, onTarget);
  if (why === undefined) return;
  const label = `${relation.schema}.${relation.table}`;
  throw new FerryError('FERRY_BINARY_INCOMPATIBLE', `column ${column.name} of ${label} cannot be applied from binary values: ${why}`,
    'ferry reconnects and reads this group as text', { context: { group, table: label } });
}

const versionByClient = new WeakMap<pg.Client, number>();

/** server_version_num, read once per connection: catalog columns differ between versions. */
async function serverVersion(client: pg.Client): Promise<number> {
  let version = versionByClient.get(client);
  if (version === undefined) {
    const res = await client.query<{ n: string }>("SELECT current_setting('server_version_num') AS n");
    version = Number(res.rows[0]?.n ?? 0);
    versionByClient.set(client, version);
  }
  return version;
}
