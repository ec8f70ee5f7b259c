import type { BinlogStatus, SlotStatus } from './status.js';

/** A condition of a replication slot that the log should announce, once per episode. */
export interface SlotConcern {
  readonly key: 'retained' | 'unreserved' | 'lost';
  readonly active: boolean;
  readonly level: 'warn' | 'error';
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

/**
 * Share of what the slot may hold that it holds now: retained WAL against
 * retained + safe_wal_size (the room left before max_slot_wal_keep_size).
 * Null without a limit (or before PostgreSQL 13), when there is no share to speak of.
 */
export function retainedShare(slot: SlotStatus): number | null {
  if (slot.retainedBytes === null || slot.safeWalSize === null) return null;
  const room = slot.retainedBytes + Math.max(0, slot.safeWalSize);
  return room <= 0 ? 1 : slot.retainedBytes / room;
}

/**
 * What is worrying about a slot, from its status: retained WAL past `warnShare`
 * of what it may hold, `unreserved` (the source may remove WAL the slot needs
 * at the next checkpoint), `lost` (it has: the group must be initialised again).
 */
export function slotConcerns(group: string, slot: SlotStatus, warnShare: number): SlotConcern[] {
  const share = retainedShare(slot);
  const fields = { slot: slot.name, retainedBytes: slot.retainedBytes, safeWalSize: slot.safeWalSize, walStatus: slot.walStatus };
  return [
    {
      key: 'retained', active: share !== null && share >= warnShare, level: 'warn', fields: { ...fields, share, warnShare },
      message: `replication slot ${slot.name} holds ${share === null ? '?' : Math.round(share * 100)}% of the WAL it may retain (observe.slot_warn_share = ${warnShare}): `
        + `if group ${group} does not catch up, the source will invalidate the slot; make sure ferry run applies this group, or raise max_slot_wal_keep_size`,
    },
    {
      key: 'unreserved', active: slot.walStatus === 'unreserved', level: 'warn', fields,
      message: `replication slot ${slot.name} is unreserved: the source may remove WAL it still needs at its next checkpoint, which loses the slot; `
        + `let group ${group} catch up now, or raise max_slot_wal_keep_size`,
    },
    {
      key: 'lost', active: slot.walStatus === 'lost', level: 'error', fields,
      message: `replication slot ${slot.name} is lost: the source removed WAL group ${group} still needed; `
        + `re-initialise only this group: ferry drop -c <config> --group ${group}, then ferry init -c <config>`,
    },
  ];
}

/**
 * The binlog's side of the same danger: a MySQL source keeps no binlog for
 * a reader that lags, it purges by age. A group whose lag passes
 * `warnShare` of the source's retention is warned about; one whose next
 * file is gone can only be initialised again.
 */
export function binlogConcerns(group: string, binlog: BinlogStatus, lagSeconds: number, warnShare: number): (Omit<SlotConcern, 'key'> & { key: 'retention' | 'purged'; code: string })[] {
  const retention = binlog.retentionSeconds;
  const fields = { neededFile: binlog.neededFile, lagSeconds, retentionSeconds: retention };
  return [
    {
      key: 'retention', code: 'FERRY_BINLOG_RETENTION', active: !binlog.purged && retention !== null && lagSeconds >= warnShare * retention, level: 'warn', fields: { ...fields, warnShare },
      message: `group ${group} is ${Math.round(lagSeconds)} s behind and the source purges binlogs after ${retention} s (observe.slot_warn_share = ${warnShare}): `
        + `if it does not catch up, ${binlog.neededFile} is purged and the group must be initialised again; make sure ferry run applies it, or raise binlog_expire_logs_seconds`,
    },
    {
      key: 'purged', code: 'FERRY_BINLOG_PURGED', active: binlog.purged, level: 'error', fields,
      message: `the source purged ${binlog.neededFile}, which group ${group} needs next: re-initialise only this group: ferry drop -c <config> --group ${group}, then ferry init -c <config>`,
    },
  ];
}
