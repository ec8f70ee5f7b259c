import type pg from 'pg';
import { identityProblems } from '../../catalog/table-checks.js';
import type { FerryConfig, GroupConfig } from '../../config/schema.js';
import type { Logger } from '../../observe/logger.js';
import { connect } from '../../pg/connect.js';
import { verifySql } from '../../verify/verify-sql.js';
import type { Capture } from '../capture.js';
import { binaryTransferBlocker } from './binary-transfer.js';
import { formatLsn, lsnOf, parseLsn, walPosition } from './lsn.js';
import { preparePublication, publishPartitionsThemselves } from './partition-publishing.js';
import { readWalSettings, unlimitedSlotWalWarning, walProblems } from './prerequisites.js';
import { addPublicationTables, removePublicationTables } from './publication-tables.js';
import { dropSlot, slotSnapshot } from './slots.js';
import { recordWalMessage, walMessagePlpgsql } from './stream-message.js';
import { atSlot } from './verify-window.js';
import { WalStream } from './wal-stream.js';
import { walSql } from './wal-setup-sql.js';
import { walStatus } from './wal-status.js';

/**
 * WAL capture: logical decoding with pgoutput, one publication and one slot
 * per group. The position is the commit end LSN of the last transaction
 * applied (or a later point the source was idle at).
 */
export const walCapture: Capture = {
  name: 'wal',

  formatPosition: (position) => formatLsn(lsnOf(position)),

  async prerequisites(source, tables, fresh) {
    const settings = await readWalSettings(source);
    const who = (await source.query<{ user_name: string; database: string }>(walSql.whoAmI)).rows[0] as { user_name: string; database: string };
    const problems = await walProblems(source, settings, who.user_name, who.database, tables, fresh.length);
    for (const table of tables) problems.push(...identityProblems(table));
    for (const group of fresh) {
      if ((await source.query(walSql.slot, [group.slot])).rows.length > 0) {
        problems.push(`group ${group.name}: replication slot ${group.slot} already exists on the source but the target has no record of it: ` +
          `drop it (SELECT pg_drop_replication_slot('${group.slot}');) or set another slot name for the group`);
      }
    }
    const warning = await unlimitedSlotWalWarning(source);
    return { problems, warnings: warning === undefined ? [] : [{ code: 'FERRY_SLOT_WAL_UNLIMITED', message: warning }] };
  },

  async prepareSource() {
    // Slots and publications are per group: nothing is shared.
  },

  async isSetUp(source, group) {
    return (await source.query(walSql.slot, [group.slot])).rows.length > 0;
  },

  async setUp({ url, source, group, log }, tables) {
    // A slot of an interrupted attempt holds a start whose snapshot is gone.
    await dropSlot(source, group.slot);
    const published = (await source.query<{ present: boolean }>(walSql.publicationExists, [group.publication])).rows[0]?.present;
    await source.query(published ? walSql.setPublicationTables(group.publication, tables) : walSql.createPublication(group.publication, tables));
    await publishPartitionsThemselves(source, group.publication, log);
    const snapshot = await slotSnapshot(url, `ferry:${group.name}:init`, group.slot, false);
    log.info({ slot: group.slot, position: formatLsn(lsnOf(snapshot.position)) }, 'slot created');
    return snapshot;
  },

  copySnapshot({ url, group }) {
    // Temporary: it lives as long as the connection, which the copy needs open for the snapshot anyway.
    return slotSnapshot(url, `ferry:${group.name}:snapshot`, `${group.slot.slice(0, 56)}_copy`, true);
  },

  async addTables({ source, group, log }, tables) {
    await addPublicationTables(source, group.name, group.publication, tables);
    await publishPartitionsThemselves(source, group.publication, log);
  },

  removeTables({ source, group }, tables) {
    return removePublicationTables(source, group.publication, tables);
  },

  sourceObjects(group) {
    return { slot: group.slot, publication: group.publication };
  },

  async removeGroup(source, group, log) {
    const dropped = await dropSlot(source, group.slot);
    await source.query(walSql.dropPublication(group.publication));
    log.info({ group: group.name, slot: group.slot, slotDropped: dropped, publication: group.publication }, 'dropped source objects');
  },

  async removeShared() {
    // Nothing is shared.
  },

  async openStream({ config, group, startAfter, target, binary, log }) {
    await preparePublication(config.source.url, group.name, group.publication, log);
    return WalStream.open({
      url: config.source.url,
      group: group.name,
      slot: group.slot,
      publication: group.publication,
      startAfter: lsnOf(startAfter),
      spillDir: config.apply.spillDir,
      statusIntervalMs: config.apply.statusIntervalMs,
      binary: binary && await binaryAllowed(config, group, target, log),
    });
  },

  async writeMarker(source, groups, label) {
    // A transactional message passes through every slot of the database, so even an idle group's stream moves past it.
    const marker = parseLsn((await source.query<{ lsn: string }>(walSql.emitMarker, [label])).rows[0]?.lsn ?? '0/0');
    return { positions: new Map(groups.map((g) => [g.name, walPosition(marker)])), shown: formatLsn(marker) };
  },

  status: walStatus,

  async sourcePoint(source) {
    return (await source.query<{ lsn: string }>(verifySql.currentLsn)).rows[0]?.lsn as string;
  },

  verifyWindow: atSlot,

  recordMessage: recordWalMessage,
  recordMessageSql: walMessagePlpgsql,
  // pgoutput sends logical decoding messages from PostgreSQL 14 on (its `messages` option).
  carriesMessages: (version) => version >= 140000,
};

/** Whether this group's values may stream in binary now (see binary-transfer.ts); says why not at debug level. */
async function binaryAllowed(config: FerryConfig, group: GroupConfig, target: pg.Client, log: Logger): Promise<boolean> {
  const source = await connect(config.source.url, { role: 'source', applicationName: `ferry:${group.name}:types` });
  try {
    const blocker = await binaryTransferBlocker(source, target, group.publication);
    if (blocker !== undefined) log.debug({ reason: blocker }, 'values stream as text');
    return blocker === undefined;
  } finally {
    await source.end().catch(() => undefined);
  }
}
