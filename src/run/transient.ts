import { FerryError } from '../errors.js';

const TRANSIENT_NET = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const TRANSIENT_FERRY = new Set(['FERRY_STREAM_ENDED', 'FERRY_CONNECT_SOURCE', 'FERRY_CONNECT_TARGET', 'FERRY_SLOT_ACTIVE']);

/**
 * Failures worth retrying: the connection went away or the server is
 * restarting. Everything else (a constraint violation, a missing slot or
 * column) would fail the same way again and stops the group instead.
 */
export function isTransient(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof FerryError && TRANSIENT_FERRY.has(e.code)) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
      if (TRANSIENT_NET.has(code)) return true;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /Connection terminated|connection error|not queryable|terminating connection/i.test(message)) return true;
  }
  return false;
}
