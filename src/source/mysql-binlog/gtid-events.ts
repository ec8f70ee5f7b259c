import type { ByteReader } from './byte-reader.js';
import { formatUuid, MySqlGtidSet, type MariaDbGtid } from './binlog-position.js';

/**
 * The events that name transactions and sets of them:
 *
 * - MySQL's GTID_LOG_EVENT (and ANONYMOUS_GTID when gtid_mode is off):
 *   starts a transaction: commit flag, source UUID, transaction number, the
 *   logical clock of parallel replication, and (8.0.1+) commit timestamps,
 *   transaction length and server versions; later fields are appended, so
 *   unread trailing bytes are expected;
 * - MySQL's PREVIOUS_GTIDS: at each file's start, the set executed before it;
 * - MariaDB's GTID_EVENT: starts a transaction (`domain-server-seq`, the
 *   server id being the header's), flags, the group-commit id, XA ids;
 * - MariaDB's GTID_LIST: at each file's start (and made up at the start of
 *   a dump), the last GTID of each domain before it.
 */
export interface MySqlGtidEvent {
  readonly anonymous: boolean;
  readonly uuid: string;
  readonly gno: bigint;
  /** The "may commit in parallel" flag (bit 0). */
  readonly flags: number;
  readonly lastCommitted?: bigint;
  readonly sequenceNumber?: bigint;
  /** Microseconds since the epoch. */
  readonly immediateCommitTimestamp?: bigint;
  readonly originalCommitTimestamp?: bigint;
  readonly transactionLength?: number;
}

const LOGICAL_TIMESTAMP_TYPECODE = 2;
const COMMIT_TS_BYTES = 7;
const ORIGINAL_COMMIT_TS_FOLLOWS = 1n << 55n;

export function readMySqlGtid(r: ByteReader, anonymous: boolean): MySqlGtidEvent {
  const flags = r.u8();
  const uuid = formatUuid(r.bytes(16));
  const gno = r.i64();
  const e: { -readonly [K in keyof MySqlGtidEvent]: MySqlGtidEvent[K] } = { anonymous, uuid, gno, flags };
  if (r.left >= 17 && r.buf[r.pos] === LOGICAL_TIMESTAMP_TYPECODE) {
    r.skip(1);
    e.lastCommitted = r.i64();
    e.sequenceNumber = r.i64();
  }
  if (r.left >= COMMIT_TS_BYTES) {
    let immediate = BigInt(r.uint(6)) | (BigInt(r.u8()) << 48n);
    let original = immediate;
    if (immediate & ORIGINAL_COMMIT_TS_FOLLOWS) {
      immediate &= ~ORIGINAL_COMMIT_TS_FOLLOWS;
      original = BigInt(r.uint(6)) | (BigInt(r.u8()) << 48n);
    }
    e.immediateCommitTimestamp = immediate;
    e.originalCommitTimestamp = original;
    if (r.left > 0) e.transactionLength = r.packed();
  }
  // Server versions and later additions: not needed to apply the transaction.
  r.pos = r.end;
  return e;
}

/** The high byte of the sid count says the set's format; 1 is 8.3+'s tagged form. */
const GTID_FORMAT_UNTAGGED = 0;

export function readPreviousGtids(r: ByteReader): MySqlGtidSet {
  const countAndFormat = r.u64();
  const format = Number(countAndFormat >> 56n);
  if (format !== GTID_FORMAT_UNTAGGED) {
    throw new RangeError('PREVIOUS_GTIDS holds tagged GTIDs (MySQL 8.3+), which this decoder does not read');
  }
  const set = new MySqlGtidSet();
  const sids = Number(countAndFormat);
  for (let i = 0; i < sids; i++) {
    const uuid = formatUuid(r.bytes(16));
    const n = r.u64Number();
    for (let k = 0; k < n; k++) {
      const start = r.i64();
      const end = r.i64();
      set.addRange(uuid, start, end - 1n);
    }
  }
  return set;
}

export interface MariaDbGtidEvent {
  readonly gtid: MariaDbGtid;
  readonly flags: number;
  /** A transaction of one statement (DDL, non-transactional): no COMMIT or XID ends it. */
  readonly standalone: boolean;
  readonly ddl: boolean;
  /** Transactions with the same commit id were group-committed together. */
  readonly commitId?: bigint;
  /** XA transaction id (`FL_PREPARED_XA`/`FL_COMPLETED_XA`): format, gtrid, bqual. */
  readonly xa?: { readonly formatId: number; readonly gtrid: Buffer; readonly bqual: Buffer };
}

export const MariaDbGtidFlags = {
  STANDALONE: 1, GROUP_COMMIT_ID: 2, TRANSACTIONAL: 4, ALLOW_PARALLEL: 8, WAITED: 16, DDL: 32,
  PREPARED_XA: 64, COMPLETED_XA: 128,
} as const;

export function readMariaDbGtid(r: ByteReader, serverId: number): MariaDbGtidEvent {
  const seq = r.u64();
  const domain = r.u32();
  const flags = r.u8();
  const e: { -readonly [K in keyof MariaDbGtidEvent]: MariaDbGtidEvent[K] } = {
    gtid: { domain, serverId, seq }, flags,
    standalone: (flags & MariaDbGtidFlags.STANDALONE) !== 0,
    ddl: (flags & MariaDbGtidFlags.DDL) !== 0,
  };
  if (flags & MariaDbGtidFlags.GROUP_COMMIT_ID) e.commitId = r.u64();
  if (flags & (MariaDbGtidFlags.PREPARED_XA | MariaDbGtidFlags.COMPLETED_XA)) {
    const formatId = r.u32();
    const gtridLength = r.u8();
    const bqualLength = r.u8();
    e.xa = { formatId, gtrid: Buffer.from(r.bytes(gtridLength)), bqual: Buffer.from(r.bytes(bqualLength)) };
  }
  // Extra flags (multi-engine, START/COMMIT ALTER of 10.8+) and padding: nothing to apply.
  r.pos = r.end;
  return e;
}

export function readMariaDbGtidList(r: ByteReader): MariaDbGtid[] {
  // The top four bits are flags (which list this is); the rest is the count.
  const count = r.u32() & 0x0fffffff;
  const list: MariaDbGtid[] = [];
  for (let i = 0; i < count; i++) {
    const domain = r.u32();
    const serverId = r.u32();
    list.push({ domain, serverId, seq: r.u64() });
  }
  return list;
}
