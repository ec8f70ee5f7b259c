import { FerryError } from '../errors.js';

const TRANSIENT_NET = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const TRANSIENT_FERRY = new Set(['FERRY_STREAM_ENDED', 'FERRY_CONNECT_SOURCE', 'FERRY_CONNECT_TARGET', 'FERRY_SLOT_ACTIVE', 'FERRY_BINLOG_CONNECTION']);
/** MySQL/MariaDB: connection lost, server shutting down, connection killed, too many connections, network timeouts. */
const TRANSIENT_MYSQL_ERRNOS = new Set([1040, 1053, 1158, 1159, 1160, 1161, 1927, 2002, 2003, 2006, 2013]);
const TRANSIENT_MYSQL_CODES = new Set(['PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT']);
/** MySQL/MariaDB: deadlock, lock wait timeout. */
const CONFLICT_MYSQL_ERRNOS = new Set([1205, 1213]);
/** Deadlock, serialization failure, lock not available (lock_timeout), statement cancelled. */
const CONFLICT_SQLSTATES = new Set(['40P01', '40001', '55P03', '57014']);

/**
 * Why a failure is worth retrying from the committed position:
 * 'connection', the connection went away or the server is restarting (retried
 * for as long as it lasts); 'conflict', the statement lost against another
 * session (retried, but the same conflict at the same position again and
 * again stops the group). Undefined for everything else (a constraint
 * violation, a missing slot or column), which would fail the same way again.
 */
export function transientKind(err: unknown): 'connection' | 'conflict' | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof FerryError && TRANSIENT_FERRY.has(e.code)) return 'connection';
    const errno = (e as { errno?: unknown }).errno;
    if (typeof errno === 'number' && TRANSIENT_MYSQL_ERRNOS.has(errno)) return 'connection';
    if (typeof errno === 'number' && CONFLICT_MYSQL_ERRNOS.has(errno)) return 'conflict';
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (TRANSIENT_MYSQL_CODES.has(code)) return 'connection';
      if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return 'connection';
      if (TRANSIENT_NET.has(code)) return 'connection';
      if (CONFLICT_SQLSTATES.has(code)) return 'conflict';
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /Connection terminated|connection error|not queryable|terminating connection/i.test(message)) return 'connection';
  }
  return undefined;
}

export function isTransient(err: unknown): boolean {
  return transientKind(err) === 'connection';
}

export function isRetryable(err: unknown): boolean {
  return transientKind(err) !== undefined;
}

/** The SQLSTATE a failure carries, looking through the errors that wrap it. */
export function sqlState(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}
