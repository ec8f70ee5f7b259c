import { access, readFile, writeFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { loadConfig } from '../config/load.js';
import { sameDatabase, type FerryConfig } from '../config/schema.js';
import type { ConfigError } from '../errors.js';

/**
 * The reverse configuration lives next to the given one: `x.yaml` →
 * `x.reverse.yaml`, and back again (`x.reverse.yaml` → `x.yaml`), so that
 * switching back and forth moves between the same two files.
 */
export function reverseConfigPath(path: string): string {
  if (/\.reverse\.ya?ml$/.test(path)) return path.replace(/\.reverse(\.ya?ml)$/, '$1');
  return /\.ya?ml$/.test(path) ? path.replace(/(\.ya?ml)$/, '.reverse$1') : `${path}.reverse.yaml`;
}

/**
 * The given file with source and target swapped, as text: `${VAR}`
 * placeholders stay placeholders (a password is never written out), and
 * every other setting stays as it was. The reverse stream is WAL capture,
 * without DDL capture.
 */
export async function reverseConfigText(path: string): Promise<string> {
  const doc = parseDocument(await readFile(path, 'utf8'));
  const sourceUrl = doc.getIn(['source', 'url'], true);
  const targetUrl = doc.getIn(['target', 'url'], true);
  doc.setIn(['source', 'url'], targetUrl);
  doc.setIn(['target', 'url'], sourceUrl);
  doc.setIn(['source', 'capture'], 'wal');
  if (doc.hasIn(['source', 'ddl'])) doc.deleteIn(['source', 'ddl']);
  // Trigger capture's settings mean nothing to a WAL stream.
  if (doc.has('trigger')) doc.delete('trigger');
  return `# Written by "ferry switchover --reverse": the groups of ${path.split('/').pop() ?? path} from its target back to its source.\n${doc.toString()}`;
}

/**
 * A reverse file that exists already is kept if it is the reverse of this
 * configuration (the way back of an earlier switchover, or the original
 * file when switching back); anything else there is a problem, reported
 * before the switchover changes anything.
 */
export async function reverseConfigProblems(config: FerryConfig, path: string): Promise<string[]> {
  const reversePath = reverseConfigPath(path);
  if (!(await exists(reversePath))) return [];
  let other: FerryConfig;
  try {
    other = await loadConfig(reversePath);
  } catch (err) {
    return [`--reverse: ${reversePath} exists and cannot be read as a configuration (${(err as ConfigError).message.split('\n')[0]}): move it away`];
  }
  const same = sameDatabase(other.source.url, config.target.url) && sameDatabase(other.target.url, config.source.url)
    && other.groups.map((g) => g.name).join(',') === config.groups.map((g) => g.name).join(',');
  if (!same) return [`--reverse: ${reversePath} exists and is not the reverse of this configuration (source and target swapped, the same groups): move it away`];
  // The reverse groups stream the WAL; a file that says otherwise (the trigger-captured original, when switching back) cannot run them.
  return other.source.capture === 'wal' ? [] : [`--reverse: ${reversePath} exists with capture: ${other.source.capture}, and the reverse stream is WAL capture: `
    + 'move it away (a WAL configuration is written in its place; the target then needs logical decoding), or switch over without --reverse'];
}

/** Writes the reverse configuration unless a matching one is there (see reverseConfigProblems). */
export async function writeReverseConfig(path: string): Promise<string> {
  const reversePath = reverseConfigPath(path);
  if (!(await exists(reversePath))) await writeFile(reversePath, await reverseConfigText(path), { mode: 0o600 });
  return reversePath;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}
