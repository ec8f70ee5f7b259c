import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { startMariaDb, type MariaDb } from '../src/embedded/mariadb.js';
import { FerryError } from '../src/errors.js';
import type { Position } from '../src/source/position.js';
import type { SourceEvent } from '../src/source/source.js';
import { BinlogChanges, ReloadNeeded, type BinlogChangesOptions } from '../src/source/mysql-binlog/binlog-changes.js';
import type { BinlogEvent } from '../src/source/mysql-binlog/binlog-decoder.js';
import type { FilePosition } from '../src/source/mysql-binlog/binlog-position.js';
import { binlogPosition, formatBinlogPosition } from '../src/source/mysql-binlog/binlog-stream-position.js';
import { BinlogStream } from '../src/source/mysql-binlog/binlog-stream.js';
import { statementEffect, tokenize } from '../src/source/mysql-binlog/ddl-statement.js';
import { relationIdOf, type GroupTable } from '../src/source/mysql-binlog/group-table.js';
import { readMySqlTable } from '../src/source/mysql-binlog/mysql-catalog.js';
import { targetTable } from '../src/source/mysql-binlog/target-table.js';
import { DEFAULT_TYPE_MAP_OPTIONS } from '../src/source/mysql-binlog/type-map.js';

/*
 * Binlog events of a real MariaDB turned into the change model for one
 * group: the events the applier gets, their values as the type map writes
 * them, their positions, and the schema changes that stop the stream.
 */

let db: MariaDb;
let nextServerId = 2000;

before(async () => {
  db = await startMariaDb();
  await db.query('CREATE DATABASE app');
});

after(async () => {
  await db?.stop();
});

async function filePosition(): Promise<FilePosition> {
  const [row] = await db.query<{ File: string; Position: string }[]>('SHOW MASTER STATUS');
  assert.ok(row, 'SHOW MASTER STATUS returned no row: is the binlog on?');
  return { file: row.File, offset: Number(row.Position) };
}

async function groupTable(name: string): Promise<GroupTable> {
  const connection = await mysql.createConnection({ uri: db.url('app') });
  try {
    const source = await readMySqlTable(connection, 'app', name);
    return { source, target: targetTable(source, DEFAULT_TYPE_MAP_OPTIONS), relationId: relationIdOf('app', name) };
  } finally {
    await connection.end();
  }
}

function tablesOf(tables: readonly GroupTable[]): Map<string, GroupTable> {
  return new Map(tables.map((t) => [`${t.source.database}.${t.source.name}`, t]));
}

function changesFor(tables: readonly GroupTable[], options: BinlogChangesOptions = {}): BinlogChanges {
  return new BinlogChanges(tablesOf(tables), DEFAULT_TYPE_MAP_OPTIONS, 'g1', { idleIntervalMs: 0, ...options });
}

/** Every source event from `start` to the binlog's current end. */
async function readChanges(start: FilePosition, changes: BinlogChanges): Promise<SourceEvent[]> {
  const stream = await BinlogStream.open(db.url('', 'replication'), { kind: 'file', position: start }, { serverId: nextServerId++, nonBlocking: true });
  const out: SourceEvent[] = [];
  for await (const event of stream) out.push(...await changes.pushSettled(event));
  assert.equal(changes.inTransaction, false, 'the binlog ended inside a transaction');
  return out;
}

/** The events without positions and times: what a test compares. */
function shapes(events: readonly SourceEvent[]): unknown[] {
  return events.map((e) => {
    switch (e.kind) {
      case 'begin': return 'begin';
      case 'commit': return 'commit';
      case 'idle': return 'idle';
      case 'relation': return ['relation', e.relation.table, e.relation.replicaIdentity, e.relation.columns.map((c) => `${c.name}${c.isKey ? '*' : ''}`)];
      case 'insert': return ['insert', e.values];
      case 'update': return ['update', e.old ?? null, e.oldIsKeyOnly, e.values];
      case 'delete': return ['delete', e.old, e.oldIsKeyOnly];
      case 'truncate': return ['truncate', e.relationIds];
      default: return e.kind;
    }
  });
}

/** Commit and idle positions strictly increase; each transaction's begin comes before its end. */
function assertPositions(events: readonly SourceEvent[], from: FilePosition): void {
  let last: Position = binlogPosition(from);
  let begin: Position | undefined;
  for (const e of events) {
    if (e.kind === 'begin') {
      assert.ok(e.commitPosition >= last, `begin at ${formatBinlogPosition(e.commitPosition)} is not before ${formatBinlogPosition(last)}`);
      begin = e.commitPosition;
    }
    if (e.kind === 'commit' || e.kind === 'idle') {
      assert.ok(e.position > last, `${e.kind} at ${formatBinlogPosition(e.position)} after ${formatBinlogPosition(last)}`);
      if (e.kind === 'commit') assert.ok(begin !== undefined && begin < e.position, 'commitPosition(begin) < position(end)');
      last = e.position;
      begin = undefined;
    }
  }
}

describe('binlog changes against MariaDB', () => {
  test('multi-statement transactions become begin, relation, mapped inserts/updates/deletes, commit; other tables give idle', async () => {
    await db.query(`CREATE TABLE app.items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(10,2) UNSIGNED, seen DATETIME(3), flag TINYINT(1));
      CREATE TABLE app.noise (id INT PRIMARY KEY)`);
    const items = await groupTable('items');
    const start = await filePosition();
    await db.query(`BEGIN;
      INSERT INTO app.items VALUES (1, 'one', 9.99, '2024-01-02 03:04:05.123', 1), (2, 'two', NULL, NULL, 0);
      UPDATE app.items SET name = 'uno', price = price + 1 WHERE id = 1;
      INSERT INTO app.noise VALUES (1);
      DELETE FROM app.items WHERE id = 2;
      COMMIT`);
    await db.query('INSERT INTO app.noise VALUES (2)');
    await db.query('BEGIN; UPDATE app.noise SET id = 3 WHERE id = 2; UPDATE app.items SET id = 10, name = NULL WHERE id = 1; COMMIT');

    const events = await readChanges(start, changesFor([items]));
    assert.deepEqual(shapes(events), [
      'begin',
      ['relation', 'items', 'default', ['id*', 'name', 'price', 'seen', 'flag']],
      ['insert', ['1', 'one', '9.99', '2024-01-02 03:04:05.123', '1']],
      ['insert', ['2', 'two', null, null, '0']],
      ['update', null, false, ['1', 'uno', '10.99', '2024-01-02 03:04:05.123', '1']],
      ['delete', ['2', 'two', null, null, '0'], true],
      'commit',
      'idle',
      'begin',
      ['update', ['1', 'uno', '10.99', '2024-01-02 03:04:05.123', '1'], true, ['10', null, '10.99', '2024-01-02 03:04:05.123', '1']],
      'commit',
    ]);
    const relation = events.find((e) => e.kind === 'relation');
    assert.ok(relation?.kind === 'relation');
    assert.equal(relation.relation.relationId, items.relationId);
    assert.equal(relation.relation.schema, 'app');
    assertPositions(events, start);
    const begin = events[0];
    assert.ok(begin?.kind === 'begin');
    const seconds = Number(begin.commitTime / 1_000_000n) + 946_684_800;
    assert.ok(Math.abs(seconds - Date.now() / 1000) < 120, 'the commit time is the binlog event\'s, on PostgreSQL\'s clock');
  });

  test('a table without a primary key is identified by its unique NOT NULL key, one without either by every column', async () => {
    await db.query(`CREATE TABLE app.by_code (code VARCHAR(10) NOT NULL, n INT, UNIQUE KEY (code));
      CREATE TABLE app.loose (a INT, b VARCHAR(5))`);
    const [byCode, loose] = await Promise.all([groupTable('by_code'), groupTable('loose')]);
    const start = await filePosition();
    await db.query(`BEGIN; INSERT INTO app.by_code VALUES ('x', 1); UPDATE app.by_code SET n = 2; UPDATE app.by_code SET code = 'y';
      INSERT INTO app.loose VALUES (1, 'a'); UPDATE app.loose SET b = 'b'; DELETE FROM app.loose; COMMIT`);
    const events = await readChanges(start, changesFor([byCode, loose]));
    assert.deepEqual(shapes(events), [
      'begin',
      ['relation', 'by_code', 'index', ['code*', 'n']],
      ['insert', ['x', '1']],
      ['update', null, false, ['x', '2']],
      ['update', ['x', '2'], true, ['y', '2']],
      ['relation', 'loose', 'full', ['a', 'b']],
      ['insert', ['1', 'a']],
      ['update', ['1', 'a'], false, ['1', 'b']],
      ['delete', ['1', 'b'], false],
      'commit',
    ]);
  });

  test('TRUNCATE of a group table, qualified or by the default database, is a truncate; of another table, an idle', async () => {
    await db.query('CREATE TABLE app.emptied (id INT PRIMARY KEY); CREATE TABLE app.bystander (id INT PRIMARY KEY)');
    const emptied = await groupTable('emptied');
    const start = await filePosition();
    await db.query('INSERT INTO emptied VALUES (1); TRUNCATE TABLE emptied; TRUNCATE /* not emptied */ `app`.`bystander`; TRUNCATE app.emptied', undefined, 'app');
    const events = await readChanges(start, changesFor([emptied]));
    assert.deepEqual(shapes(events), [
      'begin', ['relation', 'emptied', 'default', ['id*']], ['insert', ['1']], 'commit',
      'begin', ['truncate', [emptied.relationId]], 'commit',
      'idle',
      'begin', ['truncate', [emptied.relationId]], 'commit',
    ]);
    assertPositions(events, start);
  });

  test('FLUSH BINARY LOGS mid-stream: positions keep increasing into the next files', async () => {
    await db.query('CREATE TABLE app.rolled (id INT PRIMARY KEY)');
    const rolled = await groupTable('rolled');
    const start = await filePosition();
    await db.query('INSERT INTO app.rolled VALUES (1); INSERT INTO app.noise VALUES (100)');
    await db.query('FLUSH BINARY LOGS');
    await db.query('INSERT INTO app.noise VALUES (101); INSERT INTO app.rolled VALUES (2)');
    await db.query('FLUSH BINARY LOGS');
    await db.query('INSERT INTO app.rolled VALUES (3)');
    const changes = changesFor([rolled]);
    const events = await readChanges(start, changes);
    assert.deepEqual(shapes(events), [
      'begin', ['relation', 'rolled', 'default', ['id*']], ['insert', ['1']], 'commit', 'idle',
      'idle', 'begin', ['insert', ['2']], 'commit',
      'begin', ['insert', ['3']], 'commit',
    ]);
    assertPositions(events, start);
    const commits = events.filter((e) => e.kind === 'commit').map((e) => e.kind === 'commit' && formatBinlogPosition(e.position).split(':')[0]);
    assert.equal(new Set(commits).size, 3, `one commit per binlog file: ${commits.join(', ')}`);
    assert.notEqual(changes.currentFile, start.file);
  });

  test('ALTER TABLE of a group table stops the stream with FERRY_SCHEMA_CHANGED naming group, table, statement and position', async () => {
    await db.query('CREATE TABLE app.altered (id INT PRIMARY KEY, note VARCHAR(10))');
    const altered = await groupTable('altered');
    const start = await filePosition();
    await db.query("INSERT INTO app.altered VALUES (1, 'a')");
    // The comment and the string name the table too: only the statement's own name counts.
    await db.query("/* ALTER TABLE app.noise */ ALTER TABLE `altered` ADD COLUMN extra INT DEFAULT 7 COMMENT 'ALTER TABLE app.noise'", undefined, 'app');
    await db.query("INSERT INTO app.altered VALUES (2, 'b', 8)");
    const listed = await db.query<{ Pos: string; Event_type: string; Info: string }[]>(`SHOW BINLOG EVENTS IN '${start.file}' FROM ${start.offset}`);
    const alter = listed.find((e) => e.Event_type === 'Query' && /ALTER TABLE/.test(e.Info));
    assert.ok(alter);
    const where = formatBinlogPosition(binlogPosition({ file: start.file, offset: Number(alter.Pos) }));

    const seen: SourceEvent[] = [];
    const changes = changesFor([altered]);
    const stream = await BinlogStream.open(db.url('', 'replication'), { kind: 'file', position: start }, { serverId: nextServerId++, nonBlocking: true });
    const err = await (async () => {
      for await (const event of stream) {
        const out = changes.push(event);
        assert.ok(!(out instanceof ReloadNeeded), 'without reload, push throws rather than asks');
        seen.push(...out);
      }
    })().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof FerryError, `expected a FerryError, got ${String(err)}`);
    assert.equal(err.code, 'FERRY_SCHEMA_CHANGED');
    assert.deepEqual(err.context, { group: 'g1', table: 'app.altered', position: where });
    assert.match(err.message, /group g1, table app\.altered, binlog position \d{6}:\d+: a schema change of app\.altered: .*ALTER TABLE `altered` ADD COLUMN extra INT/);
    assert.ok(err.message.includes(where));
    assert.match(err.hint ?? '', /change the target table app\.altered the same way .*then run `ferry run` again/);
    assert.deepEqual(shapes(seen), ['begin', ['relation', 'altered', 'default', ['id*', 'note']], ['insert', ['1', 'a']], 'commit'], 'what came before the ALTER');

    // Restarted with the catalog as it is now, from before the ALTER: the old TABLE_MAP does not match it.
    const now = await groupTable('altered');
    const stale = await readChanges(start, changesFor([now])).then(() => undefined, (e: unknown) => e);
    assert.ok(stale instanceof FerryError && stale.code === 'FERRY_SCHEMA_CHANGED', String(stale));
    assert.match(stale.message, /differs from the catalog .*the binlog has 2 columns, the catalog 3.*column extra: not in the binlog's row images/);
    assert.equal(stale.context.table, 'app.altered');

    // With a reload: the target lacks the new column, then has it.
    let targetNames: string[] = ['id', 'note'];
    const reloading = (): BinlogChanges => changesFor([altered], {
      reload: async (database, table) => {
        assert.deepEqual([database, table], ['app', 'altered']);
        return groupTable(table);
      },
      targetColumns: async () => targetNames,
    });
    const refused = await readChanges(start, reloading()).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof FerryError && refused.code === 'FERRY_SCHEMA_CHANGED', String(refused));
    assert.match(refused.message, /lacks column\(s\) extra/);
    assert.equal(refused.context.position, where);

    targetNames = ['id', 'note', 'extra'];
    const events = await readChanges(start, reloading());
    assert.deepEqual(shapes(events), [
      'begin', ['relation', 'altered', 'default', ['id*', 'note']], ['insert', ['1', 'a']], 'commit',
      'idle',
      'begin', ['relation', 'altered', 'default', ['id*', 'note', 'extra']], ['insert', ['2', 'b', '8']], 'commit',
    ]);
    assertPositions(events, start);
  });

  test('DROP, RENAME and CREATE OR REPLACE of a group table stop the stream; those of other tables do not', async () => {
    await db.query('CREATE TABLE app.kept (id INT PRIMARY KEY); CREATE TABLE app.gone (id INT PRIMARY KEY); CREATE TABLE app.moved (id INT PRIMARY KEY)');
    const [kept, gone, moved] = await Promise.all([groupTable('kept'), groupTable('gone'), groupTable('moved')]);
    const start = await filePosition();
    await db.query('CREATE TABLE app.scratch (id INT); RENAME TABLE app.scratch TO app.scratch2; DROP TABLE app.scratch2; CREATE INDEX i ON app.noise (id)');
    await db.query('DROP TABLE IF EXISTS `gone`', undefined, 'app');
    const onlyOthers = await readChanges(start, changesFor([kept]));
    assert.deepEqual(shapes(onlyOthers), ['idle', 'idle', 'idle', 'idle', 'idle']);
    const dropped = await readChanges(start, changesFor([kept, gone])).then(() => undefined, (e: unknown) => e);
    assert.ok(dropped instanceof FerryError && dropped.code === 'FERRY_SCHEMA_CHANGED', String(dropped));
    assert.match(dropped.message, /table app\.gone.*DROP TABLE/);
    assert.match(dropped.hint ?? '', /if app\.gone is gone for good, remove it from group g1; otherwise .*ferry resync -c <config> --table app\.gone/);
    // A reload cannot settle it: the rows may be others now.
    const reloadDrop = await readChanges(start, changesFor([kept, gone], { reload: (d, t) => groupTable(t), targetColumns: async () => ['id'] }))
      .then(() => undefined, (e: unknown) => e);
    assert.ok(reloadDrop instanceof FerryError && reloadDrop.code === 'FERRY_SCHEMA_CHANGED', String(reloadDrop));

    const next = await filePosition();
    await db.query('RENAME TABLE app.moved TO app.moved_away');
    const renamed = await readChanges(next, changesFor([moved])).then(() => undefined, (e: unknown) => e);
    assert.ok(renamed instanceof FerryError && renamed.code === 'FERRY_SCHEMA_CHANGED', String(renamed));
    assert.match(renamed.message, /table app\.moved,.*RENAME TABLE app\.moved TO app\.moved_away/);

    const last = await filePosition();
    await db.query('CREATE OR REPLACE TABLE app.kept (id BIGINT PRIMARY KEY)');
    const replaced = await readChanges(last, changesFor([kept])).then(() => undefined, (e: unknown) => e);
    assert.ok(replaced instanceof FerryError && replaced.code === 'FERRY_SCHEMA_CHANGED', String(replaced));
    assert.match(replaced.message, /table app\.kept,.*CREATE OR REPLACE TABLE/);
  });

  test('every column type\'s TABLE_MAP agrees with its catalog; a retyped column does not, and the error names it', async () => {
    await db.query(`CREATE TABLE app.typed (id INT PRIMARY KEY, a TINYINT UNSIGNED, b MEDIUMINT, c BIGINT UNSIGNED, d FLOAT, e DOUBLE, f BIT(10),
      g DATE, h TIME(3), i TIMESTAMP(6) NULL, j YEAR, k ENUM('x','y'), l SET('p','q'), m CHAR(5) CHARACTER SET utf8mb4, n BINARY(4),
      o VARBINARY(9), p TINYTEXT, q MEDIUMBLOB, r LONGTEXT, s JSON, t GEOMETRY, u POINT, v UUID, w INET6, x INET4,
      y VARCHAR(10) CHARACTER SET utf8mb4, z DECIMAL(12,4), dt DATETIME(2), tx TEXT CHARACTER SET utf8mb4)`);
    const typed = await groupTable('typed');
    const start = await filePosition();
    await db.query("INSERT INTO app.typed (id, k, y, z) VALUES (1, 'y', 'é', 1.5)");
    const events = await readChanges(start, changesFor([typed]));
    const insert = events.find((e) => e.kind === 'insert');
    assert.ok(insert?.kind === 'insert');
    assert.deepEqual([insert.values[11], insert.values[25], insert.values[26]], ['y', 'é', '1.5000']);

    await db.query('ALTER TABLE app.typed MODIFY y VARCHAR(20) CHARACTER SET utf8mb4, MODIFY b BIGINT, MODIFY z DECIMAL(14,4)');
    const after = await filePosition();
    await db.query('INSERT INTO app.typed (id) VALUES (2)');
    const err = await readChanges(after, changesFor([typed])).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof FerryError && err.code === 'FERRY_SCHEMA_CHANGED', String(err));
    assert.match(err.message, /column b: the binlog has type longlong, the catalog mediumint/);
    assert.match(err.message, /column y: up to 80 bytes in the binlog, varchar\(10\) utf8mb4/);
    assert.match(err.message, /column z: decimal\(14,4\) in the binlog, decimal\(12,4\)/);
  });

  test('other tables\' transactions give an idle at most once per interval; a statement-format write of a group table stops the stream', async () => {
    await db.query('CREATE TABLE app.stated (id INT PRIMARY KEY)');
    const stated = await groupTable('stated');
    const start = await filePosition();
    await db.query('INSERT INTO app.noise VALUES (200); INSERT INTO app.noise VALUES (201); INSERT INTO app.noise VALUES (202)');
    await db.query('INSERT INTO app.stated VALUES (1); INSERT INTO app.noise VALUES (203); INSERT INTO app.noise VALUES (204)');
    let clock = 0;
    const throttled = await readChanges(start, changesFor([stated], { idleIntervalMs: 1000, now: () => clock }));
    assert.deepEqual(shapes(throttled), ['idle', 'begin', ['relation', 'stated', 'default', ['id*']], ['insert', ['1']], 'commit']);
    clock = 5000;
    assert.deepEqual(shapes(await readChanges(start, changesFor([stated], { idleIntervalMs: 1000, now: () => (clock += 600) }))),
      ['idle', 'idle', 'begin', ['relation', 'stated', 'default', ['id*']], ['insert', ['1']], 'commit', 'idle'], 'one idle per 1000 ms of a clock 600 ms on at every look');

    const next = await filePosition();
    await db.query("SET SESSION binlog_format = 'STATEMENT'; INSERT INTO noise VALUES (300); UPDATE /* noise */ `stated` SET id = id + 1", undefined, 'app');
    const err = await readChanges(next, changesFor([stated])).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof FerryError && err.code === 'FERRY_BINLOG_STATEMENT', String(err));
    assert.match(err.message, /group g1, table app\.stated, binlog position \d{6}:\d+: rows were changed by a statement .*UPDATE \/\* noise \*\/ `stated` SET id = id \+ 1/);
    assert.match(err.hint ?? '', /ferry resync -c <config> --table app\.stated/);
  });

  test('a heartbeat between transactions is an idle at its position; one not past the last position, nothing', () => {
    const changes = changesFor([]);
    const header = { timestamp: 0, type: 27, serverId: 1, eventSize: 0, logPos: 0, flags: 0 };
    const here = { file: 'binlog.000003', offset: 400 };
    const heartbeat = (offset: number): BinlogEvent => ({ header, position: here, next: here, type: 'heartbeat', file: 'binlog.000003', offset });
    assert.deepEqual(changes.push(heartbeat(400)), [{ kind: 'idle', position: binlogPosition(here) }]);
    assert.deepEqual(changes.push(heartbeat(400)), []);
    assert.deepEqual(changes.push(heartbeat(500)), [{ kind: 'idle', position: binlogPosition({ file: 'binlog.000003', offset: 500 }) }]);
  });
});

describe('statement tokenizer', () => {
  test('quoted names, comments, strings and executable comments', () => {
    assert.deepEqual(statementEffect('TRUNCATE t', 'app'), { kind: 'truncate', table: { database: 'app', table: 't' } });
    assert.deepEqual(statementEffect('truncate table `my db`.`odd``name`', 'app'), { kind: 'truncate', table: { database: 'my db', table: 'odd`name' } });
    assert.deepEqual(statementEffect('-- ALTER TABLE x\n# DROP TABLE y\nSELECT 1', 'app'), { kind: 'other' });
    assert.deepEqual(statementEffect("INSERT INTO log VALUES ('ALTER TABLE t ADD x INT')", 'app'), { kind: 'dml', verb: 'INSERT', tables: [{ database: 'app', table: 'log' }] });
    assert.deepEqual(statementEffect('/*!40000 ALTER TABLE `t` DISABLE KEYS */', 'app'),
      { kind: 'schema', verb: 'ALTER TABLE', tables: [{ database: 'app', table: 't' }], databases: [], replacesRows: false });
    assert.deepEqual(statementEffect('ALTER ONLINE TABLE a.t RENAME TO b.u', ''),
      { kind: 'schema', verb: 'ALTER TABLE', tables: [{ database: 'a', table: 't' }, { database: 'b', table: 'u' }], databases: [], replacesRows: true });
    assert.deepEqual(statementEffect('ALTER TABLE t RENAME COLUMN a TO b', 'd'),
      { kind: 'schema', verb: 'ALTER TABLE', tables: [{ database: 'd', table: 't' }], databases: [], replacesRows: false });
    assert.deepEqual(statementEffect('ALTER TABLE t EXCHANGE PARTITION p WITH TABLE other', 'd').kind === 'schema'
      && statementEffect('ALTER TABLE t EXCHANGE PARTITION p WITH TABLE other', 'd'),
    { kind: 'schema', verb: 'ALTER TABLE', tables: [{ database: 'd', table: 't' }, { database: 'd', table: 'other' }], databases: [], replacesRows: true });
    assert.deepEqual(statementEffect('RENAME TABLE a TO b, c.d TO e', 'x'), {
      kind: 'schema', verb: 'RENAME TABLE', databases: [], replacesRows: true,
      tables: [{ database: 'x', table: 'a' }, { database: 'x', table: 'b' }, { database: 'c', table: 'd' }, { database: 'x', table: 'e' }],
    });
    assert.deepEqual(statementEffect('DROP TABLE IF EXISTS `a`, b.c /* generated by server */', 'x'),
      { kind: 'schema', verb: 'DROP TABLE', tables: [{ database: 'x', table: 'a' }, { database: 'b', table: 'c' }], databases: [], replacesRows: true });
    assert.deepEqual(statementEffect('DROP TEMPORARY TABLE IF EXISTS t', 'x'), { kind: 'other' });
    assert.deepEqual(statementEffect('DROP DATABASE IF EXISTS `app`', ''), { kind: 'schema', verb: 'DROP DATABASE', tables: [], databases: ['app'], replacesRows: true });
    assert.deepEqual(statementEffect('CREATE OR REPLACE TABLE t (id INT)', 'x'),
      { kind: 'schema', verb: 'CREATE OR REPLACE TABLE', tables: [{ database: 'x', table: 't' }], databases: [], replacesRows: true });
    assert.deepEqual(statementEffect('CREATE TABLE IF NOT EXISTS t (id INT)', 'x'), { kind: 'other' });
    assert.deepEqual(statementEffect('CREATE UNIQUE INDEX `u` ON t (a)', 'x'),
      { kind: 'schema', verb: 'CREATE INDEX', tables: [{ database: 'x', table: 't' }], databases: [], replacesRows: false });
    assert.deepEqual(statementEffect('"t"."u"', 'x'), { kind: 'other' });
    assert.deepEqual(statementEffect('TRUNCATE "s"."t"', 'x', 4n), { kind: 'truncate', table: { database: 's', table: 't' } });
    assert.deepEqual(statementEffect('INSERT LOW_PRIORITY INTO a.b (x) SELECT x FROM c JOIN `d` ON 1', 'z'),
      { kind: 'dml', verb: 'INSERT', tables: [{ database: 'a', table: 'b' }, { database: 'z', table: 'c' }, { database: 'z', table: 'd' }] });
    assert.deepEqual(statementEffect('UPDATE IGNORE t1, db.t2 SET t1.a = 1', 'z'),
      { kind: 'dml', verb: 'UPDATE', tables: [{ database: 'z', table: 't1' }, { database: 'db', table: 't2' }] });
    assert.deepEqual(statementEffect("DELETE FROM t WHERE note = 'FROM other'", 'z'), { kind: 'dml', verb: 'DELETE', tables: [{ database: 'z', table: 't' }] });
    assert.equal((statementEffect('ALTER TABLE t TRUNCATE PARTITION p1', 'x') as { replacesRows: boolean }).replacesRows, true);
    assert.equal((statementEffect('ALTER TABLE t DROP COLUMN partition_key, ADD PARTITION (PARTITION p2 VALUES LESS THAN (9))', 'x') as { replacesRows: boolean }).replacesRows, false);
    assert.deepEqual(tokenize("'it\\'s' `a` -- c\nb").map((t) => t.text), ["it's", 'a', 'b']);
    assert.deepEqual(tokenize("'a\\'", 1n << 21n).map((t) => t.text), ['a\\']);
  });
});
