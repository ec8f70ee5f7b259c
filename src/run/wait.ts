import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import { FerryError, ExitCode } from '../errors.js';
import { connect } from '../pg/connect.js';
import { parseLsn, formatLsn } from '../source/pg-wal/lsn.js';
import { walSql } from '../source/pg-wal/wal-setup-sql.js';
import { readGroups, type GroupRow } from '../target/control-schema.js';
import { sql } from '../target/control-sql.js';

/**
 * Blocks until every group has applied everything the source had committed
 * when this was called. A transactional marker message is written to the
 * source: it commits after all of that, passes through every group's slot
 * (so even an idle group moves past it), and a group whose stored position
 * is at or beyond it has applied everything before it.
 */
export async function waitForCatchUp(config: FerryConfig, timeoutSeconds: number | undefined, onPoll?: (pending: string[]) => void): Promise<string> {
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:wait' });
  let marker: bigint;
  try {
    marker = parseLsn((await source.query<{ lsn: string }>(walSql.emitMarker, [`wait ${new Date().toISOString()}`])).rows[0]?.lsn ?? '0/0');
  } finally {
    await source.end().catch(() => undefined);
  }
  const target = await connect(config.target.url, { role: 'target', applicationName: 'ferry:wait' });
  const deadline = timeoutSeconds === undefined ? Infinity : Date.now() + timeoutSeconds * 1000;
  try {
    for (;;) {
      const rows = new Map((await readGroups(target)).map((r) => [r.group_name, r]));
      const pending = config.groups
        .filter((g) => { const p = rows.get(g.name)?.position; return !p || parseLsn(p) < marker; })
        .map((g) => g.name);
      if (pending.length === 0) return formatLsn(marker);
      await failIfStopped(target, pending.map((g) => rows.get(g)).filter((r) => r !== undefined));
      onPoll?.(pending);
      if (Date.now() >= deadline) {
        throw new FerryError('FERRY_WAIT_TIMEOUT', `groups ${pending.join(', ')} have not reached source position ${formatLsn(marker)} within ${timeoutSeconds} s`,
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
