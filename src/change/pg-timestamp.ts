import type { PgTimestamp } from './change.js';

/** PostgreSQL's epoch, 2000-01-01 00:00 UTC, in microseconds after Unix's. */
const PG_EPOCH_MICROS = 946_684_800_000_000n;

export function nowPgTimestamp(): PgTimestamp {
  return BigInt(Date.now()) * 1000n - PG_EPOCH_MICROS;
}

export function pgTimestampToDate(ts: PgTimestamp): Date {
  return new Date(Number((ts + PG_EPOCH_MICROS) / 1000n));
}
