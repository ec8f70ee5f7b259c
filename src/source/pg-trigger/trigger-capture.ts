import { verifySql } from '../../verify/verify-sql.js';
import type { Capture } from '../capture.js';
import {
  addCaptureTables, dropTriggerSchemaIfUnused, ensureTriggerSchema, installCapture, queueExists, removeCaptureTables, uninstallCapture,
} from './capture-install.js';
import { queueMessagePlpgsql, recordQueueMessage } from './stream-message.js';
import { formatTick, insertTick, openCopySnapshot } from './ticks.js';
import { readTriggerSettings, triggerProblems } from './trigger-prerequisites.js';
import { triggerStatus } from './trigger-status.js';
import { atTicks } from './verify-window.js';

/**
 * Trigger capture: row triggers write each change into the group's queue
 * inside the source, and ticks (transaction snapshots) cut it into batches.
 * The position is the last tick applied, and inside a batch applied in
 * parts, the key of the last transaction of it applied.
 */
export const triggerCapture: Capture = {
  name: 'trigger',

  formatPosition: (position) => formatTick(position),

  async prerequisites(source, tables, fresh) {
    const settings = await readTriggerSettings(source);
    return { problems: await triggerProblems(source, settings, tables, fresh.map((g) => g.name)), warnings: [] };
  },

  prepareSource: ensureTriggerSchema,

  isSetUp(source, group) {
    return queueExists(source, group.name);
  },

  async setUp({ url, source, group, serverVersion, log }, tables) {
    // What an interrupted attempt installed goes first: its queue holds changes no copy lines up with.
    await uninstallCapture(source, group.name);
    await installCapture(source, group.name, tables, serverVersion);
    const snapshot = await openCopySnapshot(url, group.name);
    log.info({ position: formatTick(snapshot.position) }, 'capture triggers installed');
    return snapshot;
  },

  copySnapshot({ url, group }) {
    return openCopySnapshot(url, group.name);
  },

  addTables({ source, group }, tables) {
    return addCaptureTables(source, group.name, tables);
  },

  removeTables({ source, group }, tables) {
    return removeCaptureTables(source, group.name, tables);
  },

  sourceObjects() {
    return { slot: null, publication: null };
  },

  async removeGroup(source, group, log) {
    const removed = await uninstallCapture(source, group.name);
    log.info({ group: group.name, removed }, 'dropped capture triggers and queue');
  },

  async removeShared(source, log) {
    if (await dropTriggerSchemaIfUnused(source)) log.info('dropped the ferry schema on the source');
  },

  async writeMarker(source, groups) {
    // A tick in each queue: its snapshot sees everything committed so far, and ferry run applies every tick in turn.
    const positions = new Map<string, bigint>();
    for (const g of groups) if (await queueExists(source, g.name)) positions.set(g.name, await insertTick(source, g.name));
    return { positions, shown: [...positions].map(([g, tick]) => `${formatTick(tick)} (${g})`).join(', ') };
  },

  status: triggerStatus,

  async sourcePoint(source) {
    return `txid snapshot ${(await source.query<{ snapshot: string }>(verifySql.txidSnapshot)).rows[0]?.snapshot as string}`;
  },

  verifyWindow: atTicks,

  recordMessage: recordQueueMessage,
  recordMessageSql: queueMessagePlpgsql,
  carriesMessages: () => true,
};
