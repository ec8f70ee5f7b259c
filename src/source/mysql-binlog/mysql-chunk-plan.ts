import type { Connection } from 'mysql2/promise';
import type { ChunkPlan, PlannedChunk } from '../../copy/chunk-plan.js';
import { FerryError } from '../../errors.js';
import type { GroupTable } from './group-table.js';
import { rowKeyColumns, type MySqlColumn } from './mysql-catalog.js';
import { mysqlQuote } from './mysql-names.js';

/**
 * How a MySQL table is cut into chunks for the copy. A table whose rows are
 * identified by one integer column (the primary key, else a unique key over
 * a NOT NULL integer column) is cut into ranges of that key of about
 * `chunkBytes` each; any other table is one 'whole' chunk (MySQL has no
 * physical row address to range over, as PostgreSQL's ctid is).
 *
 * Plans name the TARGET schema, table and column: the overlap filter
 * compares streamed rows, which carry target names, against key ranges by
 * their bounds as integers (BigInt), so bounds are the key's decimal text.
 * The first and last range are open: a row inserted outside [MIN, MAX]
 * after the plan was made still falls in a chunk.
 *
 * Sizes come from information_schema (DATA_LENGTH and TABLE_ROWS, InnoDB's
 * estimates from its statistics), so chunks are about, not exactly,
 * `chunkBytes`; a bad estimate only makes chunks bigger or smaller, never
 * loses rows.
 */
const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint']);

export async function planMySqlChunks(connection: Connection, table: GroupTable, chunkBytes: number): Promise<PlannedChunk[]> {
  if (!Number.isFinite(chunkBytes) || chunkBytes <= 0) {
    throw new FerryError('FERRY_CONFIG', `a copy chunk must be a positive number of bytes, not ${chunkBytes}`);
  }
  const { source, target } = table;
  const schema = target.schema;
  const relation = target.name;
  // `only` means nothing on MySQL (no inherited tables); it is PostgreSQL's ONLY.
  const whole = (bytes: number): PlannedChunk[] => [{ plan: { kind: 'whole', schema, relation, only: true }, estimatedBytes: bytes }];

  const { bytes, rows: estimatedRows } = await estimates(connection, source.database, source.name);
  // More chunks than rows would only add empty ones (both numbers are estimates; the ranges stay open).
  const count = Math.min(Math.ceil(bytes / chunkBytes), estimatedRows > 0 ? estimatedRows : Infinity);
  const key = chunkKey(table);
  if (count <= 1 || !key) return whole(bytes);

  const [rows] = await connection.query(
    `SELECT CAST(MIN(${mysqlQuote(key.name)}) AS CHAR) AS lo, CAST(MAX(${mysqlQuote(key.name)}) AS CHAR) AS hi FROM ${mysqlQuote(source.database)}.${mysqlQuote(source.name)}`);
  const range = (rows as { lo: string | null; hi: string | null }[])[0];
  if (range?.lo == null || range.hi == null) return whole(bytes);
  const lo = BigInt(range.lo);
  const span = BigInt(range.hi) - lo + 1n;
  const n = BigInt(count) > span ? Number(span) : count;
  if (n <= 1) return whole(bytes);
  const bounds = Array.from({ length: n - 1 }, (_, i) => (lo + (span * BigInt(i + 1)) / BigInt(n)).toString());
  const share = Math.ceil(bytes / n);
  // The type map keeps names and order; the plan says the target's name all the same.
  const column = target.columns[source.columns.indexOf(key)]?.name ?? key.name;
  return Array.from({ length: n }, (_, i): PlannedChunk => ({
    plan: { kind: 'key', schema, relation, column, from: i === 0 ? null : bounds[i - 1] ?? null, to: i === n - 1 ? null : bounds[i] ?? null },
    estimatedBytes: share,
  }));
}

/**
 * The one integer column rows are identified by, if any: the primary key
 * when it is a single integer column; without a primary key, the first
 * unique key over NOT NULL columns when it is one. An
 * integer read as boolean (`tinyint(1)` with tinyint1_as_boolean) is not
 * one: its target text is not a number a range can hold. Binlog row images
 * are full (a prerequisite), so a streamed row always carries the column.
 */
export function chunkKey(table: GroupTable): MySqlColumn | undefined {
  // Only the key the stream identifies rows by (see describeTable): an update that moves a row to another range changes it, so the stream sends the old row too.
  const columns = rowKeyColumns(table.source);
  if (columns.length !== 1) return undefined;
  const index = table.source.columns.findIndex((c) => c.name === columns[0]);
  const column = table.source.columns[index];
  return column && INTEGER_TYPES.has(column.dataType) && table.target.columns[index]?.kind === 'integer' ? column : undefined;
}

/**
 * The `WHERE` condition of a chunk on the source, empty for a whole chunk.
 * The plan names the target column; the source column is the one at the
 * same position (the type map keeps names and order). Bounds are checked
 * to be integers before they are written into the statement.
 */
export function chunkCondition(table: GroupTable, plan: ChunkPlan): string {
  if (plan.kind === 'whole') return '';
  if (plan.kind !== 'key') {
    throw new FerryError('FERRY_INTERNAL', `a MySQL table is never copied by ${plan.kind}`, undefined, { context: { table: `${plan.schema}.${plan.relation}` } });
  }
  const index = table.target.columns.findIndex((c) => c.name === plan.column);
  const column = table.source.columns[index];
  if (!column) {
    throw new FerryError('FERRY_INTERNAL', `chunk column ${plan.column} is not a column of ${table.source.database}.${table.source.name}`);
  }
  const conds: string[] = [];
  if (plan.from !== null) conds.push(`${mysqlQuote(column.name)} >= ${BigInt(plan.from)}`);
  if (plan.to !== null) conds.push(`${mysqlQuote(column.name)} < ${BigInt(plan.to)}`);
  return conds.join(' AND ');
}

/** `db.table col in [from, to)` for progress and errors, with the source's names. */
export function describeMySqlChunk(table: GroupTable, plan: ChunkPlan): string {
  const name = `${table.source.database}.${table.source.name}`;
  return plan.kind === 'key' ? `${name} ${plan.column} in [${plan.from ?? '-∞'}, ${plan.to ?? '∞'})` : name;
}

/**
 * DATA_LENGTH and TABLE_ROWS of the table. MySQL 8 caches information_schema's table
 * statistics for a day by default (information_schema_stats_expiry), which
 * would show a table filled since as empty: the session reads them fresh.
 * MariaDB has no such cache (nor the variable).
 */
async function estimates(connection: Connection, database: string, table: string): Promise<{ bytes: number; rows: number }> {
  try {
    await connection.query('SET SESSION information_schema_stats_expiry = 0');
  } catch (err) {
    if ((err as { errno?: number }).errno !== 1193) throw err;
  }
  const [rows] = await connection.query(
    'SELECT DATA_LENGTH AS bytes, TABLE_ROWS AS `rows` FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [database, table]);
  const row = (rows as { bytes: string | number | null; rows: string | number | null }[])[0];
  return { bytes: Number(row?.bytes ?? 0), rows: Number(row?.rows ?? 0) };
}
