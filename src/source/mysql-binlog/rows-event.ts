import { inflateSync } from 'node:zlib';
import { ByteReader } from './byte-reader.js';
import { readValue, type RowValue } from './row-values.js';
import type { TableMap } from './table-map.js';

/**
 * WRITE/UPDATE/DELETE_ROWS events, versions 1 and 2, and MariaDB's
 * compressed forms of them. Each row image lists only the columns its
 * "present" bitmap sets (all of them with `binlog_row_image=FULL`; fewer
 * with MINIMAL or NOBLOB), then a NULL bitmap over those present columns,
 * then the non-NULL values in column order. An UPDATE has two bitmaps and
 * pairs of images (before, after).
 *
 * In a decoded image a column that is not present is `undefined`: for the
 * after image of an update that means unchanged, as the change model's
 * unchanged TOASTed value does.
 */
export type RowImage = (RowValue | undefined)[];

export type RowsKind = 'insert' | 'update' | 'delete';

export interface RowsEvent {
  readonly kind: RowsKind;
  readonly tableId: number;
  readonly flags: number;
  /** Before images (update, delete) or the new rows (insert). */
  readonly rows: readonly { readonly before?: RowImage; readonly after?: RowImage }[];
}

/** Last ROWS event of a statement: the table maps before it may be dropped. */
export const STMT_END_F = 0x0001;

export interface RowsLayout {
  readonly kind: RowsKind;
  /** Version 2 has an extra-data field after the flags. */
  readonly v2: boolean;
  /** MariaDB's compressed row events: the rows are zlib-compressed. */
  readonly compressed: boolean;
}

/** Reads the table id and flags only: the caller needs the id to find the table map. */
export function readRowsHead(r: ByteReader, tableIdBytes: number, layout: RowsLayout): { tableId: number; flags: number } {
  const tableId = r.uint(tableIdBytes);
  const flags = r.u16();
  if (layout.v2) {
    // Extra data (NDB info, MySQL 8's partition ids) carries nothing we apply; its length counts its own two bytes.
    const extra = r.u16();
    r.skip(extra - 2);
  }
  return { tableId, flags };
}

export function readRowsBody(r: ByteReader, head: { tableId: number; flags: number }, layout: RowsLayout, table: TableMap): RowsEvent {
  const count = r.packed();
  if (count !== table.columns.length) {
    throw new RangeError(`rows event has ${count} columns, its table map ${table.schema}.${table.table} has ${table.columns.length}`);
  }
  const present = bitmap(r, count);
  const presentAfter = layout.kind === 'update' ? bitmap(r, count) : present;
  const data = layout.compressed ? uncompress(r) : r;
  const rows: { before?: RowImage; after?: RowImage }[] = [];
  while (data.left > 0) {
    const first = image(data, table, present);
    if (layout.kind === 'update') rows.push({ before: first, after: image(data, table, presentAfter) });
    else if (layout.kind === 'insert') rows.push({ after: first });
    else rows.push({ before: first });
  }
  return { kind: layout.kind, tableId: head.tableId, flags: head.flags, rows };
}

function bitmap(r: ByteReader, count: number): boolean[] {
  const bytes = r.bytes((count + 7) >> 3);
  const out: boolean[] = [];
  for (let i = 0; i < count; i++) out.push((((bytes[i >> 3] as number) >> (i & 7)) & 1) === 1);
  return out;
}

function image(r: ByteReader, table: TableMap, present: readonly boolean[]): RowImage {
  const presentCount = present.reduce((n, p) => n + (p ? 1 : 0), 0);
  const nulls = r.bytes((presentCount + 7) >> 3);
  const row: RowImage = [];
  let k = 0;
  for (let i = 0; i < present.length; i++) {
    if (!present[i]) {
      row.push(undefined);
      continue;
    }
    const isNull = (((nulls[k >> 3] as number) >> (k & 7)) & 1) === 1;
    k++;
    row.push(isNull ? null : readValue(r, table.columns[i] as TableMap['columns'][number]));
  }
  return row;
}

/**
 * MariaDB's compressed binlog (`log_bin_compress`): a header byte 0x80 | n,
 * the uncompressed length in n big-endian bytes, then a zlib stream.
 */
export function uncompress(r: ByteReader): ByteReader {
  const head = r.u8();
  if ((head & 0xe0) !== 0x80) throw new RangeError(`compressed data starts with 0x${head.toString(16)}, not 0x8n`);
  const lengthBytes = head & 0x07;
  if (lengthBytes < 1 || lengthBytes > 4) throw new RangeError(`compressed data has a ${lengthBytes}-byte length`);
  r.need(lengthBytes);
  const length = r.buf.readUIntBE(r.pos, lengthBytes);
  r.pos += lengthBytes;
  const out = inflateSync(r.rest());
  if (out.length !== length) throw new RangeError(`compressed data inflates to ${out.length} bytes, not the ${length} it declares`);
  return new ByteReader(out);
}
