import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startMariaDb, type MariaDb } from '../src/embedded/mariadb.js';
import { FerryError } from '../src/errors.js';
import type { DumpStart } from '../src/source/mysql-binlog/binlog-connection.js';
import type { BinlogEvent } from '../src/source/mysql-binlog/binlog-decoder.js';
import { parseMariaDbGtidList, type FilePosition } from '../src/source/mysql-binlog/binlog-position.js';
import { BinlogStream } from '../src/source/mysql-binlog/binlog-stream.js';
import { TransactionAssembler, type BinlogTransaction } from '../src/source/mysql-binlog/binlog-transactions.js';
import type { RowImage } from '../src/source/mysql-binlog/rows-event.js';

/*
 * The binlog reader against a real MariaDB 10.11 (Debian's package): every
 * event decoded here was written by the server and sent over its
 * replication protocol. One server for the file; each test reads from a
 * position it took before its own writes.
 */

let db: MariaDb;
let nextServerId = 1000;

before(async () => {
  db = await startMariaDb();
  await db.query('CREATE DATABASE app');
});

after(async () => {
  await db?.stop();
});

async function gtidPosition(): Promise<DumpStart> {
  const [row] = await db.query<{ pos: string }[]>('SELECT @@gtid_binlog_pos AS pos');
  return { kind: 'mariadb-gtid', gtids: parseMariaDbGtidList(row?.pos ?? '') };
}

async function filePosition(): Promise<FilePosition> {
  const [row] = await db.query<{ File: string; Position: string }[]>('SHOW MASTER STATUS');
  assert.ok(row, 'SHOW MASTER STATUS returned no row: is the binlog on?');
  return { file: row.File, offset: Number(row.Position) };
}

async function open(start: DumpStart, options: { nonBlocking?: boolean; highWater?: number; heartbeatSeconds?: number } = {}): Promise<BinlogStream> {
  return BinlogStream.open(db.url('', 'replication'), start, { serverId: nextServerId++, nonBlocking: options.nonBlocking ?? true, ...options });
}

/** Everything from `start` to the current end of the binlog: its events and the transactions they make. */
async function readAll(start: DumpStart): Promise<{ events: BinlogEvent[]; transactions: BinlogTransaction[] }> {
  const stream = await open(start);
  const assembler = new TransactionAssembler();
  const events: BinlogEvent[] = [];
  const transactions: BinlogTransaction[] = [];
  for await (const event of stream) {
    events.push(event);
    const t = assembler.push(event);
    if (t) transactions.push(t);
  }
  assert.equal(assembler.inTransaction, false, 'the binlog ended inside a transaction');
  return { events, transactions };
}

function rowsOf(t: BinlogTransaction | undefined, table: string): { before?: RowImage; after?: RowImage }[] {
  assert.ok(t, 'missing transaction');
  return t.changes.flatMap((c) => (c.kind === 'rows' && c.table.table === table ? c.rows.rows : []));
}

/** A column of the all-types table: its DDL, and SQL that shows its value the way the decoder writes it. */
interface TypeColumn {
  readonly name: string;
  readonly ddl: string;
  /** SQL giving the decoder's form of the value; `hex` compares bytes as HEX(); `float` compares as float32. */
  readonly select?: string;
  readonly as?: 'hex' | 'float' | 'double';
}

const COLUMNS: readonly TypeColumn[] = [
  { name: 'c_tiny', ddl: 'TINYINT' },
  { name: 'c_utiny', ddl: 'TINYINT UNSIGNED' },
  { name: 'c_small', ddl: 'SMALLINT' },
  { name: 'c_usmall', ddl: 'SMALLINT UNSIGNED' },
  { name: 'c_medium', ddl: 'MEDIUMINT' },
  { name: 'c_umedium', ddl: 'MEDIUMINT UNSIGNED' },
  { name: 'c_int', ddl: 'INT' },
  { name: 'c_uint', ddl: 'INT UNSIGNED' },
  { name: 'c_big', ddl: 'BIGINT' },
  { name: 'c_ubig', ddl: 'BIGINT UNSIGNED' },
  { name: 'c_dec', ddl: 'DECIMAL(65,30)' },
  { name: 'c_dec2', ddl: 'DECIMAL(10,2)' },
  { name: 'c_dec0', ddl: 'DECIMAL(18,0) UNSIGNED' },
  { name: 'c_float', ddl: 'FLOAT', select: 'c_float', as: 'float' },
  { name: 'c_double', ddl: 'DOUBLE', select: 'c_double', as: 'double' },
  { name: 'c_date', ddl: 'DATE' },
  { name: 'c_time', ddl: 'TIME' },
  { name: 'c_time3', ddl: 'TIME(3)' },
  { name: 'c_time6', ddl: 'TIME(6)' },
  { name: 'c_dt', ddl: 'DATETIME' },
  { name: 'c_dt1', ddl: 'DATETIME(1)' },
  { name: 'c_dt4', ddl: 'DATETIME(4)' },
  { name: 'c_dt6', ddl: 'DATETIME(6)' },
  { name: 'c_ts', ddl: 'TIMESTAMP NULL', select: "CONCAT(CAST(c_ts AS CHAR), '+00')" },
  { name: 'c_ts2', ddl: 'TIMESTAMP(2) NULL', select: "CONCAT(CAST(c_ts2 AS CHAR), '+00')" },
  { name: 'c_ts6', ddl: 'TIMESTAMP(6) NULL', select: "CONCAT(CAST(c_ts6 AS CHAR), '+00')" },
  { name: 'c_year', ddl: 'YEAR', select: 'CAST(c_year + 0 AS CHAR)' },
  { name: 'c_bit1', ddl: 'BIT(1)', select: "LPAD(BIN(c_bit1), 1, '0')" },
  { name: 'c_bit10', ddl: 'BIT(10)', select: "LPAD(BIN(c_bit10), 10, '0')" },
  { name: 'c_bit64', ddl: 'BIT(64)', select: "LPAD(BIN(c_bit64), 64, '0')" },
  { name: 'c_enum', ddl: "ENUM('a','b','c d')" },
  { name: 'c_set', ddl: "SET('x','y','z')" },
  { name: 'c_char', ddl: 'CHAR(10)' },
  { name: 'c_char_utf8', ddl: 'CHAR(100) CHARACTER SET utf8mb4' },
  { name: 'c_varchar', ddl: 'VARCHAR(300) CHARACTER SET utf8mb4' },
  { name: 'c_varchar_latin1', ddl: 'VARCHAR(20) CHARACTER SET latin1' },
  { name: 'c_binary', ddl: 'BINARY(4)', as: 'hex' },
  { name: 'c_varbinary', ddl: 'VARBINARY(300)', as: 'hex' },
  { name: 'c_tinytext', ddl: 'TINYTEXT CHARACTER SET utf8mb4' },
  { name: 'c_text', ddl: 'TEXT CHARACTER SET utf8mb4' },
  { name: 'c_mediumtext', ddl: 'MEDIUMTEXT' },
  { name: 'c_longtext', ddl: 'LONGTEXT CHARACTER SET utf8mb4' },
  { name: 'c_tinyblob', ddl: 'TINYBLOB', as: 'hex' },
  { name: 'c_blob', ddl: 'BLOB', as: 'hex' },
  { name: 'c_mediumblob', ddl: 'MEDIUMBLOB', as: 'hex' },
  { name: 'c_longblob', ddl: 'LONGBLOB', as: 'hex' },
  { name: 'c_json', ddl: 'JSON' },
  { name: 'c_geometry', ddl: 'GEOMETRY', as: 'hex' },
  { name: 'c_point', ddl: 'POINT', as: 'hex' },
];

const TYPICAL = {
  c_tiny: -12, c_utiny: 200, c_small: -1234, c_usmall: 60000, c_medium: -123456, c_umedium: 16000000, c_int: -123456789,
  c_uint: 4000000000, c_big: '-1234567890123', c_ubig: '12345678901234567890',
  c_dec: '-12345678901234567890123456789012345.123456789012345678901234567890', c_dec2: '-0.05', c_dec0: '999999999999999999',
  c_float: 3.14159, c_double: 2.718281828459045, c_date: '2024-02-29', c_time: '-01:02:03', c_time3: '-00:00:00.500',
  c_time6: '123:45:56.000001', c_dt: '1999-12-31 23:59:59', c_dt1: '2000-01-01 00:00:00.1', c_dt4: '2024-06-30 12:00:00.0001',
  c_dt6: '2038-01-19 03:14:08.999999', c_ts: '2024-01-02 03:04:05', c_ts2: '2001-09-09 01:46:40.99', c_ts6: '2024-01-02 03:04:05.000007',
  c_year: 2024, c_bit1: "b'1'", c_bit10: "b'1000000001'", c_bit64: "b'1111111111111111111111111111111111111111111111111111111111111110'",
  c_enum: 'c d', c_set: 'x,z', c_char: 'ab', c_char_utf8: 'Grüße, 世界 🚀', c_varchar: 'x'.repeat(290), c_varchar_latin1: 'café €',
  c_binary: "x'0a00'", c_varbinary: "x'00ff00ff'", c_tinytext: 'tiny', c_text: 'ünïcødé text', c_mediumtext: 'medium', c_longtext: 'l'.repeat(70000),
  c_tinyblob: "x'01'", c_blob: "x'deadbeef'", c_mediumblob: "x'00'", c_longblob: "x'ff'",
  c_json: '{"a": [1, 2.5, "x"], "b": null}', c_geometry: "ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0)')", c_point: "ST_GeomFromText('POINT(1.5 -2.25)')",
} as const;

const EXTREMES = {
  c_tiny: -128, c_utiny: 255, c_small: -32768, c_usmall: 65535, c_medium: -8388608, c_umedium: 16777215, c_int: -2147483648,
  c_uint: 4294967295, c_big: '-9223372036854775808', c_ubig: '18446744073709551615',
  c_dec: '99999999999999999999999999999999999.999999999999999999999999999999', c_dec2: '99999999.99', c_dec0: '0',
  c_float: -3.4e38, c_double: -1.7976931348623157e308, c_date: '1000-01-01', c_time: '-838:59:59', c_time3: '838:59:59.999',
  c_time6: '-838:59:58.999999', c_dt: '9999-12-31 23:59:59', c_dt1: '1000-01-01 00:00:00.9', c_dt4: '1970-01-01 00:00:00.9999',
  c_dt6: '0001-01-01 00:00:00.000001', c_ts: '1970-01-01 00:00:01', c_ts2: '2038-01-19 03:14:07.99', c_ts6: '2038-01-19 03:14:07.999999',
  c_year: 1901, c_bit1: "b'0'", c_bit10: "b'0'", c_bit64: "b'1000000000000000000000000000000000000000000000000000000000000001'",
  c_enum: 'a', c_set: '', c_char: '', c_char_utf8: '', c_varchar: '', c_varchar_latin1: '',
  c_binary: "x'ffffffff'", c_varbinary: "x''", c_tinytext: '', c_text: '', c_mediumtext: '', c_longtext: '',
  c_tinyblob: "x''", c_blob: "x''", c_mediumblob: "x''", c_longblob: "x''",
  c_json: '[]', c_geometry: "ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 0))')", c_point: "ST_GeomFromText('POINT(0 0)')",
} as const;

/** Values written as SQL expressions (b'…', x'…', ST_…) stay as they are; the rest are quoted or numbers. */
function sqlValue(v: string | number): string {
  if (typeof v === 'number') return String(v);
  if (/^(b'[01]*'|x'[0-9a-f]*'|ST_GeomFromText\(.*\))$/.test(v)) return v;
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function insertRow(id: number, values: Readonly<Record<string, string | number>> | null): string {
  if (!values) return `INSERT INTO app.all_types (id) VALUES (${id})`;
  return `INSERT INTO app.all_types (id, ${COLUMNS.map((c) => c.name).join(', ')}) VALUES (${id}, ${COLUMNS.map((c) => sqlValue(values[c.name] as string | number)).join(', ')})`;
}

/** The rows as SELECT shows them, each column in the decoder's form. */
async function selectAllTypes(): Promise<Map<number, Record<string, unknown>>> {
  const exprs = COLUMNS.map((c) => `${c.select ?? (c.as === 'hex' ? `HEX(${c.name})` : `CAST(${c.name} AS CHAR)`)} AS ${c.name}`);
  const rows = await db.query<Record<string, unknown>[]>(`SET time_zone = '+00:00'; SELECT id, ${exprs.join(', ')} FROM app.all_types ORDER BY id`);
  return new Map((rows[1] as unknown as Record<string, unknown>[]).map((r) => [Number(r.id), r]));
}

function comparable(c: TypeColumn, v: unknown): unknown {
  if (v === null || v === undefined) return v;
  if (c.as === 'hex') return Buffer.isBuffer(v) ? v.toString('hex').toUpperCase() : String(v);
  if (c.as === 'float') return Math.fround(Number(v));
  if (c.as === 'double') return Number(v);
  return v;
}

function assertImage(image: RowImage | undefined, expected: Record<string, unknown> | undefined, what: string): void {
  assert.ok(image, `${what}: no row image`);
  assert.ok(expected, `${what}: SELECT has no such row`);
  assert.equal(image[0], String(expected.id), `${what}: id`);
  COLUMNS.forEach((c, i) => {
    assert.deepEqual(comparable(c, image[i + 1]), comparable(c, expected[c.name]),
      `${what}: column ${c.name} (${c.ddl}): decoded ${JSON.stringify(image[i + 1])}, SELECT shows ${JSON.stringify(expected[c.name])}`);
  });
}

describe('binlog reader against MariaDB', () => {
  test('every column type round-trips: the decoded inserts, updates and deletes equal what SELECT returns, transaction by transaction', async () => {
    const start = await gtidPosition();
    await db.query(`CREATE TABLE app.all_types (id INT PRIMARY KEY, ${COLUMNS.map((c) => `${c.name} ${c.ddl}`).join(', ')})`);
    await db.query(`SET time_zone = '+00:00'; BEGIN; ${insertRow(1, TYPICAL)}; ${insertRow(2, EXTREMES)}; ${insertRow(3, null)}; COMMIT`);
    const inserted = await selectAllTypes();
    await db.query(`SET time_zone = '+00:00'; BEGIN;
      UPDATE app.all_types SET c_int = c_int + 1, c_varchar = 'changed', c_json = JSON_OBJECT('k', 'v'), c_ts6 = '2030-05-06 07:08:09.123456', c_blob = NULL WHERE id = 1;
      UPDATE app.all_types SET c_tiny = 7, c_bit10 = b'11', c_set = 'y' WHERE id = 3;
      DELETE FROM app.all_types WHERE id = 2;
      COMMIT`);
    const updated = await selectAllTypes();

    const { transactions } = await readAll(start);
    assert.equal(transactions.length, 3, `CREATE TABLE, the insert and the update/delete: got ${transactions.map((t) => t.gtid).join(', ')}`);
    const [ddl, insert, change] = transactions;
    const firstSeq = (start.kind === 'mariadb-gtid' ? start.gtids[0]?.seq ?? 0n : 0n);
    assert.deepEqual(transactions.map((t) => t.gtid), [1n, 2n, 3n].map((n) => `0-1-${firstSeq + n}`), 'consecutive GTIDs of domain 0, server 1');

    const statement = ddl?.changes[0];
    assert.ok(statement?.kind === 'statement' && ddl?.changes.length === 1);
    assert.match(statement.query.sql, /^CREATE TABLE app\.all_types/);

    const table = insert?.tables[0];
    assert.equal(insert?.tables.length, 1);
    assert.equal(`${table?.schema}.${table?.table}`, 'app.all_types');
    assert.deepEqual(table?.columns.map((c) => c.name), ['id', ...COLUMNS.map((c) => c.name)]);
    assert.deepEqual(table?.primaryKey, [{ column: 0, prefix: 0 }]);
    assert.ok(insert?.xid !== undefined, 'an InnoDB transaction ends with an XID');

    const insertedRows = rowsOf(insert, 'all_types');
    assert.equal(insertedRows.length, 3);
    insertedRows.forEach((r, i) => assertImage(r.after, inserted.get(i + 1), `inserted row ${i + 1}`));
    assert.ok(insertedRows[2]?.after?.slice(1).every((v) => v === null), 'row 3 is NULL in every column but the key');

    const changedRows = rowsOf(change, 'all_types');
    assert.equal(changedRows.length, 3);
    assertImage(changedRows[0]?.before, inserted.get(1), 'update of row 1, before');
    assertImage(changedRows[0]?.after, updated.get(1), 'update of row 1, after');
    assertImage(changedRows[1]?.before, inserted.get(3), 'update of row 3, before');
    assertImage(changedRows[1]?.after, updated.get(3), 'update of row 3, after');
    assertImage(changedRows[2]?.before, inserted.get(2), 'delete of row 2');
    assert.equal(changedRows[2]?.after, undefined);
    const kinds = change?.changes.map((c) => (c.kind === 'rows' ? c.rows.kind : c.kind));
    assert.deepEqual(kinds, ['update', 'update', 'delete']);
  });

  test('reading from a file and offset gives the transactions after it, at the positions SHOW BINLOG EVENTS lists', async () => {
    await db.query('CREATE TABLE app.ledger (id INT PRIMARY KEY, note VARCHAR(20))');
    const start = await filePosition();
    await db.query("INSERT INTO app.ledger VALUES (1, 'one')");
    await db.query("BEGIN; INSERT INTO app.ledger VALUES (2, 'two'); UPDATE app.ledger SET note = 'uno' WHERE id = 1; COMMIT");
    const { transactions } = await readAll({ kind: 'file', position: start });
    assert.equal(transactions.length, 2);
    const listed = await db.query<{ Pos: string; End_log_pos: string; Event_type: string }[]>(`SHOW BINLOG EVENTS IN '${start.file}' FROM ${start.offset}`);
    const gtidEvents = listed.filter((e) => e.Event_type === 'Gtid');
    const xidEvents = listed.filter((e) => e.Event_type === 'Xid');
    transactions.forEach((t, i) => {
      assert.deepEqual(t.begin, { file: start.file, offset: Number(gtidEvents[i]?.Pos) }, `transaction ${i + 1} starts at its GTID event`);
      assert.deepEqual(t.end, { file: start.file, offset: Number(xidEvents[i]?.End_log_pos) }, `transaction ${i + 1} ends after its XID`);
    });
    assert.equal(transactions[0]?.begin.offset, start.offset, 'the first transaction starts where the reading did');
    assert.deepEqual(rowsOf(transactions[1], 'ledger').map((r) => [r.before, r.after]), [
      [undefined, ['2', 'two']],
      [['1', 'one'], ['1', 'uno']],
    ]);
  });

  test('FLUSH BINARY LOGS mid-stream: the ROTATE moves reading to the next file and every position stays right', async () => {
    await db.query('CREATE TABLE app.rotating (id INT PRIMARY KEY)');
    const start = await filePosition();
    const gtidStart = await gtidPosition();
    await db.query('INSERT INTO app.rotating VALUES (1)');
    await db.query('FLUSH BINARY LOGS');
    await db.query('INSERT INTO app.rotating VALUES (2)');
    await db.query('FLUSH BINARY LOGS');
    await db.query('INSERT INTO app.rotating VALUES (3)');
    const files = [start.file, nextFile(start.file), nextFile(nextFile(start.file))];
    for (const from of [{ kind: 'file', position: start } as const, gtidStart]) {
      const { events, transactions } = await readAll(from);
      assert.deepEqual(transactions.map((t) => t.begin.file), files, `${from.kind}: one transaction per file`);
      const rotates = events.filter((e) => e.type === 'rotate' && e.header.logPos !== 0);
      assert.deepEqual(rotates.map((e) => e.type === 'rotate' && e.nextFile), files.slice(1), `${from.kind}: the two real ROTATE events`);
      for (const t of transactions) {
        const listed = await db.query<{ Pos: string; End_log_pos: string; Event_type: string }[]>(`SHOW BINLOG EVENTS IN '${t.begin.file}'`);
        const begin = listed.find((e) => Number(e.Pos) === t.begin.offset);
        const end = listed.find((e) => Number(e.End_log_pos) === t.end.offset);
        assert.equal(begin?.Event_type, 'Gtid', `${from.kind}: ${t.gtid} begins at a GTID event of ${t.begin.file}`);
        assert.equal(end?.Event_type, 'Xid', `${from.kind}: ${t.gtid} ends after an XID event of ${t.end.file}`);
        assert.equal(t.end.file, t.begin.file);
      }
      assert.deepEqual(transactions.map((t) => rowsOf(t, 'rotating')[0]?.after), [['1'], ['2'], ['3']]);
    }
  });

  test('a server restart mid-stream: reconnecting from the last position, GTID or file, loses and duplicates nothing', async () => {
    await db.query('CREATE TABLE app.restarts (id INT PRIMARY KEY)');
    const stream = await open(await gtidPosition(), { nonBlocking: false, heartbeatSeconds: 0.2 });
    const assembler = new TransactionAssembler();
    let last: BinlogTransaction | undefined;
    let heartbeats = 0;
    await db.query('INSERT INTO app.restarts VALUES (1)');
    let failure: unknown;
    try {
      for await (const event of stream) {
        if (event.type === 'heartbeat') {
          heartbeats++;
          assert.equal(event.file, stream.decoder.position.file, 'a heartbeat names the file being read');
          // Restart once the transaction arrived and the idle stream sent a heartbeat.
          if (last) await db.restart();
        }
        last = assembler.push(event) ?? last;
      }
    } catch (err) {
      failure = err;
    }
    assert.ok(failure instanceof FerryError || failure instanceof Error, `the stream ends with an error when the server goes away, got ${String(failure)}`);
    assert.ok(heartbeats >= 1, 'an idle stream gets heartbeats');
    assert.deepEqual(rowsOf(last, 'restarts')[0]?.after, ['1']);
    assert.ok(last?.mariaDbGtid);

    await db.query('INSERT INTO app.restarts VALUES (2)');
    await db.query('BEGIN; INSERT INTO app.restarts VALUES (3); DELETE FROM app.restarts WHERE id = 1; COMMIT');
    const fromGtid = await readAll({ kind: 'mariadb-gtid', gtids: [last.mariaDbGtid] });
    const fromFile = await readAll({ kind: 'file', position: last.end });
    for (const [how, read] of [['GTID', fromGtid], ['file', fromFile]] as const) {
      assert.deepEqual(read.transactions.map((t) => rowsOf(t, 'restarts').map((r) => [r.before, r.after])), [
        [[undefined, ['2']]],
        [[undefined, ['3']], [['1'], undefined]],
      ], `from the ${how} position: exactly the two transactions after the restart`);
      assert.ok(read.events.some((e) => e.type === 'skipped' && e.name === 'STOP') || how === 'GTID',
        'read by file, the old file ends with the STOP event of the clean shutdown');
    }
    assert.deepEqual(fromGtid.transactions.map((t) => t.end), fromFile.transactions.map((t) => t.end), 'both ways reach the same positions');
  });

  test('a consumer that falls behind pauses the socket: decoded events waiting stay bounded and nothing is lost', async () => {
    await db.query('CREATE TABLE app.backlog (id INT PRIMARY KEY, pad VARCHAR(3000))');
    const start = await gtidPosition();
    const count = 300;
    await db.query(Array.from({ length: count }, (_, i) => `INSERT INTO app.backlog VALUES (${i}, REPEAT('p', 2000))`).join(';'));
    const stream = await open(start, { highWater: 8 });
    const assembler = new TransactionAssembler();
    let transactions = 0;
    let events = 0;
    let maxWaiting = 0;
    let sawPaused = false;
    for await (const event of stream) {
      events++;
      maxWaiting = Math.max(maxWaiting, stream.waiting);
      sawPaused ||= stream.paused;
      if (assembler.push(event)) transactions++;
      if (events % 16 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    assert.equal(transactions, count);
    assert.ok(sawPaused, 'the socket was paused while the consumer was behind');
    assert.ok(maxWaiting < events / 4, `at most one socket read past the limit waits (${maxWaiting} of ${events} events)`);
  });

  test('MariaDB\'s compressed binlog (log_bin_compress): compressed row and query events decode to the same values', async () => {
    await db.query('SET GLOBAL log_bin_compress = ON; SET GLOBAL log_bin_compress_min_len = 10');
    try {
      const start = await gtidPosition();
      await db.query('CREATE TABLE app.squeezed (id INT PRIMARY KEY, body TEXT CHARACTER SET utf8mb4)');
      await db.query("BEGIN; INSERT INTO app.squeezed VALUES (1, REPEAT('abc', 1000)), (2, 'short'); UPDATE app.squeezed SET body = 'x' WHERE id = 2; COMMIT");
      const { events, transactions } = await readAll(start);
      assert.ok(events.some((e) => e.header.type === 165), 'the CREATE TABLE came as QUERY_COMPRESSED');
      assert.ok(events.some((e) => e.type === 'rows' && e.header.type >= 166 && e.header.type <= 171), 'rows came as compressed row events');
      assert.match(transactions[0]?.changes[0]?.kind === 'statement' ? transactions[0].changes[0].query.sql : '', /^CREATE TABLE app\.squeezed/);
      assert.deepEqual(rowsOf(transactions[1], 'squeezed').map((r) => [r.before, r.after]), [
        [undefined, ['1', 'abc'.repeat(1000)]],
        [undefined, ['2', 'short']],
        [['2', 'short'], ['2', 'x']],
      ]);
    } finally {
      await db.query('SET GLOBAL log_bin_compress = OFF');
    }
  });

  test('binlog_checksum changed to NONE mid-stream: the new file\'s FORMAT_DESCRIPTION switches verification off', async () => {
    await db.query('CREATE TABLE app.unchecked (id INT PRIMARY KEY)');
    const start = await gtidPosition();
    await db.query('INSERT INTO app.unchecked VALUES (1)');
    await db.query('SET GLOBAL binlog_checksum = NONE');
    try {
      await db.query('INSERT INTO app.unchecked VALUES (2)');
      const { events, transactions } = await readAll(start);
      const formats = events.filter((e) => e.type === 'format-description').map((e) => e.type === 'format-description' && e.checksum);
      assert.deepEqual(formats.slice(-1), ['OFF']);
      assert.ok(formats.includes('CRC32'));
      assert.deepEqual(transactions.map((t) => rowsOf(t, 'unchecked')[0]?.after), [['1'], ['2']]);
    } finally {
      await db.query('SET GLOBAL binlog_checksum = CRC32');
    }
  });

  test('columns in the old temporal formats (mysql56_temporal_format=OFF) decode; UUID, INET6 and INET4 arrive as their bytes', async () => {
    await db.query('SET GLOBAL mysql56_temporal_format = OFF');
    try {
      await db.query('CREATE TABLE app.old_formats (id INT PRIMARY KEY, t TIME, dt DATETIME, ts TIMESTAMP NULL, u UUID, i6 INET6, i4 INET4)');
    } finally {
      await db.query('SET GLOBAL mysql56_temporal_format = ON');
    }
    const start = await gtidPosition();
    await db.query(`SET time_zone = '+00:00'; INSERT INTO app.old_formats VALUES
      (1, '-838:59:59', '9999-12-31 23:59:59', '2038-01-19 03:14:07', '123e4567-e89b-12d3-a456-426614174000', '2001:db8::ff00:42:8329', '192.168.0.255')`);
    const { transactions, events } = await readAll(start);
    const map = events.find((e) => e.type === 'table-map' && e.table.table === 'old_formats');
    assert.deepEqual(map?.type === 'table-map' && map.table.columns.slice(1, 4).map((c) => c.type), [11, 12, 7], 'TIME, DATETIME and TIMESTAMP in their old type codes');
    const [row] = rowsOf(transactions[0], 'old_formats');
    const [expected] = await db.query<Record<string, string>[]>('SELECT HEX(u) AS u, HEX(i6) AS i6, HEX(i4) AS i4 FROM app.old_formats');
    assert.deepEqual(row?.after?.slice(0, 4), ['1', '-838:59:59', '9999-12-31 23:59:59', '2038-01-19 03:14:07+00']);
    assert.deepEqual(row?.after?.slice(4).map((v) => (Buffer.isBuffer(v) ? v.toString('hex').toUpperCase() : v)), [expected?.u, expected?.i6, expected?.i4]);
  });

  test('a row event larger than one 16 MiB protocol packet is joined from its packets and decodes whole', async () => {
    await db.query('SET GLOBAL max_allowed_packet = 67108864');
    await db.query('CREATE TABLE app.huge (id INT PRIMARY KEY, body LONGBLOB)');
    const start = await gtidPosition();
    // 20 MiB of a pattern whose every byte position is checked below.
    await db.query("INSERT INTO app.huge VALUES (1, REPEAT(CONCAT(CHAR(0), 'abcdefghijklmnopqrstuvwxyz', CHAR(255 USING binary)), 20 * 1024 * 1024 DIV 28))");
    const { transactions } = await readAll(start);
    const value = rowsOf(transactions[0], 'huge')[0]?.after?.[1];
    assert.ok(Buffer.isBuffer(value));
    const unit = Buffer.concat([Buffer.from([0]), Buffer.from('abcdefghijklmnopqrstuvwxyz'), Buffer.from([255])]);
    assert.equal(value.length, unit.length * Math.floor(20 * 1024 * 1024 / 28));
    assert.ok(value.length > 0xffffff, 'the event needed more than one packet');
    assert.ok(value.equals(Buffer.concat(new Array<Buffer>(value.length / unit.length).fill(unit))), 'every byte as inserted');
  });

  test('a table with a MariaDB COMPRESSED column fails at its TABLE_MAP, naming the table, the position and the fix', async () => {
    await db.query('CREATE TABLE app.packed_columns (id INT PRIMARY KEY, note VARCHAR(500) COMPRESSED)');
    const start = await gtidPosition();
    await db.query("INSERT INTO app.packed_columns VALUES (1, REPEAT('n', 400))");
    const { file } = await filePosition();
    const listed = await db.query<{ Log_name: string; Pos: string; Event_type: string }[]>(`SHOW BINLOG EVENTS IN '${file}'`);
    const err = await readAll(start).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof FerryError, `expected a FerryError, got ${String(err)}`);
    assert.equal(err.code, 'FERRY_BINLOG_UNSUPPORTED');
    assert.equal(err.context.table, 'app.packed_columns');
    const tableMap = listed.filter((e) => e.Event_type === 'Table_map').at(-1);
    assert.equal(err.context.position, `${tableMap?.Log_name}:${tableMap?.Pos}`);
    assert.match(err.describe(), /column 2 of app\.packed_columns has MariaDB's VARCHAR COMPRESSED type.* fix: ALTER TABLE app\.packed_columns to remove the column's COMPRESSED attribute/);
    await db.query('DROP TABLE app.packed_columns');
  });

  test('TRUNCATE and DDL arrive as statements with their default database, each its own transaction; a MyISAM change ends with COMMIT', async () => {
    await db.query('CREATE TABLE app.plain (id INT PRIMARY KEY) ENGINE = MyISAM');
    const start = await gtidPosition();
    await db.query('TRUNCATE TABLE ledger; ALTER TABLE ledger ADD COLUMN extra INT; INSERT INTO plain VALUES (1), (2)', undefined, 'app');
    const { transactions } = await readAll(start);
    const statements = transactions.map((t) => t.changes.map((c) => (c.kind === 'statement' ? [c.query.database, c.query.sql] : c.kind)));
    assert.deepEqual(statements, [[['app', 'TRUNCATE TABLE ledger']], [['app', 'ALTER TABLE ledger ADD COLUMN extra INT']], ['rows']]);
    const myisam = transactions[2];
    assert.equal(myisam?.xid, undefined, 'a non-transactional change has no XID');
    assert.deepEqual(rowsOf(myisam, 'plain').map((r) => r.after), [['1'], ['2']]);
  });

  test('a dump whose setup the server refuses fails the iteration with the server\'s error', async () => {
    const err = await readAll({ kind: 'file', position: { file: 'binlog.999999', offset: 4 } }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof FerryError, `expected a FerryError, got ${String(err)}`);
    assert.equal(err.code, 'FERRY_BINLOG_SERVER');
    assert.match(err.message, /error 1236: .*binlog\.999999|error 1236: .*[Cc]ould not find/);
  });
});

function nextFile(file: string): string {
  const m = /^(.*\.)(\d+)$/.exec(file);
  assert.ok(m, `binlog file name ${file}`);
  return `${m[1]}${String(Number(m[2]) + 1).padStart((m[2] as string).length, '0')}`;
}
