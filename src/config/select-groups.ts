import { ConfigError } from '../errors.js';
import type { FerryConfig } from './schema.js';

/**
 * The configuration narrowed to the groups `--group a,b` names, so that a
 * command touches only those (another process may run the rest). Every
 * configured group when `list` is absent.
 */
export function selectGroups(config: FerryConfig, list: string | undefined): FerryConfig {
  if (list === undefined) return config;
  const names = [...new Set(list.split(',').map((n) => n.trim()).filter((n) => n.length > 0))];
  const known = new Set(config.groups.map((g) => g.name));
  const unknown = names.filter((n) => !known.has(n));
  if (names.length === 0 || unknown.length > 0) {
    throw new ConfigError(names.length === 0 ? '--group names no group'
      : `--group names ${unknown.length === 1 ? 'a group' : 'groups'} the configuration does not have: ${unknown.join(', ')}`,
    `name groups of the configuration, comma-separated: ${[...known].join(', ')}`);
  }
  return { ...config, groups: config.groups.filter((g) => names.includes(g.name)) };
}
