import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import { FerryError } from '../errors.js';
import { waitForCatchUp } from '../run/wait.js';
import { switchoverSql } from './switchover-sql.js';

/**
 * Every group has applied everything the source committed before the fence:
 * a marker written after the fence (a logical message, or a tick per queue
 * with trigger capture) is applied by every group, as `ferry wait` does.
 * Returns the marker's position.
 */
export async function drain(config: FerryConfig, timeoutSeconds: number): Promise<string> {
  return waitForCatchUp(config, Math.max(timeoutSeconds, 0.1));
}

/**
 * `--fence none`: the operator says the writers are stopped; Ferry checks
 * it. After a first drain, nothing may be applied to the groups' tables for
 * `quietMs` and through a second drain: the target's row counters, which
 * move in the very transaction that applies a source write, must not move.
 */
export async function checkQuiet(config: FerryConfig, target: pg.Client, quietMs: number, timeoutSeconds: number): Promise<string> {
  const groups = config.groups.map((g) => g.name);
  const rows = async () => (await target.query<{ rows: string }>(switchoverSql.rowsApplied, [groups])).rows[0]?.rows ?? '0';
  const before = await rows();
  await new Promise((r) => setTimeout(r, quietMs));
  const position = await drain(config, timeoutSeconds);
  const after = await rows();
  if (after !== before) {
    throw new FerryError('FERRY_SWITCHOVER_WRITES_CONTINUE',
      `the source still receives writes: ${BigInt(after) - BigInt(before)} row change(s) were applied in the ${quietMs / 1000} s after the drain`,
      'stop every writer of the source, or use --fence roles:… or --fence database');
  }
  return position;
}
