/**
 * `${NAME}` / `${NAME:-default}` substitution of environment variables.
 *
 * It runs on the parsed YAML tree rather than on the file text, so a value
 * that contains YAML syntax (a password with `#`, `: ` or quotes) is never
 * re-parsed and cannot change the document's structure. Only string values
 * are touched; keys stay as written.
 */
import { ConfigError } from '../errors.js';

export type KeyPath = readonly PropertyKey[];

/** `groups[1].tables[0]`: the notation every config message uses. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || '(top level)';
}

const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/**
 * Returns a copy of `tree` with references replaced. Every unset variable and
 * malformed reference in the file is reported at once, one per line, so a
 * user fixing their environment does not have to iterate.
 */
export function interpolateEnv(tree: unknown, env: NodeJS.ProcessEnv, sourceName?: string): unknown {
  const problems: string[] = [];
  const result = walk(tree, [], env, problems);
  if (problems.length > 0) {
    const prefix = sourceName === undefined ? '' : `${sourceName}: `;
    throw new ConfigError(problems.map((p) => prefix + p).join('\n'),
      'export the variable, or give a default with ${NAME:-default}');
  }
  return result;
}

function walk(node: unknown, path: PropertyKey[], env: NodeJS.ProcessEnv, problems: string[]): unknown {
  if (typeof node === 'string') return substitute(node, path, env, problems);
  if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i], env, problems));
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) out[key] = walk(value, [...path, key], env, problems);
    return out;
  }
  return node;
}

function substitute(text: string, path: KeyPath, env: NodeJS.ProcessEnv, problems: string[]): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) break;
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      // `$${` is the escape for a literal `${`.
      out += '${';
      i = dollar + 3;
      continue;
    }
    if (!text.startsWith('${', dollar)) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    const match = close < 0 ? null : REFERENCE.exec(text.slice(dollar + 2, close));
    // The value itself is never quoted back: it may be a URL with a password.
    if (match === null || match[2]?.includes('${')) {
      problems.push(`${formatKeyPath(path)} has a malformed \${...} reference; write \${NAME} or \${NAME:-default}, or $\${ for a literal \${`);
      return text;
    }
    const name = match[1] as string;
    const fallback = match[2];
    const value = env[name];
    // Like the shell's `:-`, an empty variable also takes the default.
    if (fallback !== undefined && (value === undefined || value === '')) out += fallback;
    else if (value !== undefined) out += value;
    else problems.push(`${formatKeyPath(path)} uses \${${name}}, which is not set`);
    i = close + 1;
  }
  return out + text.slice(i);
}
