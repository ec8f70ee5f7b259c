import { ColumnType, columnTypeName } from './column-types.js';
import { GEOMETRY_TYPES, type MySqlColumn, type MySqlTable } from './mysql-catalog.js';
import type { BinlogColumn, TableMap } from './table-map.js';

/**
 * Whether a TABLE_MAP (with its optional metadata: names, signedness,
 * ENUM/SET labels) describes the table as its catalog does: row images are
 * read by the table map and mapped by the catalog, so a column added,
 * dropped, renamed or retyped since the catalog was read would put values
 * in the wrong columns or the wrong form. Returns what differs, one line per
 * column; empty when they agree. Metadata the server did not send
 * (`binlog_row_metadata=MINIMAL`) is not compared.
 */
export function tableMapDifferences(map: TableMap, table: MySqlTable): string[] {
  const out: string[] = [];
  if (map.columns.length !== table.columns.length) {
    out.push(`the binlog has ${map.columns.length} columns, the catalog ${table.columns.length}`);
  }
  const count = Math.max(map.columns.length, table.columns.length);
  for (let i = 0; i < count; i++) {
    const m = map.columns[i];
    const c = table.columns[i];
    if (!m) {
      out.push(`column ${c?.name ?? i + 1}: not in the binlog's row images`);
      continue;
    }
    if (!c) {
      out.push(`column ${m.name ?? i + 1} (${columnTypeName(m.realType)}): not in the catalog`);
      continue;
    }
    const why = columnDifference(m, c);
    if (why) out.push(`column ${c.name}${m.name !== undefined && m.name !== c.name ? ` (the binlog's ${m.name})` : ''}: ${why}`);
  }
  return out;
}

function columnDifference(m: BinlogColumn, c: MySqlColumn): string | undefined {
  if (m.name !== undefined && m.name !== c.name) return `named ${m.name} in the binlog`;
  const expected = binlogTypes(c);
  if (expected && !expected.includes(m.realType)) {
    return `the binlog has type ${columnTypeName(m.realType)}, the catalog ${c.columnType}`;
  }
  if (m.unsigned !== undefined && isSignable(c) && m.unsigned !== c.unsigned) {
    return `${m.unsigned ? 'unsigned' : 'signed'} in the binlog, ${c.columnType} in the catalog`;
  }
  if (m.realType === ColumnType.NEWDECIMAL && (m.precision !== (c.precision ?? m.precision) || m.scale !== (c.scale ?? m.scale))) {
    return `decimal(${m.precision},${m.scale}) in the binlog, ${c.columnType} in the catalog`;
  }
  if (m.fsp !== undefined && c.fsp !== null && m.fsp !== c.fsp) {
    return `${m.fsp} fractional digits in the binlog, ${c.columnType} in the catalog`;
  }
  if (m.realType === ColumnType.BIT && c.precision !== null && m.bits !== c.precision) {
    return `bit(${m.bits}) in the binlog, ${c.columnType} in the catalog`;
  }
  const labels = m.enumValues ?? m.setValues;
  if (labels && (labels.length !== c.labels.length || labels.some((l, i) => l !== c.labels[i]))) {
    return `labels (${labels.join(', ')}) in the binlog, ${c.columnType} in the catalog`;
  }
  if (m.realType === ColumnType.BLOB && m.packLength !== undefined) {
    const pack = BLOB_PACK.get(c.dataType);
    if (pack !== undefined && !c.json && pack !== m.packLength) return `a ${m.packLength}-byte length in the binlog, ${c.columnType} in the catalog`;
  }
  if ((m.realType === ColumnType.VARCHAR || m.realType === ColumnType.STRING) && m.maxLength !== undefined && c.maxLength !== null) {
    const perChar = c.charset === null ? 1 : BYTES_PER_CHAR.get(c.charset.toLowerCase());
    if (perChar !== undefined && m.maxLength !== c.maxLength * perChar) {
      return `up to ${m.maxLength} bytes in the binlog, ${c.columnType}${c.charset ? ` ${c.charset}` : ''} in the catalog`;
    }
  }
  return undefined;
}

const BLOB_PACK = new Map<string, number>([
  ['tinytext', 1], ['tinyblob', 1], ['text', 2], ['blob', 2], ['mediumtext', 3], ['mediumblob', 3], ['longtext', 4], ['longblob', 4],
]);

/** Bytes per character of the character sets whose width is fixed at their maximum in a column's declared length. */
const BYTES_PER_CHAR = new Map<string, number>([
  ['latin1', 1], ['ascii', 1], ['binary', 1], ['latin2', 1], ['cp1250', 1], ['cp1251', 1], ['cp1256', 1], ['cp1257', 1],
  ['utf8mb3', 3], ['utf8', 3], ['utf8mb4', 4], ['ucs2', 2], ['utf16', 4], ['utf16le', 4], ['utf32', 4],
]);

function isSignable(c: MySqlColumn): boolean {
  return ['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric', 'float', 'double', 'real'].includes(c.dataType);
}

/** The type codes a catalog column may have in a TABLE_MAP (by real type); undefined: not compared. */
function binlogTypes(c: MySqlColumn): readonly number[] | undefined {
  if (c.json) return [ColumnType.JSON, ColumnType.BLOB];
  if (GEOMETRY_TYPES.has(c.dataType)) return [ColumnType.GEOMETRY];
  switch (c.dataType) {
    case 'tinyint': return [ColumnType.TINY];
    case 'smallint': return [ColumnType.SHORT];
    case 'mediumint': return [ColumnType.INT24];
    case 'int':
    case 'integer': return [ColumnType.LONG];
    case 'bigint': return [ColumnType.LONGLONG];
    case 'decimal':
    case 'numeric': return [ColumnType.NEWDECIMAL];
    case 'float': return [ColumnType.FLOAT];
    case 'double':
    case 'real': return [ColumnType.DOUBLE];
    case 'bit': return [ColumnType.BIT];
    case 'date': return [ColumnType.DATE, ColumnType.NEWDATE];
    case 'datetime': return [ColumnType.DATETIME2, ColumnType.DATETIME];
    case 'timestamp': return [ColumnType.TIMESTAMP2, ColumnType.TIMESTAMP];
    case 'time': return [ColumnType.TIME2, ColumnType.TIME];
    case 'year': return [ColumnType.YEAR];
    case 'char':
    case 'binary': return [ColumnType.STRING];
    case 'varchar':
    case 'varbinary': return [ColumnType.VARCHAR, ColumnType.VAR_STRING];
    case 'tinytext':
    case 'text':
    case 'mediumtext':
    case 'longtext':
    case 'tinyblob':
    case 'blob':
    case 'mediumblob':
    case 'longblob': return [ColumnType.BLOB, ColumnType.TINY_BLOB, ColumnType.MEDIUM_BLOB, ColumnType.LONG_BLOB];
    case 'enum': return [ColumnType.ENUM];
    case 'set': return [ColumnType.SET];
    // MariaDB's UUID, INET6 and INET4 are fixed-length binary strings in the binlog.
    case 'uuid':
    case 'inet6':
    case 'inet4': return [ColumnType.STRING];
    default: return undefined;
  }
}
