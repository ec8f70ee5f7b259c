import { FerryError } from '../../errors.js';
import { GEOMETRY_TYPES, type MySqlColumn } from './mysql-catalog.js';

/**
 * The documented MySQL → PostgreSQL type map (docs/mysql.md has the table).
 * A pure function of the catalog column and the options: the same source
 * column always becomes the same target column. Defaults lose nothing and
 * accept nothing PostgreSQL would later reject; each option trades that for
 * what an application may prefer, and is named in the errors it avoids.
 */
export interface TypeMapOptions {
  /** `tinyint(1)` as boolean (values other than 0 and 1 are then an error); default false: smallint. */
  readonly tinyint1_as_boolean: boolean;
  /** Zero dates (`0000-00-00`, `2024-00-10`): `error` (default) or `null` (the target column is then nullable). */
  readonly zero_dates: 'error' | 'null';
  /** NUL characters in text: `error` (default; PostgreSQL text cannot hold them) or `strip`. */
  readonly nul_bytes: 'error' | 'strip';
  /** Text that is not valid in its charset: `error` (default) or `replace` with U+FFFD. */
  readonly invalid_text: 'error' | 'replace';
  /** ENUM's index 0 (the '' MySQL stores for an invalid value outside strict mode): `error` (default) or `null`. */
  readonly enum_invalid: 'error' | 'null';
}

export const DEFAULT_TYPE_MAP_OPTIONS: TypeMapOptions = Object.freeze({
  tinyint1_as_boolean: false,
  zero_dates: 'error',
  nul_bytes: 'error',
  invalid_text: 'error',
  enum_invalid: 'error',
});

/** How the values of a column are turned into PostgreSQL input (value-map.ts switches on it). */
export type ValueKind =
  | 'integer' | 'boolean' | 'numeric' | 'float' | 'date' | 'datetime' | 'timestamp' | 'time' | 'year'
  | 'text' | 'bytes' | 'enum' | 'set' | 'json' | 'bit' | 'uuid' | 'inet6' | 'inet4';

export interface PgColumn {
  readonly name: string;
  /** PostgreSQL type as written in CREATE TABLE. */
  readonly type: string;
  readonly notNull: boolean;
  /** A CHECK expression keeping the MySQL type's domain (ENUM labels, SET members), or null. */
  readonly check: string | null;
  readonly kind: ValueKind;
  /**
   * A generated column on the source. On the target it is a plain column:
   * the copy and the stream write the source's computed values into it, as
   * they do any other column's.
   */
  readonly generated: boolean;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Maps one column; a type the map does not know is an error naming table and column. */
export function mapColumn(column: MySqlColumn, options: TypeMapOptions = DEFAULT_TYPE_MAP_OPTIONS, table = '?'): PgColumn {
  const [type, kind] = pgType(column, options, table);
  const zeroable = (kind === 'date' || kind === 'datetime' || kind === 'timestamp') && options.zero_dates === 'null';
  const enumNull = kind === 'enum' && options.enum_invalid === 'null';
  const col = quoteIdent(column.name);
  let check: string | null = null;
  if (kind === 'enum') check = `${col} IN (${column.labels.map(quoteLiteral).join(', ')})`;
  if (kind === 'set') check = `${col} <@ ARRAY[${column.labels.map(quoteLiteral).join(', ')}]::text[]`;
  return {
    name: column.name,
    type,
    // A value the options turn into NULL must fit in the column.
    notNull: !column.nullable && !zeroable && !enumNull,
    check,
    kind,
    generated: column.generated !== null,
  };
}

function pgType(c: MySqlColumn, o: TypeMapOptions, table: string): [string, ValueKind] {
  const fsp = c.fsp ?? 0;
  if (c.json) return ['jsonb', 'json'];
  if (GEOMETRY_TYPES.has(c.dataType)) return ['bytea', 'bytes'];
  switch (c.dataType) {
    case 'tinyint':
      if (o.tinyint1_as_boolean && !c.unsigned && /^tinyint\(1\)/.test(c.columnType)) return ['boolean', 'boolean'];
      return ['smallint', 'integer'];
    case 'smallint': return [c.unsigned ? 'integer' : 'smallint', 'integer'];
    case 'mediumint': return ['integer', 'integer'];
    case 'int':
    case 'integer': return [c.unsigned ? 'bigint' : 'integer', 'integer'];
    case 'bigint': return [c.unsigned ? 'numeric(20,0)' : 'bigint', 'integer'];
    case 'decimal':
    case 'numeric': return [`numeric(${c.precision ?? 10},${c.scale ?? 0})`, 'numeric'];
    case 'float': return ['real', 'float'];
    case 'double':
    case 'real': return ['double precision', 'float'];
    case 'bit': return [`bit varying(${c.precision ?? 1})`, 'bit'];
    case 'date': return ['date', 'date'];
    case 'datetime': return [`timestamp(${fsp}) without time zone`, 'datetime'];
    case 'timestamp': return [`timestamp(${fsp}) with time zone`, 'timestamp'];
    case 'time': return [`interval(${fsp})`, 'time'];
    case 'year': return ['smallint', 'year'];
    // CHAR(0) holds only '' or NULL; PostgreSQL's varchar needs a length of at least 1.
    case 'char':
    case 'varchar': return [`varchar(${Math.max(1, c.maxLength ?? 1)})`, 'text'];
    case 'tinytext':
    case 'text':
    case 'mediumtext':
    case 'longtext': return ['text', 'text'];
    case 'binary':
    case 'varbinary':
    case 'tinyblob':
    case 'blob':
    case 'mediumblob':
    case 'longblob': return ['bytea', 'bytes'];
    case 'enum': return ['text', 'enum'];
    case 'set': return ['text[]', 'set'];
    case 'uuid': return ['uuid', 'uuid'];
    case 'inet6': return ['inet', 'inet6'];
    case 'inet4': return ['inet', 'inet4'];
    default:
      throw new FerryError('FERRY_MYSQL_TYPE_UNMAPPED',
        `column ${c.name} of ${table} has MySQL type ${c.columnType}, which the type map does not know`,
        `leave ${table} out of the group, or change the column to a type docs/mysql.md lists`, { context: { table } });
  }
}

/**
 * The PostgreSQL schema a MySQL database's tables go to: the database's own
 * name unless `schemas` maps it to another.
 */
export function targetSchema(database: string, schemas: Readonly<Record<string, string>> = {}): string {
  return schemas[database] ?? database;
}
