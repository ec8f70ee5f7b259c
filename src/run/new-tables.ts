import type { FerryConfig, GroupConfig } from '../config/schema.js';
import { resolveTables, tableLabel } from '../catalog/source-tables.js';
import { selectGroups } from '../config/select-groups.js';
import { inContext } from '../errors.js';
import { tableChanges } from '../init/group-tables.js';
import { initGroups } from '../init/init.js';
import type { Logger } from '../observe/logger.js';
import { connect } from '../pg/connect.js';
import { readGroups } from '../target/control-schema.js';

/**
 * While `ferry run` runs: a table created on the source that matches a
 * group's pattern (`public.product_*`) joins that group the way `ferry init`
 * adds one, copied aligned with the stream while the group keeps streaming.
 * Groups that name their tables one by one are left alone.
 */
export async function addNewTablesPeriodically(config: FerryConfig, log: Logger, signal: AbortSignal): Promise<void> {
  const watched = config.groups.filter((g) => g.tables.some((t) => t.pattern));
  if (config.apply.newTableCheckMs === 0 || watched.length === 0) return;
  const tlog = log.child({ task: 'new-tables' });
  while (!signal.aborted) {
    await sleep(config.apply.newTableCheckMs, signal);
    if (signal.aborted) return;
    for (const group of watched) {
      try {
        const fresh = await newTables(config, group);
        if (fresh.length === 0) continue;
        tlog.info({ group: group.name, tables: fresh }, 'new source tables match the group; copying them in');
        await initGroups(selectGroups(config, group.name), log);
      } catch (err) {
        const error = inContext(err, 'FERRY_NEW_TABLES', { group: group.name });
        tlog.warn({ group: group.name, err: error.describe() }, 'could not add the new tables; trying again later (or run "ferry init")');
      }
    }
  }
}

/**
 * Source tables matching the group's references that would join its stream
 * (see tableChanges: a table renamed on the source is not a new one).
 */
async function newTables(config: FerryConfig, group: GroupConfig): Promise<string[]> {
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:new-tables' });
  try {
    const row = (await readGroups(target)).find((g) => g.group_name === group.name);
    if (row?.state !== 'streaming') return [];
    const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:new-tables' });
    try {
      const { tables } = await resolveTables(source, group.tables);
      return (await tableChanges(target, group.name, tables, row.tables)).joining.map(tableLabel);
    } finally {
      await source.end().catch(() => undefined);
    }
  } finally {
    await target.end().catch(() => undefined);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}
