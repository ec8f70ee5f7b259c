import type { ByteReader } from './byte-reader.js';
import { ColumnType, isCharacter, isEnumOrSet, isNumeric } from './column-types.js';

/**
 * TABLE_MAP: the table a following ROWS event's table id stands for, with
 * each column's type and the metadata its values need to be read (lengths,
 * precision, fractional digits). Row images carry no names and no charsets:
 * those come from the optional metadata at the end (MySQL 8.0.1+ and
 * MariaDB 10.5+, `binlog_row_metadata` MINIMAL or FULL), or, without it,
 * from the source's catalog (a later step), which is why each gap is left
 * `undefined` here rather than guessed.
 */
export interface BinlogColumn {
  readonly index: number;
  /** The type code the table map gives. */
  readonly type: number;
  /** ENUM or SET for STRING columns that are such; otherwise `type`. */
  readonly realType: number;
  readonly nullable: boolean;
  /** STRING/VARCHAR: maximum length in bytes. */
  readonly maxLength?: number;
  /** BLOB/TEXT, JSON, GEOMETRY: bytes of the length prefix; FLOAT/DOUBLE: bytes; ENUM/SET: bytes of the value. */
  readonly packLength?: number;
  readonly precision?: number;
  readonly scale?: number;
  /** TIME2/DATETIME2/TIMESTAMP2: fractional digits. */
  readonly fsp?: number;
  /** BIT: width in bits. */
  readonly bits?: number;
  // Optional metadata, where the server sent it.
  readonly name?: string;
  readonly unsigned?: boolean;
  readonly collation?: number;
  readonly enumValues?: readonly string[];
  readonly setValues?: readonly string[];
  readonly geometryType?: number;
  readonly visible?: boolean;
}

export interface TableMap {
  readonly tableId: number;
  readonly schema: string;
  readonly table: string;
  readonly flags: number;
  readonly columns: readonly BinlogColumn[];
  /** Primary key columns (with a prefix length for prefix indexes, else 0); undefined when not sent. */
  readonly primaryKey?: readonly { readonly column: number; readonly prefix: number }[];
}

const OptionalMetadata = {
  SIGNEDNESS: 1,
  DEFAULT_CHARSET: 2,
  COLUMN_CHARSET: 3,
  COLUMN_NAME: 4,
  SET_STR_VALUE: 5,
  ENUM_STR_VALUE: 6,
  GEOMETRY_TYPE: 7,
  SIMPLE_PRIMARY_KEY: 8,
  PRIMARY_KEY_WITH_PREFIX: 9,
  ENUM_AND_SET_DEFAULT_CHARSET: 10,
  ENUM_AND_SET_COLUMN_CHARSET: 11,
  COLUMN_VISIBILITY: 12,
} as const;

/** Every type code a table map may hold that this decoder reads (MySQL's old DECIMAL, from before 5.0, is not one). */
const KNOWN_TYPES = new Set<number>(Object.values(ColumnType).filter((t) => t !== ColumnType.DECIMAL && t !== ColumnType.TYPED_ARRAY));

/** MariaDB's `COMPRESSED` columns have type codes of their own. */
const MARIADB_COMPRESSED = new Map<number, string>([[140, 'BLOB/TEXT COMPRESSED'], [141, 'VARCHAR COMPRESSED']]);

/** A table with a column type the decoder cannot read: every row image of it would be misread. */
export class UnsupportedTable extends Error {
  readonly fix: string;
  constructor(readonly schema: string, readonly table: string, readonly column: number, readonly type: number) {
    const what = MARIADB_COMPRESSED.get(type);
    super(`column ${column + 1} of ${schema}.${table} has ${what ? `MariaDB's ${what} type` : `column type code ${type}`}, which this decoder does not read`);
    this.fix = what ? `ALTER TABLE ${schema}.${table} to remove the column's COMPRESSED attribute` : 'leave the table out of the group';
  }
}

type MutableColumn = { -readonly [K in keyof BinlogColumn]: BinlogColumn[K] };

/**
 * `tableIdBytes` is 6, or 4 for servers whose FORMAT_DESCRIPTION gives TABLE_MAP a 6-byte post-header.
 * `mariadb`: the server is MariaDB, whose SIGNEDNESS bitmap also has a bit for YEAR columns (its YEAR is a TINYINT underneath).
 */
export function readTableMap(r: ByteReader, tableIdBytes: number, mariadb = false): TableMap {
  const tableId = r.uint(tableIdBytes);
  const flags = r.u16();
  const schema = r.utf8(r.u8());
  r.skip(1);
  const table = r.utf8(r.u8());
  r.skip(1);
  const count = r.packed();
  const types = r.bytes(count);
  const metaLength = r.packed();
  const metaEnd = r.pos + metaLength;
  const columns: MutableColumn[] = [];
  for (let i = 0; i < count; i++) {
    const type = types[i] as number;
    if (!KNOWN_TYPES.has(type)) throw new UnsupportedTable(schema, table, i, type);
    columns.push(readColumnMetadata(r, i, type));
  }
  if (r.pos !== metaEnd) throw new RangeError(`column metadata is ${metaLength} bytes but the column types use ${metaLength + metaEnd - r.pos}`);
  const nulls = r.bytes((count + 7) >> 3);
  for (const c of columns) c.nullable = (((nulls[c.index >> 3] as number) >> (c.index & 7)) & 1) === 1;
  const primaryKey = readOptionalMetadata(r, columns, mariadb);
  return { tableId, schema, table, flags, columns, ...(primaryKey ? { primaryKey } : {}) };
}

function readColumnMetadata(r: ByteReader, index: number, type: number): MutableColumn {
  const c: MutableColumn = { index, type, realType: type, nullable: false };
  switch (type) {
    case ColumnType.FLOAT:
    case ColumnType.DOUBLE:
    case ColumnType.BLOB:
    case ColumnType.GEOMETRY:
    case ColumnType.JSON:
      c.packLength = r.u8();
      break;
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING:
      c.maxLength = r.u16();
      break;
    case ColumnType.STRING: {
      // Two bytes, big-endian-ish: the real type with two bits of the length
      // folded into it (lengths above 255 for utf8mb4 CHAR), then the length.
      const b0 = r.u8();
      const b1 = r.u8();
      if ((b0 & 0x30) !== 0x30) {
        c.realType = b0 | 0x30;
        c.maxLength = b1 | (((b0 & 0x30) ^ 0x30) << 4);
      } else {
        c.realType = b0;
        if (b0 === ColumnType.ENUM || b0 === ColumnType.SET) c.packLength = b1;
        else c.maxLength = b1;
      }
      break;
    }
    case ColumnType.NEWDECIMAL:
      c.precision = r.u8();
      c.scale = r.u8();
      break;
    case ColumnType.BIT: {
      const bits = r.u8();
      const bytes = r.u8();
      c.bits = bytes * 8 + bits;
      break;
    }
    case ColumnType.TIMESTAMP2:
    case ColumnType.DATETIME2:
    case ColumnType.TIME2:
      c.fsp = r.u8();
      break;
    case ColumnType.ENUM:
    case ColumnType.SET:
      r.skip(1);
      c.packLength = r.u8();
      break;
    default:
      break;
  }
  return c;
}

/** Reads the TLV fields after the null bitmap into `columns`; returns the primary key if sent. */
function readOptionalMetadata(r: ByteReader, columns: MutableColumn[], mariadb: boolean): { column: number; prefix: number }[] | undefined {
  let primaryKey: { column: number; prefix: number }[] | undefined;
  const numeric = columns.filter((c) => isNumeric(c.type) || (mariadb && c.type === ColumnType.YEAR));
  const character = columns.filter((c) => isCharacter(c.realType));
  const enumOrSet = columns.filter((c) => isEnumOrSet(c.realType));
  while (r.left > 0) {
    const type = r.u8();
    const length = r.packed();
    const end = r.pos + length;
    r.need(length);
    const inField = (): boolean => r.pos < end;
    switch (type) {
      case OptionalMetadata.SIGNEDNESS:
        numeric.forEach((c, i) => { c.unsigned = (((r.buf[r.pos + (i >> 3)] as number) >> (7 - (i & 7))) & 1) === 1; });
        break;
      case OptionalMetadata.DEFAULT_CHARSET:
      case OptionalMetadata.ENUM_AND_SET_DEFAULT_CHARSET: {
        const which = type === OptionalMetadata.DEFAULT_CHARSET ? character : enumOrSet;
        const fallback = r.packed();
        const overrides = new Map<number, number>();
        while (inField()) {
          const at = r.packed();
          overrides.set(at, r.packed());
        }
        which.forEach((c, i) => { c.collation = overrides.get(i) ?? fallback; });
        break;
      }
      case OptionalMetadata.COLUMN_CHARSET:
      case OptionalMetadata.ENUM_AND_SET_COLUMN_CHARSET:
        for (const c of type === OptionalMetadata.COLUMN_CHARSET ? character : enumOrSet) c.collation = r.packed();
        break;
      case OptionalMetadata.COLUMN_NAME:
        for (const c of columns) c.name = r.packedBytes().toString('utf8');
        break;
      case OptionalMetadata.SET_STR_VALUE:
      case OptionalMetadata.ENUM_STR_VALUE: {
        const realType = type === OptionalMetadata.SET_STR_VALUE ? ColumnType.SET : ColumnType.ENUM;
        for (const c of columns.filter((col) => col.realType === realType)) {
          const n = r.packed();
          const values: string[] = [];
          for (let i = 0; i < n; i++) values.push(r.packedBytes().toString('utf8'));
          if (realType === ColumnType.SET) c.setValues = values;
          else c.enumValues = values;
        }
        break;
      }
      case OptionalMetadata.GEOMETRY_TYPE:
        for (const c of columns.filter((col) => col.type === ColumnType.GEOMETRY)) c.geometryType = r.packed();
        break;
      case OptionalMetadata.SIMPLE_PRIMARY_KEY:
        primaryKey = [];
        while (inField()) primaryKey.push({ column: r.packed(), prefix: 0 });
        break;
      case OptionalMetadata.PRIMARY_KEY_WITH_PREFIX:
        primaryKey = [];
        while (inField()) primaryKey.push({ column: r.packed(), prefix: r.packed() });
        break;
      case OptionalMetadata.COLUMN_VISIBILITY:
        columns.forEach((c, i) => { c.visible = (((r.buf[r.pos + (i >> 3)] as number) >> (7 - (i & 7))) & 1) === 1; });
        break;
      default:
        // A field a newer server added: its length lets us step over it.
        break;
    }
    if (r.pos > end) throw new RangeError(`optional metadata field ${type} overruns its ${length} bytes`);
    r.pos = end;
  }
  return primaryKey;
}
