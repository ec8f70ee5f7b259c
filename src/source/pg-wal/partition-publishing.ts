import type pg from 'pg';
import type { Logger } from '../../observe/logger.js';
import { connect } from '../../pg/connect.js';
import { walSql } from './wal-setup-sql.js';

/**
 * Makes publication `publication` send partitions' changes as their own
 * (publish_via_partition_root = false), which Ferry publications made before
 * this version did not: through the root, pgoutput skips a TRUNCATE of a
 * single partition. Returns whether it switched.
 *
 * Safe at any stream position. The switch is a catalog change that logical
 * decoding sees at the ALTER's commit: transactions committed before it still
 * come as changes of the root (on the target, written through the root),
 * later ones as changes of each partition (written into the target's
 * partition of that name, created if missing). Nothing is sent twice or
 * lost, and both kinds may meet in one batch.
 */
export async function publishPartitionsThemselves(client: pg.Client, publication: string, log: Logger): Promise<boolean> {
  const viaRoot = (await client.query<{ via_root: boolean }>(walSql.publishesViaRoot, [publication])).rows[0]?.via_root;
  if (!viaRoot) return false;
  await client.query(walSql.publishPartitions(publication));
  log.info({ publication }, 'publication now sends changes of partitions as their own (publish_via_partition_root = false), so a TRUNCATE of one partition reaches the target');
  return true;
}

/** The same over a connection of its own, before a group starts streaming. */
export async function preparePublication(url: string, group: string, publication: string, log: Logger): Promise<void> {
  const client = await connect(url, { role: 'source', applicationName: `ferry:${group}:publication` });
  try {
    await publishPartitionsThemselves(client, publication, log);
  } finally {
    await client.end().catch(() => undefined);
  }
}
