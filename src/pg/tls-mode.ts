/**
 * Ferry's URLs mean what they mean to libpq and psql. pg, left alone, reads
 * sslmode=prefer, require and verify-ca as verify-full (so `require` refuses
 * a server whose certificate it cannot verify) and does not know `allow`.
 * With `uselibpqcompat=true` it follows libpq: `require` encrypts without
 * verifying (and verifies the chain, like verify-ca, when sslrootcert is
 * given), `verify-ca` checks the chain only, `verify-full` the chain and the
 * host name. `prefer` and `allow` try TLS without verification and fall back
 * to a plain connection when the server has no TLS, as libpq does.
 */
export interface TlsAttempts {
  /** The URL to try first. */
  readonly url: string;
  /** For prefer/allow: the plain connection to try when the server does not offer TLS. */
  readonly plaintext?: string;
}

const SSLMODE = /([?&]sslmode=)([^&#]*)/i;

export function tlsAttempts(url: string): TlsAttempts {
  const mode = SSLMODE.exec(url)?.[2]?.toLowerCase();
  if (mode === undefined || /[?&]uselibpqcompat=/i.test(url)) return { url };
  const compat = (u: string) => `${u}&uselibpqcompat=true`;
  if (mode === 'prefer' || mode === 'allow') {
    return { url: compat(url.replace(SSLMODE, '$1prefer')), plaintext: compat(url.replace(SSLMODE, '$1disable')) };
  }
  return { url: compat(url) };
}

/** pg's error when the server answers the TLS request with "no". */
export function isTlsRefused(err: unknown): boolean {
  return err instanceof Error && err.message === 'The server does not support SSL connections';
}
