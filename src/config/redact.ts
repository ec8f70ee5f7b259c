/**
 * Connection strings carry passwords; anything that leaves the process (logs,
 * status output, error messages) goes through `redactUrl` first.
 */

const MASK = '***';

/**
 * Replaces the password in a `postgres://user:password@host/db` URL, in
 * `password=` query parameters and in keyword/value conninfo strings
 * (`host=x password='s3 cret'`) with `***`. Errs on the side of hiding too much.
 */
export function redactUrl(url: string): string {
  let out = url;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(out);
  if (scheme !== null) {
    const head = scheme[0];
    const rest = out.slice(head.length);
    // The password starts after the first `:` of the userinfo and is taken to
    // end at the last `@` anywhere, so one with a raw `@`, `/` or `?` is hidden
    // whole. The price: with a password, an `@` in a query value
    // (application_name=a@b) hides the host as well.
    const firstAt = rest.indexOf('@');
    const lastAt = rest.lastIndexOf('@');
    const colon = rest.indexOf(':');
    if (colon >= 0 && colon < firstAt) out = head + rest.slice(0, colon + 1) + MASK + rest.slice(lastAt);
  }
  // URL query parameter: ?password=... or &password=...
  out = out.replace(/([?&]password=)[^&#]*/gi, `$1${MASK}`);
  // Keyword/value form: password=secret or password = 'quoted \' secret'.
  out = out.replace(/(^|\s)(password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s']\S*)/gi, `$1$2${MASK}`);
  return out;
}
