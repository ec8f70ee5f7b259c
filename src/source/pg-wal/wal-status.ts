import type pg from 'pg';
import type { GroupConfig } from '../../config/schema.js';
import type { SlotStatus } from '../../observe/status.js';
import type { GroupRow } from '../../target/control-schema.js';
import type { CaptureStatus, CaptureStatusReport } from '../capture.js';
import { formatLsn, lsnOf, parseLsn } from './lsn.js';
import { walSql } from './wal-setup-sql.js';

/**
 * WAL groups: the source's position is its current WAL LSN, the lag is
 * counted in bytes of WAL, and each group's slot is shown with how much WAL
 * it holds and how safe that is.
 */
export async function walStatus(source: pg.Client, groups: readonly { readonly config: GroupConfig; readonly row: GroupRow | undefined }[]): Promise<CaptureStatusReport> {
  const now = (await source.query<{ lsn: string; now: Date }>(walSql.currentLsnAndTime)).rows[0];
  const current = now?.lsn ?? null;
  const out = new Map<string, CaptureStatus>();
  for (const { config: group, row } of groups) {
    const slotRow = (await source.query(walSql.slot, [group.slot])).rows[0];
    const slot: SlotStatus = {
      name: group.slot, exists: Boolean(slotRow), active: Boolean(slotRow?.active), retainedBytes: slotRow ? Number(slotRow.retained_bytes) : null,
      walStatus: (slotRow?.wal_status as string | null | undefined) ?? null,
      safeWalSize: slotRow?.safe_wal_size == null ? null : Number(slotRow.safe_wal_size),
    };
    const applied = row?.position ? lsnOf(row.position) : null;
    const lagBytes = applied !== null && current !== null ? Math.max(0, Number(parseLsn(current) - applied)) : null;
    out.set(group.name, { appliedPosition: applied === null ? null : formatLsn(applied), sourcePosition: current, lagBytes, behind: lagBytes === null ? null : lagBytes > 0, slot });
  }
  return { now: now?.now ?? new Date(), groups: out };
}
