import pg from 'pg';
import { FerryError } from '../errors.js';
import { redactUrl } from '../config/redact.js';
import { isMySqlUrl } from '../config/schema.js';
import { isTlsRefused, tlsAttempts } from './tls-mode.js';

/**
 * Session settings every Ferry connection uses, on source and target alike,
 * so that the text a value is written in on one side reads back as the same
 * value on the other (what native logical replication's walreceiver does).
 * Timeouts are Ferry's to choose, not the role's or the database's: a
 * `statement_timeout` meant for an application must not cut a large COPY or
 * batch. (Options sent at connection start win over ALTER ROLE … SET.)
 */
const SESSION_OPTIONS = [
  '-c statement_timeout=0',
  '-c lock_timeout=0',
  '-c idle_in_transaction_session_timeout=0',
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
 * Connects with libpq-style URL parameters honoured (sslmode with libpq's
 * meaning, sslrootcert, …; see tls-mode.ts) and wraps failures in an error
 * that names the side and never the password.
 */
export async function connect(url: string, options: ConnectOptions): Promise<pg.Client> {
  if (isMySqlUrl(url)) {
    // A command (or a part of one) that only a PostgreSQL source has: say so rather than fail to connect.
    throw new FerryError('FERRY_SOURCE_UNSUPPORTED', `this needs a PostgreSQL ${options.role}; the configured ${options.role} is MySQL or MariaDB`,
      'see docs/mysql.md for the commands a MySQL source supports', { exitCode: 2 });
  }
  const attempts = tlsAttempts(url);
  try {
    return await connectTo(attempts.url, url, options);
  } catch (err) {
    if (attempts.plaintext === undefined || !isTlsRefused((err as FerryError).cause)) throw err;
    return connectTo(attempts.plaintext, url, options);
  }
}

/**
 * pg lets a URL's `options` and `application_name` replace the ones given
 * beside it. Ferry's must win: the session settings keep values exact, and
 * the application name is how Ferry finds its own backends. The URL's
 * options are kept, before ours, so ours take precedence.
 */
function withFerrySettings(connectionString: string): { connectionString: string; options: string } {
  // The query starts at the first '?' after the host part (an '@' may appear in the query itself).
  const scheme = connectionString.indexOf('://');
  let hostEnd = scheme < 0 ? 0 : scheme + 3;
  while (hostEnd < connectionString.length && connectionString[hostEnd] !== '/' && connectionString[hostEnd] !== '?') hostEnd++;
  const query = connectionString.indexOf('?', hostEnd);
  if (query < 0) return { connectionString, options: SESSION_OPTIONS };
  const kept: string[] = [];
  const own: string[] = [];
  for (const param of connectionString.slice(query + 1).split('&')) {
    const equals = param.indexOf('=');
    const key = equals < 0 ? param : param.slice(0, equals);
    if (key === 'options') own.push(decodeURIComponent(param.slice(equals + 1).replace(/\+/g, ' ')));
    else if (key !== 'application_name') kept.push(param);
  }
  return {
    connectionString: connectionString.slice(0, query) + (kept.length > 0 ? `?${kept.join('&')}` : ''),
    options: [...own, SESSION_OPTIONS].join(' '),
  };
}

async function connectTo(url: string, originalUrl: string, options: ConnectOptions): Promise<pg.Client> {
  let client: pg.Client;
  try {
    const { connectionString, options: sessionOptions } = withFerrySettings(url);
    client = new pg.Client({
      connectionString,
      application_name: options.applicationName,
      options: sessionOptions,
      ...(options.replication ? { replication: 'database' } : {}),
      ...(options.pipeline ? { pipeline: true } : {}),
    } as pg.ClientConfig);
  } catch (err) {
    // pg reads the URL and the certificate files it names here.
    throw settingsError(err, originalUrl, options.role);
  }
  // An error after connect (server restart, network cut) surfaces on the next
  // query; without a listener it would crash the process instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw connectionError(err, originalUrl, options.role);
  }
  return client;
}

/** A URL pg cannot use, or a certificate file it cannot read: retrying will not help. */
function settingsError(err: unknown, url: string, role: 'source' | 'target'): FerryError {
  const e = err as { code?: string; message?: string };
  const file = e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR';
  return new FerryError('FERRY_CONNECT_SETTINGS', `cannot use ${role}.url ${redactUrl(url)}: ${e.message ?? String(err)}`,
    file ? `check the sslrootcert, sslcert and sslkey files named in ${role}.url: they must exist and be readable by ferry`
      : `fix ${role}.url (postgres://user:password@host:port/database?sslmode=…; percent-encode @, /, ? and # in the password)`,
    { exitCode: 2, cause: err });
}

/** Node's codes for a server certificate that did not verify. */
const TLS_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_SIGNATURE_FAILURE', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function connectionError(err: unknown, url: string, role: 'source' | 'target'): FerryError {
  const pgErr = err as { code?: string; message?: string };
  const where = redactUrl(url);
  const reason = pgErr.message ?? String(err);
  let hint = `check ${role}.url and that the server is running and reachable`;
  if (pgErr.code === '28P01' || pgErr.code === '28000') hint = `check the user and password in ${role}.url (or the server's pg_hba.conf)`;
  if (pgErr.code === '3D000') hint = `create the database or fix the database name in ${role}.url`;
  if (TLS_VERIFY_CODES.has(pgErr.code ?? '')) {
    hint = `the ${role} server's certificate was not accepted: give the CA that signed it as sslrootcert=<file> in ${role}.url ` +
      '(and, for verify-full, connect by a host name the certificate names), or use sslmode=require to encrypt without verifying';
  }
  if (isTlsRefused(err)) hint = `the ${role} server does not offer TLS: turn on ssl there, or use sslmode=prefer or disable in ${role}.url`;
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
