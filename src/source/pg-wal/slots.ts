import type pg from 'pg';
import { FerryError } from '../../errors.js';
import type { CopySnapshot } from '../capture.js';
import { walPosition } from './lsn.js';
import { ReplicationConnection } from './replication-connection.js';
import { walSql } from './wal-setup-sql.js';

/** Drops a slot, first ending a walsender that still holds it. False when there was none. */
export async function dropSlot(source: pg.Client, slot: string): Promise<boolean> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const row = (await source.query<{ active: boolean }>(walSql.slot, [slot])).rows[0];
    if (!row) return false;
    if (row.active) {
      await source.query(walSql.terminateSlotHolder, [slot]);
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    try {
      await source.query(walSql.dropSlot, [slot]);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code !== '55006') throw err; // in use: retry
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new FerryError('FERRY_SLOT_BUSY', `replication slot ${slot} stays in use`, 'stop whatever reads from it (another ferry run?) and retry');
}

/**
 * Creates a slot over a replication connection of its own, which stays open
 * until `close`: the slot's exported snapshot lives only as long as that
 * connection runs no other command. A temporary slot goes with it; it is
 * made only for its snapshot.
 */
export async function slotSnapshot(url: string, applicationName: string, slot: string, temporary: boolean): Promise<CopySnapshot> {
  const replication = await ReplicationConnection.open(url, applicationName);
  try {
    const created = await replication.createSlot(slot, temporary);
    return { snapshotName: created.snapshotName, position: walPosition(created.consistentPoint), close: () => replication.close() };
  } catch (err) {
    await replication.close();
    throw err;
  }
}
