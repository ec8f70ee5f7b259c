import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { resolveTables } from '../src/catalog/source-tables.js';
import { recordDescriptions } from '../src/init/record-descriptions.js';
import type { GroupStatus } from '../src/observe/status.js';
import { migrate } from '../src/pg/versioned-schema.js';
import { captureOf } from '../src/source/capture.js';
import { ensureTriggerSchema, installCapture } from '../src/source/pg-trigger/capture-install.js';
import { openCopySnapshot } from '../src/source/pg-trigger/ticks.js';
import { storedPosition } from '../src/source/position.js';
import { readGroups } from '../src/target/control-schema.js';
import { migrations, sql } from '../src/target/control-sql.js';
import { assertSameRows, catchUp, cliRun, run, startPair, targetPosition, triggerConfig, type Pair } from './support/harness.js';

/*
 * Until control schema version 8, positions were pg_lsn: an LSN, or a
 * trigger group's tick id written as one (and the key of a part of the
 * batch after it in position_part). A deployment set up then is rebuilt
 * here as that Ferry left it: the first seven migrations, and the rows its
 * init wrote, with real slots, queues and ticks on the source.
 */

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The control schema at version 7, made by that version's migrations. */
async function controlSchemaVersion7(url: string): Promise<void> {
  await withClient(url, async (client) => {
    await client.query('BEGIN');
    await client.query(sql.createSchema);
    await migrate(client, {
      name: "the target's ferry schema", tooNewCode: 'FERRY_CONTROL_VERSION', migrations: migrations.slice(0, 7),
      versionTableExists: `SELECT to_regclass('ferry.schema_version') IS NOT NULL AS present`,
      installedVersion: sql.installedVersion, setVersion: sql.setVersion,
    });
    await client.query('COMMIT');
  });
}

/** 8 bytes big-endian of a pg_lsn's text (or a tick written as one), as hex. */
const lsnHex = (lsn: string) => lsn.split('/').map((half) => half.padStart(8, '0')).join('').toLowerCase();

async function version(pair: Pair, database = 'app'): Promise<number> {
  return (await pair.target.query('SELECT version FROM ferry.schema_version', [], database)).rows[0]?.version as number;
}

describe('a deployment whose control schema is version 7 (positions as pg_lsn) keeps working', () => {
  let pair: Pair;
  let walConfig: string;
  let triggerConfigFile: string;
  /** Where the version-7 init left each group: the slot's start, the queue's tick (as pg_lsn text). */
  let walStart: string;
  let tick: string;

  before(async () => {
    pair = await startPair();
    const rows = `SELECT i, 'row ' || i FROM generate_series(1, 3) i`;
    await pair.sql('source', `CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items ${rows};
      CREATE TABLE notes (id int PRIMARY KEY, v text); INSERT INTO notes ${rows};
      CREATE PUBLICATION ferry_shop FOR TABLE items`);
    // What init copied under each group's snapshot.
    await pair.sql('target', `CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items ${rows};
      CREATE TABLE notes (id int PRIMARY KEY, v text); INSERT INTO notes ${rows}`);
    await controlSchemaVersion7(pair.target.url('app'));

    // WAL group shop: its slot's start is the position; one chunk copied under its snapshot.
    walStart = (await pair.sql('source', `SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot('ferry_shop', 'pgoutput')`)).rows[0]?.lsn as string;
    await pair.sql('target', `INSERT INTO ferry.groups (group_name, capture, state, slot_name, publication_name, tables, position_lsn, applied_at)
      VALUES ('shop', 'wal', 'streaming', 'ferry_shop', 'ferry_shop', '{public.items}', $1, now())`, [walStart]);
    await pair.sql('target', `INSERT INTO ferry.copy_chunks (group_name, table_name, chunk, chunk_count, plan, rows, bytes, format, snapshot_lsn, copied_at)
      VALUES ('shop', 'public.items', 0, 1, '{"kind": "whole", "schema": "public", "relation": "items", "only": true}', 3, 100, 'text', $1, now())`, [walStart]);

    // Trigger group desk: its queue and triggers, and the copy snapshot's tick as the position (tick 42 was written 0/2A).
    await withClient(pair.source.url('app'), async (source) => {
      const { tables } = await resolveTables(source, [{ schema: 'public', table: 'notes', pattern: false }]);
      await ensureTriggerSchema(source);
      await installCapture(source, 'desk', tables, Number((await source.query('SHOW server_version_num')).rows[0]?.server_version_num));
      const snapshot = await openCopySnapshot(pair.source.url('app'), 'desk');
      await snapshot.close();
      const id = BigInt((await source.query(`SELECT max(tick_id)::text AS id FROM ferry.ticks WHERE group_name = 'desk'`)).rows[0]?.id as string);
      tick = `${(id >> 32n).toString(16).toUpperCase()}/${(id & 0xffff_ffffn).toString(16).toUpperCase()}`;
      await pair.sql('target', `INSERT INTO ferry.groups (group_name, capture, state, tables, position_lsn, applied_at)
        VALUES ('desk', 'trigger', 'streaming', '{public.notes}', $1, now())`, [tick]);
      await withClient(pair.target.url('app'), (target) => recordDescriptions(source, target, 'desk', tables));
    });

    // Written after both snapshots: only the streams bring them.
    for (const table of ['items', 'notes']) {
      await pair.sql('source', `INSERT INTO ${table} VALUES (4, 'row 4'); UPDATE ${table} SET v = 'changed' WHERE id = 1; DELETE FROM ${table} WHERE id = 2`);
    }
    walConfig = await pair.config({ shop: ['public.items'] });
    triggerConfigFile = await triggerConfig(pair, { desk: ['public.notes'] });
  });

  after(async () => {
    await pair?.stop();
  });

  test('the first command of this version upgrades the schema; status shows each position as before', async () => {
    assert.equal(await version(pair), 7);
    const wal = await cliRun(['status', '-c', walConfig, '--json']);
    assert.equal(wal.code, 0, wal.stderr);
    assert.equal(await version(pair), migrations.length, 'the control schema is at this version');
    assert.equal((JSON.parse(wal.stdout) as GroupStatus[])[0]?.appliedPosition, walStart, 'the WAL group stands at its slot\'s start');
    const trigger = await cliRun(['status', '-c', triggerConfigFile, '--json']);
    assert.equal(trigger.code, 0, trigger.stderr);
    assert.equal((JSON.parse(trigger.stdout) as GroupStatus[])[0]?.appliedPosition, `tick ${BigInt(`0x${lsnHex(tick)}`)}`, 'the trigger group stands at its tick');
    const stored = (await pair.sql('target', `SELECT encode(position, 'hex') AS p FROM ferry.groups WHERE group_name = 'shop'`)).rows[0]?.p;
    assert.equal(stored, lsnHex(walStart), 'a WAL position is its LSN, 8 bytes big-endian');
    const chunk = (await pair.sql('target', `SELECT encode(snapshot_position, 'hex') AS p FROM ferry.copy_chunks WHERE group_name = 'shop'`)).rows[0]?.p;
    assert.equal(chunk, lsnHex(walStart), 'the copied chunk keeps the position of its snapshot');
  });

  test('ferry run streams both groups on from their positions: the changes made since arrive, nothing twice', async () => {
    const wal = await run(walConfig);
    const trigger = await run(triggerConfigFile);
    try {
      await catchUp(walConfig);
      await catchUp(triggerConfigFile);
    } finally {
      assert.deepEqual([...await wal.stop(), ...await trigger.stop()], []);
    }
    assert.equal(await assertSameRows(pair, 'items'), 3);
    assert.equal(await assertSameRows(pair, 'notes'), 3);
    const moved = (await pair.sql('source', `SELECT $1::pg_lsn > $2::pg_lsn AS moved`, [await targetPosition(pair, 'shop'), walStart])).rows[0]?.moved;
    assert.equal(moved, true, 'the WAL group\'s position moved past the slot\'s start');
    assert.match(await targetPosition(pair, 'desk') ?? '', /^tick \d+$/);
    assert.notEqual(await targetPosition(pair, 'desk'), `tick ${BigInt(`0x${lsnHex(tick)}`)}`, 'the trigger group\'s position moved past its tick');
  });

  test('every stored form converts: a part of a batch, held changes, copy snapshots, a group not set up yet; the order stays the stream\'s', async () => {
    await pair.target.query('CREATE DATABASE legacy');
    const url = pair.target.url('legacy');
    await controlSchemaVersion7(url);
    const q = (text: string, params: unknown[] = []) => pair.target.query(text, params, 'legacy');
    await q(`INSERT INTO ferry.groups (group_name, capture, state, tables, position_lsn, position_part, part_events, part_events_total) VALUES
      ('w', 'wal', 'streaming', '{}', '16/B374D848', NULL, NULL, NULL),
      ('t', 'trigger', 'streaming', '{}', '0/2A', 12345, 10, 20),
      ('u', 'trigger', 'streaming', '{}', '0/2B', NULL, NULL, NULL),
      ('c', 'wal', 'copying', '{}', NULL, NULL, NULL, NULL)`);
    await q(`INSERT INTO ferry.copy_chunks (group_name, table_name, chunk, chunk_count, plan, snapshot_lsn) VALUES
      ('w', 'public.a', 0, 2, '{}', '16/B3000000'), ('w', 'public.a', 1, 2, '{}', NULL)`);
    await q(`INSERT INTO ferry.held_changes (group_name, table_name, position, change) VALUES ('t', 'public.b', '0/29', '{}')`);

    const groups = await withClient(url, readGroups);
    assert.equal(await version(pair, 'legacy'), migrations.length);
    const shown = new Map(groups.map((g) => [g.group_name, g.position === null ? null : captureOf(g.capture as 'wal' | 'trigger').formatPosition(g.position)]));
    assert.deepEqual(Object.fromEntries(shown), { c: null, t: 'tick 42, part 12345', u: 'tick 43', w: '16/B374D848' });
    const byName = new Map(groups.map((g) => [g.group_name, g]));
    assert.equal(byName.get('t')?.part_events, '10', 'the progress through the batch stays');
    const t = byName.get('t')?.position as string;
    const u = byName.get('u')?.position as string;
    assert.ok(t > lsnHex('0/2A') && t < u, `a part lies after its tick and before the next one: ${lsnHex('0/2A')} < ${t} < ${u}`);
    const sqlOrder = (await q(`SELECT array_agg(group_name ORDER BY position) AS o FROM ferry.groups WHERE capture = 'trigger'`)).rows[0]?.o;
    assert.deepEqual(sqlOrder, ['t', 'u'], 'the target orders them the same way');
    const chunks = (await q(`SELECT chunk, encode(snapshot_position, 'hex') AS p FROM ferry.copy_chunks ORDER BY chunk`)).rows;
    assert.deepEqual(chunks, [{ chunk: 0, p: lsnHex('16/B3000000') }, { chunk: 1, p: null }]);
    const held = (await q(`SELECT encode(position, 'hex') AS p FROM ferry.held_changes`)).rows[0]?.p as string;
    assert.equal(captureOf('trigger').formatPosition(storedPosition(held)), 'tick 41');
  });
});
