import { mysqlConfig, type FerryConfig, type GroupConfig } from '../../config/schema.js';
import { relationIdOf } from './group-table.js';

/**
 * The server id a group's binlog dump announces. A source ends an older dump
 * of the same id when a new one connects, so every group (and every other
 * replica of the source) needs its own: `source.mysql.server_id` plus the
 * group's place in the configuration, or by default one derived from the
 * group's name, in a range replicas rarely use.
 */
export function replicaServerId(config: FerryConfig, group: GroupConfig): number {
  const base = mysqlConfig(config).serverId;
  if (base !== undefined) return base + config.groups.findIndex((g) => g.name === group.name);
  return 0x4000_0000 + (relationIdOf('ferry', group.name) % 0x3fff_ffff);
}
