import pg from 'pg';
import { FerryError } from '../errors.js';
import { redactUrl } from '../config/redact.js';

/**
 * Session settings every Ferry connection uses, on source and target alike,
 * so that the text a value is written in on one side reads back as the same
 * value on the other (what native logical replication's walreceiver does).
 */
const SESSION_OPTIONS = [
  '-c DateStyle=ISO',
  '-c IntervalStyle=postgres',
  '-c extra_float_digits=3',
  '-c TimeZone=UTC',
  '-c bytea_output=hex',
  '-c client_encoding=UTF8',
].join(' ');

export interface ConnectOptions {
  readonly role: 'source' | 'target';
  readonly applicationName: string;
  /** Open a logical replication connection (`replication=database`). */
  readonly replication?: boolean;
  /** Send queries without waiting for each answer (not for COPY or cursors). */
  readonly pipeline?: boolean;
}

/**
 * Connects with libpq-style URL parameters honoured (sslmode, sslrootcert, …)
 * and wraps failures in an error that names the side and never the password.
 */
export async function connect(url: string, options: ConnectOptions): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    application_name: options.applicationName,
    options: SESSION_OPTIONS,
    ...(options.replication ? { replication: 'database' } : {}),
    ...(options.pipeline ? { pipeline: true } : {}),
  } as pg.ClientConfig);
  // An error after connect (server restart, network cut) surfaces on the next
  // query; without a listener it would crash the process instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw connectionError(err, url, options.role);
  }
  return client;
}

function connectionError(err: unknown, url: string, role: 'source' | 'target'): FerryError {
  const pgErr = err as { code?: string; message?: string };
  const where = redactUrl(url);
  const reason = pgErr.message ?? String(err);
  let hint = `check ${role}.url and that the server is running and reachable`;
  if (pgErr.code === '28P01' || pgErr.code === '28000') hint = `check the user and password in ${role}.url (or the server's pg_hba.conf)`;
  if (pgErr.code === '3D000') hint = `create the database or fix the database name in ${role}.url`;
  return new FerryError(`FERRY_CONNECT_${role.toUpperCase()}`, `cannot connect to the ${role} ${where}: ${reason}`, hint, { cause: err });
}

/** Quotes an identifier the way quote_ident does. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}
