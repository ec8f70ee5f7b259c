import type { ByteReader } from './byte-reader.js';

/**
 * QUERY: a statement the server logs as text even in row format: BEGIN and
 * COMMIT around non-transactional changes, DDL, TRUNCATE, and a few others.
 * The default database is where unqualified names in the statement resolve;
 * the status variables say how the statement was run. We read the ones a
 * replica of schema changes needs and stop at the first code we do not
 * know: their values have no common length field, and the database and the
 * statement are found from the status block's total length anyway.
 */
export interface QueryEvent {
  readonly threadId: number;
  readonly executionSeconds: number;
  readonly errorCode: number;
  /** The session's default database; '' when none. */
  readonly database: string;
  readonly sql: string;
  readonly sqlMode?: bigint;
  /** Collation numbers of character_set_client, collation_connection and collation_server. */
  readonly charset?: { readonly client: number; readonly connection: number; readonly server: number };
  readonly timeZone?: string;
  /** The databases the statement changed (`Q_UPDATED_DB_NAMES`). */
  readonly updatedDatabases?: readonly string[];
  /** MySQL 8 atomic DDL: the DDL's xid; MariaDB: `Q_XID`. */
  readonly xid?: bigint;
}

const Q = {
  FLAGS2: 0, SQL_MODE: 1, CATALOG: 2, AUTO_INCREMENT: 3, CHARSET: 4, TIME_ZONE: 5, CATALOG_NZ: 6,
  LC_TIME_NAMES: 7, CHARSET_DATABASE: 8, TABLE_MAP_FOR_UPDATE: 9, MASTER_DATA_WRITTEN: 10, INVOKER: 11,
  UPDATED_DB_NAMES: 12, MICROSECONDS: 13, COMMIT_TS: 14, COMMIT_TS2: 15, EXPLICIT_DEFAULTS_FOR_TIMESTAMP: 16,
  DDL_LOGGED_WITH_XID: 17, DEFAULT_COLLATION_FOR_UTF8MB4: 18, SQL_REQUIRE_PRIMARY_KEY: 19, DEFAULT_TABLE_ENCRYPTION: 20,
  // MariaDB
  HRNOW: 128, MARIADB_XID: 129, GTID_FLAGS3: 130,
} as const;

/** More than this many databases are logged as the count alone. */
const OVER_MAX_DBS_IN_EVENT_MTS = 254;

/** `sqlReader` turns the statement's bytes into text: MariaDB's QUERY_COMPRESSED inflates them first. */
export function readQuery(r: ByteReader, sqlReader: (r: ByteReader) => Buffer = (x) => x.rest()): QueryEvent {
  const threadId = r.u32();
  const executionSeconds = r.u32();
  const dbLength = r.u8();
  const errorCode = r.u16();
  const statusLength = r.u16();
  const statusEnd = r.pos + statusLength;
  r.need(statusLength);
  const vars: { -readonly [K in keyof QueryEvent]?: QueryEvent[K] } = {};
  readStatus: while (r.pos < statusEnd) {
    const code = r.u8();
    switch (code) {
      case Q.FLAGS2: r.skip(4); break;
      case Q.SQL_MODE: vars.sqlMode = r.u64(); break;
      case Q.CATALOG: r.skip(r.u8() + 1); break;
      case Q.AUTO_INCREMENT: r.skip(4); break;
      case Q.CHARSET: vars.charset = { client: r.u16(), connection: r.u16(), server: r.u16() }; break;
      case Q.TIME_ZONE: vars.timeZone = r.utf8(r.u8()); break;
      case Q.CATALOG_NZ: r.skip(r.u8()); break;
      case Q.LC_TIME_NAMES: r.skip(2); break;
      case Q.CHARSET_DATABASE: r.skip(2); break;
      case Q.TABLE_MAP_FOR_UPDATE: r.skip(8); break;
      case Q.MASTER_DATA_WRITTEN: r.skip(4); break;
      case Q.INVOKER: r.skip(r.u8()); r.skip(r.u8()); break;
      case Q.UPDATED_DB_NAMES: {
        const n = r.u8();
        if (n === OVER_MAX_DBS_IN_EVENT_MTS) break;
        const names: string[] = [];
        for (let i = 0; i < n; i++) {
          const zero = r.buf.indexOf(0, r.pos);
          if (zero < 0 || zero >= statusEnd) throw new RangeError('an updated database name has no terminating zero');
          names.push(r.utf8(zero - r.pos));
          r.skip(1);
        }
        vars.updatedDatabases = names;
        break;
      }
      case Q.MICROSECONDS: r.skip(3); break;
      case Q.COMMIT_TS: r.skip(8); break;
      case Q.EXPLICIT_DEFAULTS_FOR_TIMESTAMP: r.skip(1); break;
      case Q.DDL_LOGGED_WITH_XID: vars.xid = r.u64(); break;
      case Q.DEFAULT_COLLATION_FOR_UTF8MB4: r.skip(2); break;
      case Q.SQL_REQUIRE_PRIMARY_KEY: r.skip(1); break;
      case Q.DEFAULT_TABLE_ENCRYPTION: r.skip(1); break;
      case Q.HRNOW: r.skip(3); break;
      case Q.MARIADB_XID: vars.xid = r.u64(); break;
      case Q.GTID_FLAGS3: r.skip(1); break;
      default: break readStatus;
    }
  }
  if (r.pos > statusEnd) throw new RangeError(`status variables overrun their ${statusLength} bytes`);
  r.pos = statusEnd;
  const database = r.utf8(dbLength);
  r.skip(1);
  const sql = sqlReader(r).toString('utf8');
  return { threadId, executionSeconds, errorCode, database, sql, ...vars };
}

/**
 * What a QUERY event means for transaction boundaries. XA statements are
 * told apart: a prepared XA transaction is committed (or not) by a later,
 * separate group of events, which the transaction cutter refuses rather
 * than apply before its outcome is known.
 */
export function queryRole(sql: string): 'begin' | 'commit' | 'rollback' | 'xa' | 'statement' {
  const s = sql.trim().toUpperCase();
  if (s === 'BEGIN') return 'begin';
  if (s === 'COMMIT') return 'commit';
  if (s === 'ROLLBACK') return 'rollback';
  if (/^XA\s/.test(s)) return 'xa';
  return 'statement';
}
