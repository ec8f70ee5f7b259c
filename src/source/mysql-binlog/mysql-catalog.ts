import type { Connection } from 'mysql2/promise';
import { FerryError } from '../../errors.js';

/**
 * A MySQL/MariaDB table as information_schema describes it (MySQL 8,
 * MariaDB 10.6+): what the type map needs to choose PostgreSQL types and
 * what the value map needs to read values (charsets, enum labels, widths).
 * Names are as the server spells them; nothing here is guessed.
 */
export interface MySqlTable {
  /** The MySQL database (schema) the table lives in. */
  readonly database: string;
  readonly name: string;
  readonly columns: readonly MySqlColumn[];
  /** Column names of the primary key, in key order; empty when there is none. */
  readonly primaryKey: readonly string[];
  /** Unique keys whose columns are all NOT NULL (each can identify rows), in key order, named. */
  readonly uniqueKeys: readonly MySqlIndex[];
  /** Every other index (unique keys over nullable columns included). */
  readonly indexes: readonly MySqlIndex[];
}

/**
 * The columns a table's rows are identified by, as the stream identifies
 * them: the primary key, else the first unique key over NOT NULL columns;
 * empty when there is neither (then every column is the identity).
 */
export function rowKeyColumns(table: MySqlTable): readonly string[] {
  return table.primaryKey.length > 0 ? table.primaryKey : table.uniqueKeys[0]?.columns ?? [];
}

/** The spatial types (DATA_TYPE): stored, copied and streamed alike, as MySQL's internal geometry bytes. */
export const GEOMETRY_TYPES: ReadonlySet<string> = new Set([
  'geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection', 'geomcollection',
]);

export interface MySqlIndex {
  readonly name: string;
  readonly unique: boolean;
  readonly columns: readonly string[];
}

export interface MySqlColumn {
  readonly name: string;
  /** 1-based, as ORDINAL_POSITION: row images list columns in this order. */
  readonly position: number;
  /** DATA_TYPE, lower case: `int`, `varchar`, `enum`, `uuid` … */
  readonly dataType: string;
  /** COLUMN_TYPE, lower case: `int(10) unsigned`, `tinyint(1)`, `enum('a','b')` (labels keep their case in `labels`). */
  readonly columnType: string;
  readonly nullable: boolean;
  /** COLUMN_DEFAULT as the server shows it (MariaDB quotes string literals, MySQL does not), else null. */
  readonly default: string | null;
  readonly charset: string | null;
  readonly collation: string | null;
  /** CHARACTER_MAXIMUM_LENGTH: characters for text, bytes for binary. */
  readonly maxLength: number | null;
  readonly precision: number | null;
  readonly scale: number | null;
  /** DATETIME_PRECISION: fractional digits of TIME/DATETIME/TIMESTAMP. */
  readonly fsp: number | null;
  readonly unsigned: boolean;
  /** Expression of a generated column (GENERATION_EXPRESSION: '' on MySQL, NULL on MariaDB when not generated), else null. */
  readonly generated: string | null;
  /** A MariaDB JSON column (LONGTEXT with a `json_valid` check) counts as JSON, as MySQL's JSON type does. */
  readonly json: boolean;
  /** ENUM or SET labels in declaration order; empty for other types. */
  readonly labels: readonly string[];
}

interface ColumnRow {
  name: string; position: number; dataType: string; columnType: string; nullable: string; columnDefault: string | null;
  charset: string | null; collation: string | null; maxLength: string | number | null; precision: string | number | null;
  scale: string | number | null; fsp: string | number | null; generation: string | null;
}

interface KeyRow { name: string; nonUnique: number | string; column: string; seq: number | string }

const COLUMNS_SQL = `SELECT COLUMN_NAME AS name, ORDINAL_POSITION AS position, LOWER(DATA_TYPE) AS dataType,
    COLUMN_TYPE AS columnType, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS columnDefault,
    CHARACTER_SET_NAME AS charset, COLLATION_NAME AS collation, CHARACTER_MAXIMUM_LENGTH AS maxLength,
    NUMERIC_PRECISION AS \`precision\`, NUMERIC_SCALE AS scale, DATETIME_PRECISION AS fsp,
    GENERATION_EXPRESSION AS generation
  FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`;

const KEYS_SQL = `SELECT INDEX_NAME AS name, NON_UNIQUE AS nonUnique, COLUMN_NAME AS \`column\`, SEQ_IN_INDEX AS seq
  FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`;

/** MariaDB only: its JSON is LONGTEXT plus this check; MySQL has no CHECK_CONSTRAINTS.TABLE_NAME before 8.0.16. */
const JSON_CHECKS_SQL = `SELECT CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS
  WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND CHECK_CLAUSE LIKE 'json_valid(%'`;

/** Reads one table's definition; a table that does not exist is an error naming it. */
export async function readMySqlTable(connection: Connection, database: string, table: string): Promise<MySqlTable> {
  const [columnRows] = await connection.query(COLUMNS_SQL, [database, table]);
  const rows = columnRows as ColumnRow[];
  if (rows.length === 0) {
    throw new FerryError('FERRY_MYSQL_NO_TABLE', `table ${database}.${table} does not exist on the MySQL source or the source user cannot see it`,
      `create it, or grant SELECT on ${database}.${table} to the source user`);
  }
  const jsonColumns = await jsonCheckedColumns(connection, database, table);
  const columns = rows.map((r): MySqlColumn => ({
    name: r.name,
    position: Number(r.position),
    dataType: r.dataType,
    columnType: r.columnType.toLowerCase(),
    nullable: r.nullable === 'YES',
    default: r.columnDefault,
    charset: r.charset,
    collation: r.collation,
    maxLength: numberOrNull(r.maxLength),
    precision: numberOrNull(r.precision),
    scale: numberOrNull(r.scale),
    fsp: numberOrNull(r.fsp),
    unsigned: / unsigned\b/i.test(r.columnType),
    generated: r.generation ? r.generation : null,
    json: r.dataType === 'json' || jsonColumns.has(r.name),
    labels: r.dataType === 'enum' || r.dataType === 'set' ? parseLabels(r.columnType) : [],
  }));

  const [keyRows] = await connection.query(KEYS_SQL, [database, table]);
  const byIndex = new Map<string, { unique: boolean; columns: string[] }>();
  for (const k of keyRows as KeyRow[]) {
    const index = byIndex.get(k.name) ?? { unique: Number(k.nonUnique) === 0, columns: [] };
    index.columns.push(k.column);
    byIndex.set(k.name, index);
  }
  const notNull = new Set(columns.filter((c) => !c.nullable).map((c) => c.name));
  const primaryKey = byIndex.get('PRIMARY')?.columns ?? [];
  const uniqueKeys: MySqlIndex[] = [];
  const indexes: MySqlIndex[] = [];
  for (const [name, index] of byIndex) {
    if (name === 'PRIMARY') continue;
    const entry = { name, unique: index.unique, columns: index.columns };
    if (index.unique && index.columns.every((c) => notNull.has(c))) uniqueKeys.push(entry);
    else indexes.push(entry);
  }
  return { database, name: table, columns, primaryKey, uniqueKeys, indexes };
}

async function jsonCheckedColumns(connection: Connection, database: string, table: string): Promise<Set<string>> {
  try {
    const [rows] = await connection.query(JSON_CHECKS_SQL, [database, table]);
    const names = new Set<string>();
    for (const { clause } of rows as { clause: string }[]) {
      const m = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(clause.trim());
      if (m) names.add((m[1] as string).replace(/``/g, '`'));
    }
    return names;
  } catch (err) {
    // MySQL's CHECK_CONSTRAINTS has no TABLE_NAME column; its JSON is a type of its own.
    if ((err as { errno?: number }).errno === 1054) return new Set();
    throw err;
  }
}

function numberOrNull(v: string | number | null): number | null {
  return v === null ? null : Number(v);
}

/** Labels of `enum('a','b''c')` / `set(...)` as COLUMN_TYPE writes them: single-quoted, `''` for a quote. */
export function parseLabels(columnType: string): string[] {
  const open = columnType.indexOf('(');
  const labels: string[] = [];
  const re = /'((?:[^'\\]|''|\\.)*)'/g;
  re.lastIndex = open;
  for (let m = re.exec(columnType); m; m = re.exec(columnType)) {
    labels.push((m[1] as string).replace(/''/g, "'").replace(/\\(.)/g, '$1'));
  }
  return labels;
}
