import type { Lsn } from '../../change/change.js';
import { ExitCode, FerryError } from '../../errors.js';
import { connect } from '../../pg/connect.js';
import type { CommonPoint, VerifyWindow } from '../../verify/common-point.js';
import { beginSnapshot, positionsIn, waitForTarget } from '../../verify/target-progress.js';
import { verifySql } from '../../verify/verify-sql.js';
import { formatLsn, lsnOf, parseLsn, walPosition } from './lsn.js';
import { walSql } from './wal-setup-sql.js';
import { readWindowChanges } from './window-changes.js';

/**
 * The common point of WAL capture while groups are applied (see
 * docs/verify.md): a temporary slot gives a source snapshot at its
 * consistent point C; verify waits until every running group has applied
 * C, takes the target snapshot at positions T ≥ C, and decodes from the
 * slot the changes committed between C and T, which the target holds and
 * the source snapshot does not.
 */
export async function atSlot({ config, source, target, tables, groups, timeoutSeconds, log, close }: VerifyWindow): Promise<CommonPoint> {
  const replication = await connect(config.source.url, { role: 'source', applicationName: 'ferry:verify', replication: true });
  try {
    const slot = `ferry_verify_${process.pid}_${Date.now().toString(36)}`;
    const created = (await replication.query<{ consistent_point: string; snapshot_name: string }>(verifySql.createSlot(slot))
      .catch((err: unknown) => { throw slotError(err); })).rows[0];
    if (!created) throw new FerryError('FERRY_VERIFY_SLOT', `creating the temporary replication slot ${slot} returned nothing`);
    const start = parseLsn(created.consistent_point);
    const sourceSnapshot = await beginSnapshot(source, created.snapshot_name);
    // A group with nothing to apply would never reach C: a marker transaction
    // committed after C is one every running group applies, moving it past C.
    await emitMarker(config.source.url);
    log.info({ position: formatLsn(start) }, 'source snapshot taken; waiting for the target to apply it');
    await waitForTarget(target, groups, new Map([...groups.keys()].map((name) => [name, walPosition(start)])), timeoutSeconds,
      () => `source position ${formatLsn(start)}`);
    const targetSnapshot = await beginSnapshot(target);
    const positions = await positionsIn(target, groups.keys());
    const ahead = new Map<string, Lsn>();
    for (const [name, p] of positions) if (p !== null && lsnOf(p) > start) ahead.set(name, lsnOf(p));
    const publications = [...ahead.keys()].map((name) => {
      const row = groups.get(name)?.row;
      return row?.publication_name ?? config.groups.find((g) => g.name === name)?.publication ?? `ferry_${name}`;
    });
    const changes = await readWindowChanges(replication, slot, tables.filter((t) => ahead.has(t.group)), ahead, publications);
    return {
      method: 'slot', sourcePosition: formatLsn(start), sourceSnapshot, targetSnapshot, changes, close,
      groups: [...groups].map(([group, g]) => {
        const position = positions.get(group) ?? null;
        return { group, position: position === null ? null : formatLsn(lsnOf(position)), running: g.running, caughtUp: position !== null && lsnOf(position) >= start };
      }),
    };
  } finally {
    // Closing the connection drops the temporary slot; the snapshot lives on in `source`.
    await replication.end().catch(() => undefined);
  }
}

async function emitMarker(url: string): Promise<void> {
  const client = await connect(url, { role: 'source', applicationName: 'ferry:verify' });
  try {
    await client.query(walSql.emitMarker, [`verify ${new Date().toISOString()}`]);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function slotError(err: unknown): FerryError {
  const pgErr = err as { code?: string; message?: string };
  const hint = pgErr.code === '53400'
    ? 'verify needs one free replication slot while groups are being applied: raise max_replication_slots on the source'
    : 'check that the source role has the REPLICATION privilege and that a replication slot is free';
  return new FerryError('FERRY_VERIFY_SLOT', `cannot read the source at a common point with the target: ${pgErr.message ?? String(err)}`, hint,
    { exitCode: ExitCode.usage, cause: err });
}
