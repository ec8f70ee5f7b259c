import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import { FerryError, ExitCode } from '../errors.js';
import { connect } from '../pg/connect.js';
import { streamSourceOf } from '../source/capture.js';
import { readGroups, type GroupRow } from '../target/control-schema.js';
import { sql } from '../target/control-sql.js';

/**
 * Blocks until every group has applied everything the source had committed
 * when this was called. The group's capture writes a marker that its stream
 * carries after all of that (a transactional message through every slot, a
 * tick in each queue): a group whose stored position is at or beyond it has
 * applied everything before it.
 */
export async function waitForCatchUp(config: FerryConfig, timeoutSeconds: number | undefined, onPoll?: (pending: string[]) => void): Promise<string> {
  const { positions: markers, shown } = await streamSourceOf(config.source.capture).mark(config, config.groups, `wait ${new Date().toISOString()}`);
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
          return row?.position == null || m === undefined || row.position < m || row.held_changes !== '0';
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
