import { qualifiedName } from '../../pg/connect.js';
import type { MySqlTable } from './mysql-catalog.js';
import type { TargetTable } from './target-table.js';

/**
 * A MySQL table a group replicates: its catalog description, the
 * PostgreSQL table it becomes, and the relation id the change stream and
 * the target's records know it by.
 */
export interface GroupTable {
  readonly source: MySqlTable;
  readonly target: TargetTable;
  readonly relationId: number;
}

/**
 * A table's relation id: MySQL has no stable table id (a TABLE_MAP's id
 * changes whenever the table is reopened), so the name `database.table`
 * is hashed (FNV-1a, 31 bits, never 0). Ids of one group's tables are
 * checked for collisions when the group is set up.
 */
export function relationIdOf(database: string, table: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(`${database}.${table}`, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h & 0x7fffffff) || 1;
}

/** `schema.table` of the target table, as the target's records name a group's tables. */
export function targetLabel(table: GroupTable): string {
  return `${table.target.schema}.${table.target.name}`;
}

/** The target table's name quoted and qualified, as SQL takes it. */
export function targetName(table: GroupTable): string {
  return qualifiedName(table.target.schema, table.target.name);
}
