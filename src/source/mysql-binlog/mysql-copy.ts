import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Connection as CoreConnection } from 'mysql2';
import type { Connection } from 'mysql2/promise';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ChunkPlan } from '../../copy/chunk-plan.js';
import { FerryError } from '../../errors.js';
import { copySelectList } from './copy-select.js';
import type { GroupTable } from './group-table.js';
import { mapRow } from './map-row.js';
import { chunkCondition, describeMySqlChunk } from './mysql-chunk-plan.js';
import { mysqlQuote } from './mysql-names.js';
import type { RowValue } from './row-values.js';
import { quoteIdent, type TypeMapOptions } from './type-map.js';

/**
 * Copies one chunk of a MySQL table into its PostgreSQL table: the rows the
 * worker's snapshot sees in the chunk's key range, read with the copy's
 * SELECT (copy-select.ts) so that every value comes out in the form the
 * binlog decoder gives, mapped by the same value map as streamed rows
 * (map-row.ts), and written with `COPY … FROM STDIN` in text format.
 *
 * Memory stays bounded whatever the chunk's size: rows are streamed from
 * MySQL, and when PostgreSQL takes them more slowly than MySQL sends them
 * the COPY stream's buffer fills, the pipeline stops reading the MySQL
 * stream, and mysql2 stops reading the socket (TCP then holds the server
 * back), until the COPY stream drains.
 *
 * Every column is written, generated ones included: on the target they are
 * plain columns holding the source's values (the binlog's row images carry
 * them too), which spares translating MySQL's expressions.
 *
 * The caller owns the target's transaction (BEGIN before, COMMIT with the
 * chunk's bookkeeping after). A row whose value cannot be mapped is an error
 * naming the table, the row's key and the column, as the value map gives it;
 * then the COPY is aborted (the target's transaction must be rolled back)
 * and the rest of the chunk's result is read and dropped by the driver, so
 * the worker's connection stays usable.
 */
export interface ChunkCopied {
  readonly rows: number;
  /** Bytes of COPY text sent to PostgreSQL. */
  readonly bytes: number;
}

/** Rows are sent to PostgreSQL in pieces of about this many bytes (one CopyData message each). */
const SEND_BYTES = 64 * 1024;
/** Rows mysql2 buffers before it stops reading the socket. */
const READ_AHEAD_ROWS = 512;

export async function copyChunk(worker: Connection, table: GroupTable, plan: ChunkPlan, target: pg.Client, options: TypeMapOptions,
  onBytes?: (bytes: number) => void): Promise<ChunkCopied> {
  requireStringResults(worker);
  // TIMESTAMP values are read as UTC text (copy-select.ts); setting it again costs a round trip and leaves the snapshot alone.
  await worker.query("SET SESSION time_zone = '+00:00'");
  const { source, target: into } = table;
  const where = chunkCondition(table, plan);
  const sql = `SELECT ${copySelectList(source.columns)} FROM ${mysqlQuote(source.database)}.${mysqlQuote(source.name)}${where ? ` WHERE ${where}` : ''}`;
  const copySql = `COPY ${quoteIdent(into.schema)}.${quoteIdent(into.name)} (${into.columns.map((c) => quoteIdent(c.name)).join(', ')}) FROM STDIN`;

  let rows = 0;
  let bytes = 0;
  let pending: string[] = [];
  let pendingLength = 0;
  const flush = (stream: Transform) => {
    if (pending.length === 0) return;
    const piece = Buffer.from(pending.join(''), 'utf8');
    pending = [];
    pendingLength = 0;
    bytes += piece.length;
    onBytes?.(piece.length);
    stream.push(piece);
  };
  const encode = new Transform({
    writableObjectMode: true,
    transform(image: RowValue[], _encoding, callback) {
      try {
        const line = copyLine(mapRow(source, into, image, options));
        rows++;
        pending.push(line);
        pendingLength += line.length;
        if (pendingLength >= SEND_BYTES) flush(this);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback) {
      flush(this);
      callback();
    },
  });

  const core = (worker as unknown as { connection: CoreConnection }).connection;
  const read: Readable = core.query({ sql, rowsAsArray: true }).stream({ highWaterMark: READ_AHEAD_ROWS });
  const write = target.query(copyFrom(copySql));
  try {
    await pipeline(read, encode, write);
  } catch (err) {
    if (err instanceof FerryError) throw err;
    throw new FerryError('FERRY_MYSQL_COPY', `copying ${describeMySqlChunk(table, plan)} into ${into.schema}.${into.name} failed: ${(err as Error).message}`,
      'fix the cause and copy the table again', { context: { table: `${source.database}.${source.name}` }, cause: err });
  }
  return { rows, bytes };
}

/**
 * One row as a line of COPY's text format: values separated by tabs, NULL
 * as `\N`, and in each value the characters the format gives a meaning
 * (backslash, tab, newline, carriage return) escaped with a backslash.
 */
export function copyLine(values: readonly (string | null | undefined)[]): string {
  return `${values.map((v) => {
    if (v === null) return '\\N';
    if (v === undefined) throw new FerryError('FERRY_INTERNAL', 'a copied row is missing a column');
    return copyText(v);
  }).join('\t')}\n`;
}

const SPECIAL = /[\\\t\n\r]/;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

export function copyText(value: string): string {
  return SPECIAL.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c] ?? c) : value;
}

/**
 * The copy's SELECT gives every value as a string or bytes only when mysql2
 * is told not to turn numbers and dates into JavaScript values
 * (connectionOptions in binlog-connection.ts does): a connection set up
 * otherwise would give rounded numbers and shifted dates, silently.
 */
function requireStringResults(worker: Connection): void {
  const { dateStrings, supportBigNumbers, bigNumberStrings } = worker.config;
  if (dateStrings !== true || !supportBigNumbers || !bigNumberStrings) {
    throw new FerryError('FERRY_INTERNAL', 'the copy needs a MySQL connection with dateStrings, supportBigNumbers and bigNumberStrings');
  }
}
