import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import { FerryError, ExitCode } from '../errors.js';
import { connect } from '../pg/connect.js';
import { parseLsn, formatLsn } from '../source/pg-wal/lsn.js';
import { walSql } from '../source/pg-wal/wal-setup-sql.js';
import { queueExists } from '../source/pg-trigger/capture-install.js';
import { formatTick, insertTick } from '../source/pg-trigger/ticks.js';
import { readGroups, type GroupRow } from '../target/control-schema.js';
import { sql } from '../target/control-sql.js';

/**
 * Blocks until every group has applied everything the source had committed
 * when this was called. A transactional marker message is written to the
 * source: it commits after all of that, passes through every group's slot
 * (so even an idle group moves past it), and a group whose stored position
 * is at or beyond it has applied everything before it. With trigger capture
 * the marker is a tick in each group's queue: its snapshot sees everything
 * committed so far, and `ferry run` applies every tick in turn.
 */
export async function waitForCatchUp(config: FerryConfig, timeoutSeconds: number | undefined, onPoll?: (pending: string[]) => void): Promise<string> {
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:wait' });
  const markers = new Map<string, bigint>();
  let shown: string;
  try {
    if (config.source.capture === 'trigger') {
      for (const g of config.groups) if (await queueExists(source, g.name)) markers.set(g.name, await insertTick(source, g.name));
      shown = [...markers].map(([g, tick]) => `${formatTick(tick)} (${g})`).join(', ');
    } else {
      const marker = parseLsn((await source.query<{ lsn: string }>(walSql.emitMarker, [`wait ${new Date().toISOString()}`])).rows[0]?.lsn ?? '0/0');
      for (const g of config.groups) markers.set(g.name, marker);
      shown = formatLsn(marker);
    }
  } finally {
    await source.end().catch(() => undefined);
  }
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:wait' });
  const deadline = timeoutSeconds === undefined ? Infinity : Date.now() + timeoutSeconds * 1000;
  try {
    for (;;) {
      const rows = new Map((await readGroups(target)).map((r) => [r.group_name, r]));
      const pending = config.groups
        .filter((g) => {
          const row = rows.get(g.name);
          const m = markers.get(g.name);
          // Changes held for a joining table are not applied yet, whatever the position says.
          return !row?.position || m === undefined || parseLsn(row.position) < m || row.held_changes !== '0';
        })
        .map((g) => g.name);
      if (pending.length === 0) return shown;
      await failIfStopped(target, pending.map((g) => rows.get(g)).filter((r) => r !== undefined));
      onPoll?.(pending);
      if (Date.now() >= deadline) {
        throw new FerryError('FERRY_WAIT_TIMEOUT', `groups ${pending.join(', ')} have not reached source position ${shown} within ${timeoutSeconds} s`,
          'check "ferry status" and that "ferry run" is running', { exitCode: ExitCode.timeout });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await target.end().catch(() => undefined);
  }
}

/** A group that failed and that no ferry process is applying will not catch up: say so now. */
async function failIfStopped(target: pg.Client, rows: readonly GroupRow[]): Promise<void> {
  for (const row of rows) {
    if (!row.last_error || !row.last_error_fatal) continue;
    const running = (await target.query(sql.groupLockHolder, [row.group_name])).rows.length > 0;
    if (!running) {
      throw new FerryError('FERRY_WAIT_GROUP_FAILED', `group ${row.group_name} stopped with an error and is not running: ${row.last_error}`,
        'fix the cause and start "ferry run" again', { context: { group: row.group_name } });
    }
  }
}
