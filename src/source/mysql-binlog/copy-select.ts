import { GEOMETRY_TYPES, type MySqlColumn } from './mysql-catalog.js';
import { mysqlQuote } from './mysql-names.js';

/**
 * The copy reads rows with a SELECT whose expressions give each value in
 * the form the binlog decoder gives it (row-values.ts), so that one value
 * map (value-map.ts) serves both and a copied row equals a streamed one.
 * The connection must use `time_zone = '+00:00'` (TIMESTAMP as UTC) and
 * mysql2's `dateStrings`, `supportBigNumbers` and `bigNumberStrings`;
 * every expression here returns a string or bytes, never a number.
 *
 * - text (CHAR, VARCHAR, TEXT): its bytes, decoded by the value map with
 *   the column's charset, so that bytes invalid in it are found exactly as
 *   in the stream; ENUM, SET and MariaDB's JSON as UTF-8 text;
 * - FLOAT as the text of its exact value widened to DOUBLE (the server's
 *   own FLOAT text keeps 6 digits): the value map writes it back as the
 *   shortest text of the same 4-byte float;
 * - TIMESTAMP as UTC text with `+00` (the zero timestamp without it), YEAR
 *   as a number, BIT as a string of its width in bits;
 * - BINARY, BLOB and GEOMETRY as their bytes (BINARY padded, as stored);
 * - everything else as `CAST(… AS CHAR)`, which is the decoder's text.
 */
export function copySelectList(columns: readonly MySqlColumn[]): string {
  return columns.map((c) => `${copyExpression(c)} AS ${mysqlQuote(c.name)}`).join(', ');
}

export function copyExpression(c: MySqlColumn): string {
  const col = mysqlQuote(c.name);
  if (GEOMETRY_TYPES.has(c.dataType)) return `CAST(${col} AS BINARY)`;
  switch (c.dataType) {
    case 'float': return `CAST(CAST(${col} AS DOUBLE) AS CHAR)`;
    case 'timestamp':
      return `IF(CAST(${col} AS CHAR) LIKE '0000-00-00%', CAST(${col} AS CHAR), CONCAT(CAST(${col} AS CHAR), '+00'))`;
    case 'year': return `CAST(${col} + 0 AS CHAR)`;
    case 'bit': return `LPAD(BIN(${col}), ${c.precision ?? 1}, '0')`;
    case 'binary': case 'varbinary': case 'tinyblob': case 'blob': case 'mediumblob': case 'longblob':
      return col;
    case 'enum': case 'set': return `CONVERT(${col} USING utf8mb4)`;
    case 'char': case 'varchar': case 'tinytext': case 'text': case 'mediumtext': case 'longtext':
      return c.json ? `CONVERT(${col} USING utf8mb4)` : `CAST(${col} AS BINARY)`;
    default: return `CAST(${col} AS CHAR)`;
  }
}
