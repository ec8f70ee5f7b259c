import type pg from 'pg';
import { FerryError } from '../errors.js';
import { connect } from '../pg/connect.js';
import { sql } from '../target/control-sql.js';
import { switchoverSql } from './switchover-sql.js';

/**
 * Holds every group's apply lock on the target (the one `ferry run` takes),
 * so the forward stream stands still from here: nothing of the old source
 * reaches the target after the reverse slot's start, and the slot the
 * switchover drops at the end is no longer read. The running `ferry run`
 * loses its apply session, retries, and waits for the lock; closing this
 * connection (an abort, or a crash) gives it back.
 */
export async function pauseApply(targetUrl: string, groups: readonly string[], timeoutSeconds: number): Promise<pg.Client> {
  const client = await connect(targetUrl, { role: 'target', applicationName: 'ferry:switchover' });
  try {
    const deadline = Date.now() + timeoutSeconds * 1000;
    for (const group of groups) {
      while (!(await client.query<{ locked: boolean }>(sql.tryLockGroup, [group])).rows[0]?.locked) {
        if (Date.now() > deadline) {
          throw new FerryError('FERRY_SWITCHOVER_PAUSE', `could not take over group ${group} from the ferry run that applies it`, undefined, { context: { group } });
        }
        await client.query(switchoverSql.terminateApply, [group]);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
}
