import type { FerryConfig, TableRef } from '../config/schema.js';
import { formatTableRef } from '../config/schema.js';
import { serverVersionSql } from '../catalog/catalog-sql.js';
import { resolveTables, tableLabel, type SourceTable } from '../catalog/source-tables.js';
import { ConfigError, FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { readGroup } from '../target/control-schema.js';
import { resyncTables } from './group-tables.js';

export interface ResyncSummary {
  readonly group: string;
  readonly tables: readonly string[];
  readonly rows: number;
}

/**
 * `ferry resync --table T`: copies the named tables again, in place, aligned
 * with their group's stream, while the group (and every other) keeps
 * running. Each table must belong to a streaming group of the configuration.
 */
export async function resync(config: FerryConfig, refs: readonly TableRef[], log: Logger): Promise<ResyncSummary[]> {
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:resync' });
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:resync' });
  try {
    const { tables: wanted, unmatched } = await resolveTables(source, refs);
    if (unmatched.length > 0) throw new ConfigError(`--table: no such table on the source: ${unmatched.map(formatTableRef).join(', ')}`);
    const byGroup = new Map<string, SourceTable[]>();
    const unowned = new Set(wanted.map((t) => t.oid));
    for (const group of config.groups) {
      const { tables } = await resolveTables(source, group.tables);
      const mine = tables.filter((t) => unowned.delete(t.oid));
      if (mine.length > 0) byGroup.set(group.name, mine);
    }
    if (unowned.size > 0) {
      throw new ConfigError(`--table: ${wanted.filter((t) => unowned.has(t.oid)).map(tableLabel).join(', ')} belongs to no group of the configuration`,
        'name tables of the configured groups');
    }
    const serverVersion = (await source.query<{ version: number }>(serverVersionSql)).rows[0]?.version ?? 0;
    const out: ResyncSummary[] = [];
    for (const [name, tables] of byGroup) {
      const group = config.groups.find((g) => g.name === name);
      const row = await readGroup(target, name);
      if (!group || row?.state !== 'streaming' || !tables.every((t) => row.tables.includes(tableLabel(t)))) {
        throw new FerryError('FERRY_RESYNC_NOT_STREAMING', `group ${name} has not finished "ferry init" for ${tables.map(tableLabel).join(', ')}`,
          'run "ferry init -c <config>" first; it copies what is missing', { exitCode: 2, context: { group: name } });
      }
      const rows = await resyncTables(config, group, tables, source, target, serverVersion, log.child({ group: name }));
      out.push({ group: name, tables: tables.map(tableLabel), rows });
    }
    return out;
  } finally {
    await source.end().catch(() => undefined);
    await target.end().catch(() => undefined);
  }
}
