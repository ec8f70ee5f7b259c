/**
 * ferry.yaml → FerryConfig. Every failure is a ConfigError whose lines each
 * name the file, the key path and what is wrong, so a user can fix all of
 * them in one pass. No message ever quotes a value that may hold a secret.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { formatKeyPath, interpolateEnv } from './interpolate.js';
import { configSchema } from './schema.js';
import type { FerryConfig } from './schema.js';

export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<FerryConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`${path}: configuration file not found`, 'check the path, or create the file');
    if (code === 'EISDIR') throw new ConfigError(`${path}: is a directory, not a configuration file`);
    if (code === 'EACCES') throw new ConfigError(`${path}: permission denied reading the configuration file`);
    throw new ConfigError(`${path}: cannot read the configuration file (${code ?? String(err)})`);
  }
  return parseConfig(text, path, env);
}

export function parseConfig(text: string, sourceName: string, env: NodeJS.ProcessEnv = process.env): FerryConfig {
  const data = interpolateEnv(parseYaml(text, sourceName), env, sourceName);
  const result = configSchema.safeParse(data, { error: describeIssue });
  if (result.success) return result.data;
  const lines = result.error.issues.flatMap((issue) => issueLines(issue));
  throw new ConfigError(lines.map((line) => `${sourceName}: ${line}`).join('\n'));
}

function parseYaml(text: string, sourceName: string): unknown {
  const lineCounter = new LineCounter();
  // prettyErrors would append the offending source line, which may hold a password.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      // This message quotes the escape, which may be part of a password.
      const message = e.code === 'BAD_DQ_ESCAPE'
        ? 'invalid escape sequence in a double-quoted string; use single quotes, or write \\\\ for a backslash'
        : e.message.split('\n')[0];
      return `${sourceName}:${line}:${col}: YAML syntax error: ${message}`;
    }).join('\n'));
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (err) {
    // e.g. an alias bomb; the yaml messages describe structure, not values.
    throw new ConfigError(`${sourceName}: invalid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (data === null || data === undefined) {
    throw new ConfigError(`${sourceName}: the file is empty`, 'it needs at least source.url, target.url and groups');
  }
  return data;
}

/** Per-issue text; the key path is added by issueLines. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      if (issue.input === null) return 'is empty; give it a value';
      return `must be ${noun(issue.expected)}, not ${noun(kindOf(issue.input))}`;
    case 'invalid_value': {
      const allowed = issue.values.map(String).join(', ');
      return typeof issue.input === 'string' && issue.input.length <= 40
        ? `"${issue.input}" is not one of: ${allowed}`
        : `must be one of: ${allowed}`;
    }
    case 'unrecognized_keys': {
      const inst = issue.inst;
      return inst instanceof z.ZodObject ? Object.keys(inst.shape).join(', ') : '';
    }
    case 'too_small':
      return `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    default:
      return undefined;
  }
}

function issueLines(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    // describeIssue left the allowed keys in the message.
    const allowed = issue.message.split(', ').filter(Boolean);
    return issue.keys.map((key) => {
      const guess = suggest(key, allowed);
      return `${formatKeyPath([...issue.path, key])}: unknown key${guess ? `; did you mean ${guess}?` : ''}`
        + (allowed.length ? ` (allowed here: ${allowed.join(', ')})` : '');
    });
  }
  if (issue.code === 'invalid_union') return [`${formatKeyPath(issue.path)}: has the wrong type or value`];
  return [`${formatKeyPath(issue.path)}: ${issue.message}`];
}

/** The allowed key a typo most likely meant (batchMaxRows, batch-max-rows, bacth_max_rows → batch_max_rows). */
function suggest(key: string, allowed: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  return allowed.find((a) => norm(a) === norm(key)) ?? allowed.find((a) => distance(norm(a), norm(key)) <= 2);
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value;
}

function noun(kind: string): string {
  const nouns: Record<string, string> = {
    string: 'a string', number: 'a number', int: 'a whole number', boolean: 'true or false',
    array: 'a list', object: 'a mapping (key: value)', bigint: 'a number',
  };
  return nouns[kind] ?? kind;
}
