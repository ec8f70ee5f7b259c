import { FerryError } from '../../errors.js';
import { formatFilePosition, formatMariaDbGtid, type FilePosition, type MariaDbGtid } from './binlog-position.js';
import type { BinlogEvent } from './binlog-decoder.js';
import type { QueryEvent } from './query-event.js';
import type { RowsEvent } from './rows-event.js';
import type { TableMap } from './table-map.js';

/**
 * Cuts a stream of binlog events into source transactions. A transaction
 * starts with a GTID event (MySQL's GTID or ANONYMOUS_GTID, MariaDB's
 * GTID_EVENT) or, without one, with a BEGIN query; it ends with an XID (a
 * transactional engine committed), a COMMIT query (a non-transactional
 * one), or, for DDL, with its single statement (MySQL writes DDL as GTID +
 * QUERY; MariaDB flags such a GTID standalone). A ROLLBACK query drops the
 * changes it ends (the source undid them; only non-transactional tables
 * can leave such a pair in the binlog).
 *
 * `end` of a transaction is where a reader resumes to read what follows it:
 * together with the GTID it is the position a consumer stores once the
 * transaction is applied.
 */
export type TransactionChange =
  | { readonly kind: 'rows'; readonly table: TableMap; readonly rows: RowsEvent; readonly position: FilePosition }
  | { readonly kind: 'statement'; readonly query: QueryEvent; readonly position: FilePosition };

export interface BinlogTransaction {
  /** `domain-server-seq` (MariaDB) or `uuid:gno` (MySQL); undefined for anonymous transactions. */
  readonly gtid?: string;
  readonly mariaDbGtid?: MariaDbGtid;
  readonly mysqlGtid?: { readonly uuid: string; readonly gno: bigint };
  readonly begin: FilePosition;
  readonly end: FilePosition;
  /** Seconds since the epoch, of the event that ended it. */
  readonly timestamp: number;
  readonly xid?: bigint;
  readonly changes: readonly TransactionChange[];
  /** The table maps the transaction's rows use, by table id, in order of appearance. */
  readonly tables: readonly TableMap[];
}

interface Open {
  gtid?: string;
  mariaDbGtid?: MariaDbGtid;
  mysqlGtid?: { uuid: string; gno: bigint };
  standalone: boolean;
  /** Inside BEGIN … COMMIT/XID. */
  begun: boolean;
  begin: FilePosition;
  changes: TransactionChange[];
  tables: Map<number, TableMap>;
}

export class TransactionAssembler {
  private open: Open | undefined;

  /** Takes the next event; returns the transaction it completes, if any. */
  push(event: BinlogEvent): BinlogTransaction | undefined {
    switch (event.type) {
      case 'mysql-gtid': {
        this.expectNone(event.position);
        const g = event.gtid;
        this.open = {
          ...(g.anonymous ? {} : { gtid: `${g.uuid}:${g.gno}`, mysqlGtid: { uuid: g.uuid, gno: g.gno } }),
          standalone: false, begun: false, begin: event.position, changes: [], tables: new Map(),
        };
        return undefined;
      }
      case 'mariadb-gtid': {
        this.expectNone(event.position);
        const g = event.gtid;
        if (g.xa) {
          const where = formatFilePosition(event.position);
          throw new FerryError('FERRY_BINLOG_UNSUPPORTED', `XA transaction ${formatMariaDbGtid(g.gtid)} at ${where}: XA transactions are not replicated`,
            'do not use XA transactions on replicated tables', { context: { position: where } });
        }
        this.open = {
          gtid: formatMariaDbGtid(g.gtid), mariaDbGtid: g.gtid,
          // A MariaDB GTID that is not standalone stands for BEGIN: no BEGIN query follows it, and the
          // transaction ends at its XID or COMMIT, also when its changes are statements (binlog_format STATEMENT).
          standalone: g.standalone, begun: !g.standalone, begin: event.position, changes: [], tables: new Map(),
        };
        return undefined;
      }
      case 'query':
        return this.query(event);
      case 'table-map':
        this.current(event).tables.set(event.table.tableId, event.table);
        return undefined;
      case 'rows':
        this.current(event).changes.push({ kind: 'rows', table: event.table, rows: event.rows, position: event.position });
        return undefined;
      case 'xid':
        return this.finish(event, event.xid);
      case 'transaction-payload': {
        let done: BinlogTransaction | undefined;
        for (const inner of event.events) {
          const t = this.push(inner);
          if (t) {
            if (done) throw this.error('one TRANSACTION_PAYLOAD holds more than one transaction', event.position);
            done = t;
          }
        }
        return done;
      }
      default:
        return undefined;
    }
  }

  /** True between a transaction's first event and its last. */
  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  private query(event: Extract<BinlogEvent, { type: 'query' }>): BinlogTransaction | undefined {
    switch (event.role) {
      case 'begin': {
        if (!this.open) this.open = { standalone: false, begun: false, begin: event.position, changes: [], tables: new Map() };
        this.open.begun = true;
        return undefined;
      }
      case 'commit':
        return this.finish(event);
      case 'rollback':
        this.current(event);
        this.open = undefined;
        return undefined;
      case 'xa': {
        const where = formatFilePosition(event.position);
        throw new FerryError('FERRY_BINLOG_UNSUPPORTED', `XA transaction at ${where} (${event.query.sql.trim().slice(0, 40)}): XA transactions are not replicated`,
          'do not use XA transactions on replicated tables', { context: { position: where } });
      }
      default: {
        if (!this.open) this.open = { standalone: true, begun: false, begin: event.position, changes: [], tables: new Map() };
        this.open.changes.push({ kind: 'statement', query: event.query, position: event.position });
        return this.open.begun ? undefined : this.finish(event);
      }
    }
  }

  private finish(event: BinlogEvent, xid?: bigint): BinlogTransaction {
    const t = this.current(event);
    this.open = undefined;
    return {
      ...(t.gtid === undefined ? {} : { gtid: t.gtid }),
      ...(t.mariaDbGtid ? { mariaDbGtid: t.mariaDbGtid } : {}),
      ...(t.mysqlGtid ? { mysqlGtid: t.mysqlGtid } : {}),
      begin: t.begin,
      end: event.next,
      timestamp: event.header.timestamp,
      ...(xid === undefined ? {} : { xid }),
      changes: t.changes,
      tables: [...t.tables.values()],
    };
  }

  private current(event: BinlogEvent): Open {
    if (!this.open) throw this.error(`${event.type} event outside a transaction`, event.position);
    return this.open;
  }

  private expectNone(at: FilePosition): void {
    if (this.open) throw this.error('a transaction starts before the one before it ended', at);
  }

  private error(message: string, at: FilePosition): FerryError {
    const where = formatFilePosition(at);
    return new FerryError('FERRY_BINLOG_TRANSACTION', `${message} at ${where}`, undefined, { context: { position: where } });
  }
}
