import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decompress } from 'fzstd';
import { FerryError } from '../src/errors.js';
import { BinlogDecoder, type BinlogEvent } from '../src/source/mysql-binlog/binlog-decoder.js';
import { advanceMariaDbPosition, formatMariaDbGtidList, MySqlGtidSet, parseMariaDbGtidList } from '../src/source/mysql-binlog/binlog-position.js';
import { TransactionAssembler } from '../src/source/mysql-binlog/binlog-transactions.js';
import { decodeDecimal } from '../src/source/mysql-binlog/decimal.js';
import { decodeJsonBinary } from '../src/source/mysql-binlog/json-binary.js';
import {
  BinlogFile, cat, event, formatDescriptionBody, hex, i64, lsbBitmap, msbBitmap, mysqlGtidBody, packed, packedStr,
  payloadInnerEvents, queryBody, rowsV2Body, str, tableMapBody, u16, u32, u64, u8,
} from './support/binlog-events.js';

/*
 * The decoder on events built byte by byte from the documented formats:
 * the parts of MySQL 8 that the MariaDB of the integration tests never
 * writes (GTID events, full row metadata, binary JSON, compressed
 * transactions), and damaged input, which must fail with a typed error
 * that names the event and its position.
 */

const FILE = 'binlog.000001';
const T = { QUERY: 2, ROTATE: 4, FDE: 15, XID: 16, TABLE_MAP: 19, HEARTBEAT: 27, WRITE_V2: 30, UPDATE_V2: 31, DELETE_V2: 32,
  GTID: 33, PREVIOUS_GTIDS: 35, PARTIAL_UPDATE_ROWS: 39, PAYLOAD: 40, HEARTBEAT_V2: 41, MARIADB_GTID: 162, GTID_LIST: 163 } as const;

type Of<K extends BinlogEvent['type']> = Extract<BinlogEvent, { type: K }>;

function as<K extends BinlogEvent['type']>(e: BinlogEvent, type: K): Of<K> {
  assert.equal(e.type, type, `expected a ${type} event, got ${e.type}`);
  return e as Of<K>;
}

/** A decoder past a MySQL 8.0 FORMAT_DESCRIPTION, and the file it reads. */
function mysql8(checksum = true): { decoder: BinlogDecoder; file: BinlogFile } {
  const decoder = new BinlogDecoder({ start: { file: FILE, offset: 4 }, checksum: checksum ? 'CRC32' : 'OFF' });
  const file = new BinlogFile(checksum);
  const fde = as(decoder.decode(file.next(T.FDE, formatDescriptionBody('8.0.36', checksum))), 'format-description');
  assert.equal(fde.serverVersion, '8.0.36');
  assert.equal(fde.checksum, checksum ? 'CRC32' : 'OFF');
  return { decoder, file };
}

/** A TRANSACTION_PAYLOAD header field: packed type, packed length, packed value. */
function field(type: number, value: number): Buffer {
  return cat(packed(type), packed(packed(value).length), packed(value));
}

function decodeError(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FerryError, `expected a FerryError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the decoder to fail');
}

/**
 * A MySQL 8 table with `binlog_row_metadata=FULL`:
 *   id BIGINT UNSIGNED, name VARCHAR(10) utf8mb4, legacy VARCHAR(5) latin1,
 *   size ENUM('small','large'), colours SET('r','g','b'), amount DECIMAL(10,2),
 *   t TINYINT, doc JSON, place POINT, code CHAR(200) utf8mb4,
 *   PRIMARY KEY (id, code(10)), t invisible.
 */
const FULL_TABLE = tableMapBody({
  tableId: 0x0102030405, schema: 'shop', table: 'orders',
  types: [8, 15, 15, 254, 254, 246, 1, 245, 255, 254],
  metadata: cat(u16(40), u16(5), u8(247), u8(1), u8(248), u8(1), u8(10), u8(2), u8(4), u8(4), u8(0xce), u8(0x20)),
  nullable: [false, true, true, true, true, true, true, true, true, false],
  optional: [
    [1, msbBitmap([true, false, false])],
    [2, cat(packed(255), packed(1), packed(8))],
    [10, packed(255)],
    [4, cat(...['id', 'name', 'legacy', 'size', 'colours', 'amount', 't', 'doc', 'place', 'code'].map((n) => packedStr(n)))],
    [5, cat(packed(3), packedStr('r'), packedStr('g'), packedStr('b'))],
    [6, cat(packed(2), packedStr('small'), packedStr('large'))],
    [7, packed(1)],
    [9, cat(packed(0), packed(0), packed(9), packed(10))],
    [12, msbBitmap([true, true, true, true, true, true, false, true, true, true])],
  ],
});

/** `{"a":1,"b":[true,null,"x"]}` in MySQL's binary JSON (small object, inlined int16 and literals). */
const JSON_DOC = cat(
  u8(0x00), u16(2), u16(35),
  u16(18), u16(1), u16(19), u16(1),
  u8(0x05), u16(1), u8(0x02), u16(20),
  str('ab'),
  u16(3), u16(15), u8(0x04), u16(1), u8(0x04), u16(0), u8(0x0c), u16(13), u8(1), str('x'),
);

/** POINT(1 2) as MySQL stores it: SRID, then WKB. */
const POINT = cat(u32(0), u8(1), u32(1), hex('000000000000f03f'), hex('0000000000000040'));

const FULL_ROW = cat(
  lsbBitmap(new Array<boolean>(10).fill(false)),
  hex('ffffffffffffffff'),
  u8(Buffer.byteLength('zoë 🚀')), str('zoë 🚀'),
  u8(5), hex('636166e980'),
  u8(2),
  u8(0b101),
  hex('7ffffb2dc7'),
  u8(0xfb),
  u32(JSON_DOC.length), JSON_DOC,
  u32(POINT.length), POINT,
  u16(3), str('abc'),
);

describe('binlog decoder: MySQL 8 events built from the documented format', () => {
  test('TABLE_MAP with full row metadata gives names, signedness, charsets, enum and set labels, key and visibility', () => {
    const { decoder, file } = mysql8();
    const map = as(decoder.decode(file.next(T.TABLE_MAP, FULL_TABLE)), 'table-map').table;
    assert.equal(map.tableId, 0x0102030405);
    assert.equal(`${map.schema}.${map.table}`, 'shop.orders');
    assert.deepEqual(map.columns.map((c) => c.name), ['id', 'name', 'legacy', 'size', 'colours', 'amount', 't', 'doc', 'place', 'code']);
    assert.deepEqual(map.columns.map((c) => c.unsigned), [true, undefined, undefined, undefined, undefined, false, false, undefined, undefined, undefined]);
    assert.deepEqual(map.columns.map((c) => c.collation), [undefined, 255, 8, 255, 255, undefined, undefined, undefined, undefined, 255]);
    assert.deepEqual(map.columns[3]?.enumValues, ['small', 'large']);
    assert.deepEqual(map.columns[4]?.setValues, ['r', 'g', 'b']);
    assert.equal(map.columns[8]?.geometryType, 1);
    assert.deepEqual(map.primaryKey, [{ column: 0, prefix: 0 }, { column: 9, prefix: 10 }]);
    assert.deepEqual(map.columns.map((c) => c.visible), [true, true, true, true, true, true, false, true, true, true]);
    assert.equal(map.columns[9]?.maxLength, 800, 'CHAR(200) utf8mb4 folds its length into the type byte');
    assert.deepEqual([map.columns[5]?.precision, map.columns[5]?.scale], [10, 2]);
    assert.deepEqual(map.columns.map((c) => c.nullable), [false, true, true, true, true, true, true, true, true, false]);
  });

  test('WRITE_ROWS_V2 values decode by the table map: unsigned, utf8mb4, latin1 as cp1252, labels, decimal, JSON, geometry', () => {
    const { decoder, file } = mysql8();
    decoder.decode(file.next(T.TABLE_MAP, FULL_TABLE));
    const rows = as(decoder.decode(file.next(T.WRITE_V2, rowsV2Body(0x0102030405, 10, new Array<boolean>(10).fill(true), FULL_ROW))), 'rows');
    assert.equal(rows.rows.kind, 'insert');
    assert.equal(rows.table.table, 'orders');
    assert.equal(rows.rows.rows.length, 1);
    const after = rows.rows.rows[0]?.after;
    assert.deepEqual(after?.slice(0, 7), ['18446744073709551615', 'zoë 🚀', 'café€', 'large', 'r,b', '-1234.56', '-5']);
    assert.equal(after?.[7], '{"a":1,"b":[true,null,"x"]}');
    assert.deepEqual(after?.[8], POINT);
    assert.equal(after?.[9], 'abc');
  });

  test('partial row images (binlog_row_image=MINIMAL) leave absent columns undefined, NULLs null, and v2 extra data is stepped over', () => {
    const { decoder, file } = mysql8();
    decoder.decode(file.next(T.TABLE_MAP, FULL_TABLE));
    const before = [true, false, false, false, false, false, false, false, false, true];
    const after = [false, true, false, false, false, true, false, false, false, false];
    const images = cat(
      lsbBitmap([false, false]), u64(9n), u16(1), str('k'),
      lsbBitmap([false, true]), u8(3), str('new'),
    );
    const extra = cat(u8(1), u8(3), u16(7)); // partition info: an extra-data field we do not need
    const ev = as(decoder.decode(file.next(T.UPDATE_V2, rowsV2Body(0x0102030405, 10, before, images, after, extra))), 'rows');
    const [row] = ev.rows.rows;
    assert.equal(ev.rows.kind, 'update');
    assert.deepEqual(row?.before, ['9', undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 'k']);
    assert.deepEqual(row?.after, [undefined, 'new', undefined, undefined, undefined, null, undefined, undefined, undefined, undefined]);
  });

  test('utf8mb4 text whose bytes are not UTF-8 stays bytes for the value map to judge; a leading BOM is kept as data', () => {
    const { decoder, file } = mysql8();
    decoder.decode(file.next(T.TABLE_MAP, FULL_TABLE));
    const present = [false, true, false, false, false, false, false, false, false, false];
    const images = cat(lsbBitmap([false]), u8(3), hex('61ff62'), lsbBitmap([false]), u8(4), hex('efbbbf61'));
    const ev = as(decoder.decode(file.next(T.WRITE_V2, rowsV2Body(0x0102030405, 10, present, images))), 'rows');
    assert.deepEqual(ev.rows.rows.map((r) => r.after?.[1]), [Buffer.from('61ff62', 'hex'), '\ufeffa']);
  });

  test('GTID_LOG_EVENT gives the GTID, the logical clock, both commit timestamps and the transaction length', () => {
    const { decoder, file } = mysql8();
    const uuid = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
    const body = mysqlGtidBody(uuid, 23n, { lastCommitted: 5n, sequence: 6n, immediate: 1_700_000_000_123_456n, original: 1_699_999_999_000_001n, length: 987 });
    const g = as(decoder.decode(file.next(T.GTID, body)), 'mysql-gtid').gtid;
    assert.deepEqual(
      [g.uuid, g.gno, g.anonymous, g.lastCommitted, g.sequenceNumber, g.immediateCommitTimestamp, g.originalCommitTimestamp, g.transactionLength],
      [uuid, 23n, false, 5n, 6n, 1_700_000_000_123_456n, 1_699_999_999_000_001n, 987]);
    const same = as(decoder.decode(file.next(T.GTID, mysqlGtidBody(uuid, 24n, { lastCommitted: 6n, sequence: 7n, immediate: 42n, length: 1 }))), 'mysql-gtid').gtid;
    assert.equal(same.originalCommitTimestamp, 42n, 'without the flag bit the original commit timestamp is the immediate one');
  });

  test('PREVIOUS_GTIDS reads into a GTID set; tagged sets fail by name', () => {
    const { decoder, file } = mysql8();
    const a = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
    const body = cat(u64(1n), hex(a.replace(/-/g, '')), u64(2n), i64(1n), i64(6n), i64(8n), i64(10n));
    assert.equal(as(decoder.decode(file.next(T.PREVIOUS_GTIDS, body)), 'previous-gtids').gtids.toString(), `${a}:1-5:8-9`);
    const tagged = cat(u64(1n << 56n | 1n), hex(a.replace(/-/g, '')));
    const err = decodeError(() => decoder.decode(file.next(T.PREVIOUS_GTIDS, tagged)));
    assert.match(err.message, /PREVIOUS_GTIDS event at binlog\.000001:\d+ .*tagged GTIDs/);
  });

  test('TRANSACTION_PAYLOAD: a zstd frame written by the zstd tool decodes into the transaction it holds', () => {
    // `zstd -19 --no-check` of payloadInnerEvents(): a frame with a compressed block, not a stored one.
    const frame = hex('28b52ffd20bae5030082c7181fa0ab0368fcfffffff0df5b5da69fada8bcd4a441b7e69cd28f64f9cb2d650affff139c414cdadcf87f3cdc6ff25f8f96ddaf81d552640153b502fff3e05e758fec00f7f36aad02f8faff87cefcd7a265f7c76998e51946cd7ffcf873bcf25fb765f70900a004c4c5345046c22c4909f9a59b0bf1cd82005e');
    const inner = payloadInnerEvents();
    assert.equal(Buffer.from(decompress(frame)).toString('hex'), inner.toString('hex'), 'the fixture is the compressed form of the events built here');
    const { decoder, file } = mysql8();
    const uuid = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
    const events = [
      decoder.decode(file.next(T.GTID, mysqlGtidBody(uuid, 77n, { lastCommitted: 1n, sequence: 2n, immediate: 5n, length: 300 }))),
    ];
    const payloadAt = file.offset;
    const header = cat(field(1, frame.length), field(2, 0), field(3, inner.length), packed(0));
    const payload = as(decoder.decode(file.next(T.PAYLOAD, cat(header, frame))), 'transaction-payload');
    events.push(payload);
    assert.deepEqual(payload.events.map((e) => e.type), ['query', 'table-map', 'rows', 'xid']);
    assert.ok(payload.events.every((e) => e.position.offset === payloadAt && e.next.offset === file.offset),
      'events inside a payload are at the payload event\'s position');
    const assembler = new TransactionAssembler();
    const done = events.map((e) => assembler.push(e)).filter((t) => t !== undefined);
    assert.equal(done.length, 1);
    const t = done[0];
    assert.equal(t?.gtid, `${uuid}:77`);
    assert.equal(t?.xid, 4242n);
    assert.deepEqual(t?.end, { file: FILE, offset: file.offset });
    const rows = t?.changes[0];
    assert.ok(rows?.kind === 'rows');
    assert.deepEqual(rows.rows.rows[0]?.after, ['7', 'zstd']);
    assert.deepEqual(rows.table.columns.map((c) => c.name), ['id', 'label']);
  });

  test('TRANSACTION_PAYLOAD without compression, and a damaged zstd frame failing with the event and its position', () => {
    const { decoder, file } = mysql8();
    const inner = payloadInnerEvents();
    const plain = as(decoder.decode(file.next(T.PAYLOAD, cat(field(1, inner.length), field(2, 255), packed(0), inner))), 'transaction-payload');
    assert.equal(plain.events.length, 4);
    const at = file.offset;
    const damaged = cat(field(2, 0), packed(0), hex('28b52ffd2010ffff0000'));
    const err = decodeError(() => decoder.decode(file.next(T.PAYLOAD, damaged)));
    assert.equal(err.context.position, `${FILE}:${at}`);
    assert.match(err.message, /^TRANSACTION_PAYLOAD event at binlog\.000001:\d+ cannot be read: zstd frame does not decompress/);
  });

  test('a hand-made zstd frame of one raw block decodes too (the frame format, not the tool, is what counts)', () => {
    const { decoder, file } = mysql8();
    const inner = payloadInnerEvents();
    // Magic, frame header (single segment, 1-byte content size), one last raw block.
    const blockHeader = Buffer.alloc(3);
    blockHeader.writeUIntLE((inner.length << 3) | 1, 0, 3); // size, raw block (type 0), last
    const frame = cat(u32(0xfd2fb528), u8(0x20), u8(inner.length), blockHeader, inner);
    const ev = as(decoder.decode(file.next(T.PAYLOAD, cat(field(2, 0), field(3, inner.length), packed(0), frame))), 'transaction-payload');
    assert.deepEqual(ev.events.map((e) => e.type), ['query', 'table-map', 'rows', 'xid']);
  });

  test('binary JSON: large containers, 64-bit and double numbers, escapes, opaque DECIMAL and DATETIME, nesting', () => {
    // Large object {"k":"quote\"d","n":-9223372036854775808,"u":18446744073709551615,"d":-2.5e-7}
    const keys = ['d', 'k', 'n', 'u']; // sorted by length, then bytes
    const strValue = cat(u8(8), str('quote"d\n'));
    const header = 8 + keys.length * 6 + keys.length * 5;
    const keyBytes = str(keys.join(''));
    const valuesAt = header + keyBytes.length;
    const dbl = Buffer.alloc(8); dbl.writeDoubleLE(-2.5e-7);
    const values = [dbl, strValue, i64(-9223372036854775808n), u64(18446744073709551615n)];
    const types = [0x0b, 0x0c, 0x09, 0x0a];
    const offsets: number[] = [];
    let at = valuesAt;
    for (const v of values) { offsets.push(at); at += v.length; }
    const large = cat(u8(0x01), u32(keys.length), u32(at),
      ...keys.map((_, i) => cat(u32(header + i), u16(1))),
      ...types.map((t, i) => cat(u8(t), u32(offsets[i] as number))),
      keyBytes, ...values);
    assert.equal(decodeJsonBinary(large), '{"d":-2.5e-7,"k":"quote\\"d\\n","n":-9223372036854775808,"u":18446744073709551615}');
    // A large array with an inlined int32 and a nested small array holding an uint16.
    const nested = cat(u16(1), u16(7), u8(0x06), u16(65535));
    const arr = cat(u8(0x03), u32(2), u32(8 + 10 + nested.length), u8(0x07), u32(0x80000000 >>> 0), u8(0x02), u32(18), nested);
    assert.equal(decodeJsonBinary(arr), '[-2147483648,[65535]]');
    // Opaque values: DECIMAL(5,2) 123.45 and DATETIME 2024-02-29 13:14:15.5 (packed).
    const dec = cat(u8(5), u8(2), hex('807b2d'));
    const ymd = BigInt((2024 * 13 + 2) * 32 + 29);
    const hms = BigInt((13 << 12) | (14 << 6) | 15);
    const packedDt = ((ymd << 17n) | hms) << 24n | 500000n;
    const opaques = cat(u8(0x02), u16(2), u16(27),
      u8(0x0f), u16(10), u8(0x0f), u16(17),
      u8(246), u8(dec.length), dec,
      u8(12), u8(8), i64(packedDt));
    assert.equal(decodeJsonBinary(opaques), '[123.45,"2024-02-29 13:14:15.500000"]');
    assert.equal(decodeJsonBinary(Buffer.alloc(0)), 'null');
    assert.throws(() => decodeJsonBinary(cat(u8(0x00), u16(1), u16(200))), /overruns/);
  });

  test('packed DECIMAL: the examples of MySQL\'s decimal2bin, positive and negative', () => {
    assert.equal(decodeDecimal(hex('810dfb38d204d2'), 0, 14, 4), '1234567890.1234');
    assert.equal(decodeDecimal(hex('7ef204c72dfb2d'), 0, 14, 4), '-1234567890.1234');
    assert.equal(decodeDecimal(hex('800000'), 0, 5, 2), '0.00');
    assert.equal(decodeDecimal(hex('800000000000000001'), 0, 20, 0), '1');
    assert.equal(decodeDecimal(hex('800000003b9ac9ff'), 0, 18, 9), '0.999999999');
  });
});

describe('binlog decoder: stream state and positions', () => {
  test('ROTATE moves to the next file at its 8-byte position, and offsets past 4 GiB keep counting where log_pos wraps', () => {
    const start = 2 ** 32 - 100;
    const decoder = new BinlogDecoder({ start: { file: 'binlog.000007', offset: start }, checksum: 'CRC32' });
    const file = new BinlogFile(true, start);
    const xid = decoder.decode(file.next(T.XID, u64(1n)));
    assert.deepEqual([xid.position.offset, xid.next.offset], [start, start + 31]);
    const big = decoder.decode(file.next(T.QUERY, queryBody('shop', `INSERT INTO t VALUES ('${'x'.repeat(200)}')`)));
    assert.equal(big.position.offset, start + 31);
    assert.ok(big.next.offset > 2 ** 32, 'the offset passes 4 GiB');
    assert.equal(big.header.logPos, big.next.offset - 2 ** 32, 'log_pos holds the low 32 bits only');
    const rotate = as(decoder.decode(file.next(T.ROTATE, cat(u64(4n), str('binlog.000008')))), 'rotate');
    assert.deepEqual([rotate.nextFile, rotate.nextOffset], ['binlog.000008', 4]);
    assert.deepEqual(rotate.next, { file: 'binlog.000008', offset: 4 });
    assert.deepEqual(decoder.position, { file: 'binlog.000008', offset: 4 });
  });

  test('artificial events and heartbeats (v1 and MySQL\'s v2 with a 64-bit position) do not move the position', () => {
    const { decoder } = mysql8();
    const before = decoder.position;
    const hb1 = as(decoder.decode(event(T.HEARTBEAT, str(FILE), { logPos: 1234, flags: 0x20, checksum: true })), 'heartbeat');
    assert.deepEqual([hb1.file, hb1.offset], [FILE, 1234]);
    const v2 = cat(packed(1), packed(FILE.length), str(FILE), packed(2), packed(9), packed(2 ** 33), packed(0));
    const hb2 = as(decoder.decode(event(T.HEARTBEAT_V2, v2, { flags: 0x20, checksum: true })), 'heartbeat');
    assert.deepEqual([hb2.file, hb2.offset], [FILE, 2 ** 33]);
    assert.deepEqual(decoder.position, before);
  });

  test('the FORMAT_DESCRIPTION a dump started mid-file sends first does not move the position, whatever its log_pos', () => {
    const decoder = new BinlogDecoder({ start: { file: FILE, offset: 5000 }, checksum: 'CRC32' });
    const fde = decoder.decode(event(T.FDE, formatDescriptionBody('10.11.19-MariaDB', true), { logPos: 256, checksum: true }));
    assert.deepEqual([fde.position.offset, fde.next.offset], [5000, 5000]);
    const file = new BinlogFile(true, 5000);
    const xid = decoder.decode(file.next(T.XID, u64(3n)));
    assert.deepEqual([xid.position.offset, xid.next.offset], [5000, 5031]);
  });

  test('FLOAT values are the shortest text that reads back as the same 4-byte float', () => {
    const decoder = new BinlogDecoder({ start: { file: FILE, offset: 4 } });
    const file = new BinlogFile(false);
    decoder.decode(file.next(T.TABLE_MAP, tableMapBody({ tableId: 1, schema: 's', table: 'f', types: [4], metadata: u8(4), nullable: [true] })));
    const floats = [3.14159, -3.4e38, 1e-45, 0.1, 16777217];
    const rows = cat(...floats.map((f) => { const b = Buffer.alloc(4); b.writeFloatLE(f); return cat(lsbBitmap([false]), b); }));
    const ev = as(decoder.decode(file.next(T.WRITE_V2, rowsV2Body(1, 1, [true], rows))), 'rows');
    const texts = ev.rows.rows.map((r) => r.after?.[0]);
    assert.deepEqual(texts, ['3.14159', '-3.4e+38', '1e-45', '0.1', '16777216']);
  });

  test('XA transactions are refused where they start, MariaDB\'s by their GTID flags and MySQL\'s XA statements', () => {
    const decoder = new BinlogDecoder({ start: { file: FILE, offset: 4 } });
    const file = new BinlogFile(false);
    const xaGtid = decoder.decode(file.next(T.MARIADB_GTID, cat(u64(5n), u32(0), u8(64), u32(1), u8(1), u8(0), str('g'))));
    assert.throws(() => new TransactionAssembler().push(xaGtid), (e: unknown) => e instanceof FerryError && e.code === 'FERRY_BINLOG_UNSUPPORTED'
      && e.context.position === `${FILE}:4` && /XA transaction 0-1-5/.test(e.message));
    const assembler = new TransactionAssembler();
    assembler.push(decoder.decode(file.next(T.GTID, mysqlGtidBody('3e11fa47-71ca-11e1-9e33-c80aa9429562', 9n, { lastCommitted: 0n, sequence: 1n, immediate: 1n, length: 1 }))));
    const xaStart = decoder.decode(file.next(T.QUERY, queryBody('', "XA START X'01',X'',1")));
    assert.throws(() => assembler.push(xaStart), (e: unknown) => e instanceof FerryError && e.code === 'FERRY_BINLOG_UNSUPPORTED'
      && e.context.position === `${FILE}:${xaStart.position.offset}`);
  });

  test('MariaDB GTID_EVENT with a commit id and XA ids, and GTID_LIST', () => {
    const decoder = new BinlogDecoder({ start: { file: FILE, offset: 4 }, checksum: 'OFF' });
    const file = new BinlogFile(false);
    const gtid = as(decoder.decode(file.next(T.MARIADB_GTID, cat(u64(99n), u32(3), u8(2 | 64), u64(12345n), u32(1), u8(2), u8(1), str('abc')), { serverId: 17 })), 'mariadb-gtid').gtid;
    assert.deepEqual(gtid.gtid, { domain: 3, serverId: 17, seq: 99n });
    assert.equal(gtid.commitId, 12345n);
    assert.deepEqual([gtid.xa?.formatId, gtid.xa?.gtrid.toString(), gtid.xa?.bqual.toString()], [1, 'ab', 'c']);
    const list = as(decoder.decode(file.next(T.GTID_LIST, cat(u32(2), u32(0), u32(1), u64(5n), u32(3), u32(17), u64(98n)))), 'gtid-list');
    assert.deepEqual(list.gtids, parseMariaDbGtidList('0-1-5,3-17-98'));
  });

  test('GTID positions parse, merge and encode as the dump commands send them', () => {
    const a = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
    const set = MySqlGtidSet.parse(`${a}:1-3:5`);
    set.add(a, 4n);
    assert.equal(set.toString(), `${a}:1-5`);
    assert.deepEqual(set.encode(), cat(u64(1n), hex(a.replace(/-/g, '')), u64(1n), i64(1n), i64(6n)));
    assert.throws(() => MySqlGtidSet.parse(`${a}:tag:1-3`), /tagged GTIDs/);
    assert.throws(() => parseMariaDbGtidList('0-1'), /not a MariaDB GTID/);
    const position = advanceMariaDbPosition(parseMariaDbGtidList('0-1-5,2-1-9'), { domain: 0, serverId: 3, seq: 6n });
    assert.equal(formatMariaDbGtidList(advanceMariaDbPosition(position, { domain: 1, serverId: 1, seq: 1n })), '0-3-6,1-1-1,2-1-9',
      'one GTID per domain: the new one replaces its domain\'s');
  });
});

describe('binlog decoder: damaged and unknown input fails with the event and its position', () => {
  test('a wrong checksum', () => {
    const { decoder, file } = mysql8();
    const at = file.offset;
    const bytes = file.next(T.XID, u64(5n));
    bytes[bytes.length - 6] = (bytes[bytes.length - 6] as number) ^ 0x01;
    const err = decodeError(() => decoder.decode(bytes));
    assert.equal(err.code, 'FERRY_BINLOG_CHECKSUM');
    assert.equal(err.context.position, `${FILE}:${at}`);
    assert.match(err.message, /^XID event at binlog\.000001:\d+ fails its CRC32 checksum$/);
  });

  test('an event shorter than its header says', () => {
    const { decoder, file } = mysql8();
    const at = file.offset;
    const bytes = file.next(T.XID, u64(5n));
    const err = decodeError(() => decoder.decode(bytes.subarray(0, bytes.length - 3)));
    assert.equal(err.code, 'FERRY_BINLOG_DECODE');
    assert.equal(err.context.position, `${FILE}:${at}`);
    assert.match(err.message, new RegExp(`^XID event at binlog\\.000001:${at} is truncated`));
  });

  test('a row image cut short inside a value names the ROWS event and where it starts', () => {
    const { decoder, file } = mysql8();
    decoder.decode(file.next(T.TABLE_MAP, FULL_TABLE));
    const at = file.offset;
    const cut = rowsV2Body(0x0102030405, 10, new Array<boolean>(10).fill(true), FULL_ROW.subarray(0, 40));
    const err = decodeError(() => decoder.decode(file.next(T.WRITE_V2, cut)));
    assert.equal(err.context.position, `${FILE}:${at}`);
    assert.match(err.message, /^WRITE_ROWS_V2 event at binlog\.000001:\d+ is truncated/);
  });

  test('an event header of fewer than 19 bytes', () => {
    const decoder = new BinlogDecoder({ start: { file: FILE, offset: 120 } });
    const err = decodeError(() => decoder.decode(hex('00112233445566')));
    assert.equal(err.message, 'event header at binlog.000001:120 is truncated (truncated: wanted 4 byte(s), 2 left)');
  });

  test('an unknown event type fails unless the server flagged it ignorable', () => {
    const { decoder, file } = mysql8();
    const at = file.offset;
    const err = decodeError(() => decoder.decode(file.next(99, u32(0))));
    assert.equal(err.code, 'FERRY_BINLOG_DECODE');
    assert.equal(err.message, `unknown event type 99 at ${FILE}:${at} is not a binlog event this decoder knows`);
    const skipped = as(decoder.decode(file.next(99, u32(0), { flags: 0x80 })), 'skipped');
    assert.equal(skipped.name, 'unknown event type 99');
  });

  test('partial JSON updates name the setting that avoids them', () => {
    const { decoder, file } = mysql8();
    const err = decodeError(() => decoder.decode(file.next(T.PARTIAL_UPDATE_ROWS, u32(0))));
    assert.equal(err.code, 'FERRY_BINLOG_UNSUPPORTED');
    assert.match(err.describe(), /PARTIAL_UPDATE_ROWS event at binlog\.000001:\d+: partial JSON updates .* fix: SET GLOBAL binlog_row_value_options = ''/);
  });

  test('rows of a table id no TABLE_MAP named, and a transaction cut by another GTID', () => {
    const { decoder, file } = mysql8();
    const err = decodeError(() => decoder.decode(file.next(T.DELETE_V2, rowsV2Body(77, 1, [true], cat(u8(0), u8(1))))));
    assert.match(err.message, /DELETE_ROWS_V2 event at .* table id 77, which no TABLE_MAP before it named/);
    const uuid = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
    const assembler = new TransactionAssembler();
    const gtid = () => decoder.decode(file.next(T.GTID, mysqlGtidBody(uuid, 1n, { lastCommitted: 0n, sequence: 1n, immediate: 1n, length: 1 })));
    assembler.push(gtid());
    const second = gtid();
    assert.throws(() => assembler.push(second), (e: unknown) => e instanceof FerryError && e.code === 'FERRY_BINLOG_TRANSACTION'
      && e.context.position === `${FILE}:${second.position.offset}`);
  });

  test('a table map whose metadata length disagrees with its column types', () => {
    const { decoder, file } = mysql8();
    const body = tableMapBody({ tableId: 5, schema: 's', table: 't', types: [15], metadata: u8(1), nullable: [true] });
    const err = decodeError(() => decoder.decode(file.next(T.TABLE_MAP, body)));
    assert.match(err.message, /^TABLE_MAP event at binlog\.000001:\d+ (is truncated|cannot be read)/);
  });

  test('checksum OFF: events carry no CRC and decode whole', () => {
    const { decoder, file } = mysql8(false);
    const map = as(decoder.decode(file.next(T.TABLE_MAP, FULL_TABLE)), 'table-map');
    assert.equal(map.next.offset, file.offset);
    assert.equal(map.table.columns.length, 10);
  });
});
