import { rowKeyColumns, type MySqlTable } from './mysql-catalog.js';
import type { RowValue } from './row-values.js';
import type { TargetTable } from './target-table.js';
import type { TypeMapOptions } from './type-map.js';
import { mapValue } from './value-map.js';

/**
 * A whole row image (binlog) or copied row, in the source's column order,
 * mapped to PostgreSQL input. A column missing from the image (`undefined`:
 * not in a MINIMAL after image) stays missing. An error names the row by its
 * key: the primary key, else the first unique key over NOT NULL columns,
 * else every column.
 */
export function mapRow(table: MySqlTable, target: TargetTable, image: readonly (RowValue | undefined)[], options: TypeMapOptions): (string | null | undefined)[] {
  const place = { table: `${table.database}.${table.name}`, key: () => rowKey(table, image) };
  return table.columns.map((c, i) => {
    const value = image[i];
    const column = target.columns[i];
    if (value === undefined || column === undefined) return undefined;
    return mapValue(value, c, column, options, place);
  });
}

const SHOWN = 64;

/** `id=7`, `a=1, b=x`: the key's values as the source gave them, long ones cut, bytes in hex. */
export function rowKey(table: MySqlTable, image: readonly (RowValue | undefined)[]): string {
  const key = rowKeyColumns(table);
  const names = key.length > 0 ? key : table.columns.map((c) => c.name);
  return names.map((name) => {
    const value = image[table.columns.findIndex((c) => c.name === name)];
    const text = value === undefined ? '?' : value === null ? 'NULL' : typeof value === 'string' ? value : `\\x${value.toString('hex')}`;
    return `${name}=${text.length > SHOWN ? `${text.slice(0, SHOWN)}…` : text}`;
  }).join(', ');
}
