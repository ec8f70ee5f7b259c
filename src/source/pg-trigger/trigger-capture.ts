import type pg from 'pg';
import { triggerConfig } from '../../config/schema.js';
import { sql } from '../../target/control-sql.js';
import { verifySql } from '../../verify/verify-sql.js';
import type { Capture } from '../capture.js';
import type { Position } from '../position.js';
import {
  addCaptureTables, dropTriggerSchemaIfUnused, ensureTriggerSchema, installCapture, queueExists, removeCaptureTables, uninstallCapture,
} from './capture-install.js';
import { queueMessagePlpgsql, recordQueueMessage } from './stream-message.js';
import type { KnownColumn } from './relation-layouts.js';
import { formatTick, insertTick, openCopySnapshot, tickOf, tickPosition } from './ticks.js';
import { TriggerStream } from './trigger-stream.js';
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

  formatPosition(position) {
    const { tick, part } = tickOf(position);
    return formatTick(tick, part);
  },

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
    log.info({ position: triggerCapture.formatPosition(snapshot.position) }, 'capture triggers installed');
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

  async openStream({ config, group, startAfter, target, log }) {
    const { tickIntervalMs, idleTickMs, rotateIntervalMs } = triggerConfig(config);
    const { tick, part } = tickOf(startAfter);
    return TriggerStream.open({
      url: config.source.url, group: group.name, startAfter: tick, ...(part !== null ? { startAfterPart: part } : {}),
      tickIntervalMs, idleTickMs, rotateIntervalMs, knownColumns: await knownColumns(target, group.name), log,
    });
  },

  async writeMarker(source, groups) {
    // A tick in each queue: its snapshot sees everything committed so far, and ferry run applies every tick in turn.
    const positions = new Map<string, Position>();
    const shown: string[] = [];
    for (const g of groups) {
      if (!(await queueExists(source, g.name))) continue;
      const tick = await insertTick(source, g.name);
      positions.set(g.name, tickPosition(tick));
      shown.push(`${formatTick(tick)} (${g.name})`);
    }
    return { positions, shown: shown.join(', ') };
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

/**
 * The columns the target last recorded for each source table of the group:
 * where a trigger queue's rows after the group's position start from.
 */
async function knownColumns(target: pg.Client, group: string): Promise<Map<number, readonly KnownColumn[]>> {
  const rows = (await target.query<{ relation_id: string; columns: KnownColumn[] }>(sql.groupKnownColumns, [group])).rows;
  return new Map(rows.map((r) => [Number(r.relation_id), r.columns]));
}
