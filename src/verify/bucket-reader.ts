import type pg from 'pg';
import { cursorSql } from './verify-sql.js';

const FETCH_ROWS = 5000;

/**
 * Reads the rows of a query ordered by bucket (`b`) through a cursor, one
 * bucket at a time, so that only a bucket's rows are held in memory however
 * many buckets differ.
 */
export class BucketReader<R extends { readonly b: number }> {
  private buffer: R[] = [];
  private at = 0;
  private done = false;
  /** Rows read from the server so far. */
  fetched = 0;

  private constructor(private readonly client: pg.Client | null, private readonly cursor: string) {}

  static async open<R extends { readonly b: number }>(client: pg.Client, cursor: string, query: string): Promise<BucketReader<R>> {
    await client.query(cursorSql.declare(cursor, query));
    return new BucketReader<R>(client, cursor);
  }

  /** A reader of no rows (a side known to be empty). */
  static empty<R extends { readonly b: number }>(): BucketReader<R> {
    const reader = new BucketReader<R>(null, '');
    reader.done = true;
    return reader;
  }

  /** The rows of `bucket`; buckets must be asked for in ascending order. */
  async take(bucket: number): Promise<R[]> {
    const rows: R[] = [];
    for (;;) {
      if (this.at >= this.buffer.length) {
        if (this.done || !this.client) return rows;
        this.buffer = (await this.client.query<R>(cursorSql.fetch(this.cursor, FETCH_ROWS))).rows;
        this.at = 0;
        this.fetched += this.buffer.length;
        this.done = this.buffer.length < FETCH_ROWS;
        continue;
      }
      const row = this.buffer[this.at] as R;
      if (row.b > bucket) return rows;
      if (row.b === bucket) rows.push(row);
      this.at++;
    }
  }

  async close(): Promise<void> {
    if (this.client) await this.client.query(cursorSql.close(this.cursor));
  }
}
