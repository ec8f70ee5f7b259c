import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { startMariaDb, type MariaDb } from '../src/embedded/mariadb.js';
import { FerryError } from '../src/errors.js';
import { parseMariaDbGtidList } from '../src/source/mysql-binlog/binlog-position.js';
import { BinlogStream } from '../src/source/mysql-binlog/binlog-stream.js';
import { TransactionAssembler } from '../src/source/mysql-binlog/binlog-transactions.js';
import { copySelectList } from '../src/source/mysql-binlog/copy-select.js';
import { mapRow, rowKey } from '../src/source/mysql-binlog/map-row.js';
import { parseLabels, readMySqlTable, type MySqlColumn, type MySqlTable } from '../src/source/mysql-binlog/mysql-catalog.js';
import type { RowValue } from '../src/source/mysql-binlog/row-values.js';
import type { RowImage } from '../src/source/mysql-binlog/rows-event.js';
import { targetTable } from '../src/source/mysql-binlog/target-table.js';
import { DEFAULT_TYPE_MAP_OPTIONS, mapColumn, targetSchema, type TypeMapOptions } from '../src/source/mysql-binlog/type-map.js';
import { isZeroDate, mapValue } from '../src/source/mysql-binlog/value-map.js';

/** A catalog column as information_schema would describe it, for the unit tests. */
function col(columnType: string, extra: Partial<MySqlColumn> = {}): MySqlColumn {
  const dataType = /^[a-z0-9]+/.exec(columnType)?.[0] ?? columnType;
  const size = /\((\d+)(?:,(\d+))?\)/.exec(columnType);
  return {
    name: 'c', position: 1, dataType, columnType, nullable: true, default: null, charset: null, collation: null,
    maxLength: size ? Number(size[1]) : null, precision: size ? Number(size[1]) : null, scale: size?.[2] ? Number(size[2]) : null,
    fsp: size && /^(time|datetime|timestamp)/.test(dataType) ? Number(size[1]) : 0, unsigned: / unsigned/.test(columnType),
    generated: null, json: dataType === 'json', labels: /^(enum|set)\(/.test(columnType) ? parseLabels(columnType) : [], ...extra,
  };
}

const OPTS = DEFAULT_TYPE_MAP_OPTIONS;
const LENIENT: TypeMapOptions = { tinyint1_as_boolean: true, zero_dates: 'null', nul_bytes: 'strip', invalid_text: 'replace', enum_invalid: 'null' };
const PLACE = { table: 'app.t', key: () => 'id=7' };

function convert(value: RowValue, column: MySqlColumn, options: TypeMapOptions = OPTS): string | null {
  return mapValue(value, column, mapColumn(column, options, 'app.t'), options, PLACE);
}

function failure(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FerryError, `expected a FerryError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

describe('type map: MySQL column → PostgreSQL column', () => {
  test('integers: signed keep their width, unsigned widen to the next type that holds their maximum', () => {
    const cases: [string, string][] = [
      ['tinyint(4)', 'smallint'], ['tinyint(3) unsigned', 'smallint'], ['smallint(6)', 'smallint'], ['smallint(5) unsigned', 'integer'],
      ['mediumint(9)', 'integer'], ['mediumint(8) unsigned', 'integer'], ['int(11)', 'integer'], ['int(10) unsigned', 'bigint'],
      ['bigint(20)', 'bigint'], ['bigint(20) unsigned', 'numeric(20,0)'],
    ];
    for (const [mysqlType, pgType] of cases) assert.equal(mapColumn(col(mysqlType)).type, pgType, mysqlType);
  });

  test('tinyint(1) is smallint by default and boolean with tinyint1_as_boolean; other tinyints never are', () => {
    assert.equal(mapColumn(col('tinyint(1)')).type, 'smallint');
    assert.equal(mapColumn(col('tinyint(1)'), LENIENT).type, 'boolean');
    assert.equal(mapColumn(col('tinyint(4)'), LENIENT).type, 'smallint');
    assert.equal(mapColumn(col('tinyint(1) unsigned'), LENIENT).type, 'smallint');
  });

  test('decimal, float, double, bit, temporal and year types', () => {
    const cases: [string, string][] = [
      ['decimal(65,30)', 'numeric(65,30)'], ['decimal(10,0) unsigned', 'numeric(10,0)'], ['float', 'real'], ['double', 'double precision'],
      ['bit(1)', 'bit varying(1)'], ['bit(64)', 'bit varying(64)'], ['date', 'date'],
      ['datetime', 'timestamp(0) without time zone'], ['datetime(6)', 'timestamp(6) without time zone'],
      ['timestamp', 'timestamp(0) with time zone'], ['timestamp(3)', 'timestamp(3) with time zone'],
      ['time', 'interval(0)'], ['time(6)', 'interval(6)'], ['year(4)', 'smallint'],
    ];
    for (const [mysqlType, pgType] of cases) assert.equal(mapColumn(col(mysqlType)).type, pgType, mysqlType);
  });

  test('text types in any charset, binary types, geometry, JSON and MariaDB\'s uuid/inet6/inet4', () => {
    const cases: [MySqlColumn, string][] = [
      [col('char(10)', { charset: 'latin1' }), 'varchar(10)'], [col('char(0)'), 'varchar(1)'], [col('varchar(300)', { charset: 'utf8mb4' }), 'varchar(300)'],
      [col('tinytext'), 'text'], [col('mediumtext'), 'text'], [col('longtext'), 'text'],
      [col('binary(4)'), 'bytea'], [col('varbinary(9)'), 'bytea'], [col('blob'), 'bytea'], [col('longblob'), 'bytea'],
      [col('geometry'), 'bytea'], [col('point'), 'bytea'], [col('json'), 'jsonb'], [col('longtext', { json: true }), 'jsonb'],
      [col('uuid'), 'uuid'], [col('inet6'), 'inet'], [col('inet4'), 'inet'],
    ];
    for (const [c, pgType] of cases) assert.equal(mapColumn(c).type, pgType, c.columnType);
  });

  test('enum is text with a CHECK of its labels; set is text[] with a CHECK that every member is a label', () => {
    const e = mapColumn(col("enum('a','b''c','D')"));
    assert.equal(e.type, 'text');
    assert.equal(e.check, `"c" IN ('a', 'b''c', 'D')`);
    const s = mapColumn(col("set('x','y')"));
    assert.equal(s.type, 'text[]');
    assert.equal(s.check, `"c" <@ ARRAY['x', 'y']::text[]`);
  });

  test('NOT NULL stays, except where an option turns values into NULL (zero dates, enum\'s error value)', () => {
    for (const t of ['date', 'datetime', 'timestamp']) {
      assert.equal(mapColumn(col(t, { nullable: false })).notNull, true, t);
      assert.equal(mapColumn(col(t, { nullable: false }), LENIENT).notNull, false, `${t} with zero_dates: null`);
    }
    assert.equal(mapColumn(col("enum('a')", { nullable: false })).notNull, true);
    assert.equal(mapColumn(col("enum('a')", { nullable: false }), LENIENT).notNull, false);
    assert.equal(mapColumn(col('int', { nullable: false }), LENIENT).notNull, true);
  });

  test('an unknown type is an error naming table and column', () => {
    const err = failure(() => mapColumn(col('vector(3)', { name: 'emb' }), OPTS, 'app.items'));
    assert.equal(err.code, 'FERRY_MYSQL_TYPE_UNMAPPED');
    assert.match(err.message, /column emb of app\.items has MySQL type vector\(3\)/);
  });

  test('a MySQL database becomes the schema of the same name unless mapped', () => {
    assert.equal(targetSchema('shop'), 'shop');
    assert.equal(targetSchema('shop', { shop: 'shop_copy' }), 'shop_copy');
    assert.equal(targetSchema('other', { shop: 'shop_copy' }), 'other');
  });
});

describe('value map: decoded value → PostgreSQL input', () => {
  test('integers, decimals, time beyond 24 h, year and bits pass through as text; NULL stays NULL', () => {
    assert.equal(convert('18446744073709551615', col('bigint unsigned')), '18446744073709551615');
    assert.equal(convert('-1', col('bigint unsigned')), '18446744073709551615', 'read as signed without signedness metadata');
    assert.equal(convert('-128', col('tinyint unsigned')), '128');
    assert.equal(convert('-1', col('mediumint unsigned')), '16777215');
    assert.equal(convert('-1', col('int')), '-1');
    assert.equal(convert('-838:59:59.000000', col('time(6)')), '-838:59:59.000000');
    assert.equal(convert('2155', col('year')), '2155');
    assert.equal(convert('0010', col('bit(4)')), '0010');
    assert.equal(convert(null, col('date', { nullable: false })), null);
  });

  test('FLOAT from the copy (its exact value as DOUBLE text) becomes the decoder\'s shortest text', () => {
    assert.equal(convert('1.100000023841858', col('float')), '1.1');
    assert.equal(convert('1.1', col('float')), '1.1');
    assert.equal(convert('0.1', col('double')), '0.1');
  });

  test('tinyint(1) as boolean: 0 and 1 become false/true, any other value is an error naming the option', () => {
    assert.equal(convert('1', col('tinyint(1)'), LENIENT), 'true');
    assert.equal(convert('0', col('tinyint(1)'), LENIENT), 'false');
    assert.equal(convert('5', col('tinyint(1)')), '5', 'as smallint (default) 5 is 5');
    const err = failure(() => convert('5', col('tinyint(1)', { name: 'flag' }), LENIENT));
    assert.equal(err.code, 'FERRY_MYSQL_VALUE_NOT_BOOLEAN');
    assert.match(err.describe(), /app\.t, row id=7, column flag: .* fix: set tinyint1_as_boolean: false/);
  });

  test('zero dates and dates with a zero month or day: an error by default, NULL with zero_dates: null', () => {
    for (const [type, value] of [['date', '0000-00-00'], ['date', '2024-00-10'], ['date', '2024-02-00'],
      ['datetime', '0000-00-00 00:00:00'], ['datetime(3)', '2024-00-10 10:00:00.000'], ['timestamp', '0000-00-00 00:00:00']] as const) {
      assert.ok(isZeroDate(value));
      const err = failure(() => convert(value, col(type, { name: 'born' })));
      assert.equal(err.code, 'FERRY_MYSQL_ZERO_DATE', `${type} ${value}`);
      assert.match(err.describe(), /app\.t, row id=7, column born: zero date .* fix: set zero_dates: null/);
      assert.equal(err.context.table, 'app.t');
      assert.equal(convert(value, col(type), LENIENT), null, `${type} ${value} with zero_dates: null`);
    }
    assert.equal(convert('2024-02-29 10:00:00+00', col('timestamp')), '2024-02-29 10:00:00+00');
  });

  test('year 0000 is 1 BC in PostgreSQL\'s notation', () => {
    assert.equal(convert('0000-01-01', col('date')), '0001-01-01 BC');
    assert.equal(convert('0000-12-31 23:00:00', col('datetime')), '0001-12-31 23:00:00 BC');
  });

  test('NUL characters in text: an error by default, removed with nul_bytes: strip; in JSON the \\u0000 escape likewise', () => {
    const err = failure(() => convert('a\0b', col('varchar(10)', { name: 'note' })));
    assert.equal(err.code, 'FERRY_MYSQL_NUL');
    assert.match(err.describe(), /row id=7, column note: .* fix: set nul_bytes: strip/);
    assert.equal(convert('a\0b\0', col('varchar(10)'), LENIENT), 'ab');
    assert.equal(failure(() => convert('{"a":"x\\u0000y"}', col('json'))).code, 'FERRY_MYSQL_NUL');
    assert.equal(convert('{"a":"x\\u0000y"}', col('json'), LENIENT), '{"a":"xy"}');
    assert.equal(convert('{"a":"x\\\\u0000y"}', col('json')), '{"a":"x\\\\u0000y"}', 'an escaped backslash before u0000 is no NUL');
  });

  test('text bytes invalid in their charset: an error naming table, key and column, or U+FFFD with invalid_text: replace', () => {
    const bad = Buffer.from([0x61, 0xff, 0x62]);
    const err = failure(() => convert(bad, col('varchar(10)', { name: 'title', charset: 'utf8mb4' })));
    assert.equal(err.code, 'FERRY_MYSQL_INVALID_TEXT');
    assert.match(err.describe(), /app\.t, row id=7, column title: bytes 61ff62 are not valid utf8mb4 .* fix: set invalid_text: replace/);
    assert.equal(convert(bad, col('varchar(10)', { charset: 'utf8mb4' }), LENIENT), 'a\ufffdb');
    assert.equal(convert(Buffer.from([0x80, 0xe9]), col('varchar(10)', { charset: 'latin1' })), '€é', "MySQL's latin1 is Windows-1252");
    assert.equal(convert(Buffer.from([0x81, 0x9d]), col('varchar(10)', { charset: 'latin1' })), '\u0081\u009d', '…whose undefined bytes are C1 controls');
    assert.equal(convert(Buffer.from('ok'), col('varchar(10)', { charset: 'utf8mb4' })), 'ok');
  });

  test('ENUM\'s index 0 (\'\'): an error by default, NULL with enum_invalid: null; a real \'\' label is kept', () => {
    assert.equal(convert('b', col("enum('a','b')")), 'b');
    const err = failure(() => convert('', col("enum('a','b')", { name: 'state' })));
    assert.equal(err.code, 'FERRY_MYSQL_ENUM_INVALID');
    assert.match(err.describe(), /column state: .* fix: set enum_invalid: null/);
    assert.equal(convert('', col("enum('a','b')"), LENIENT), null);
    assert.equal(convert('', col("enum('','a')")), '');
  });

  test('SET becomes an array literal; the empty set an empty array', () => {
    assert.equal(convert('x,z', col("set('x','y','z')")), '{"x","z"}');
    assert.equal(convert('', col("set('x')")), '{}');
    assert.equal(convert('a"b', col("set('a\"b')")), '{"a\\"b"}');
  });

  test('bytes become bytea hex input, BINARY padding included; uuid and inet from their bytes', () => {
    assert.equal(convert(Buffer.from([0x61, 0, 0, 0]), col('binary(4)')), '\\x61000000');
    assert.equal(convert(Buffer.alloc(0), col('blob')), '\\x');
    assert.equal(convert(Buffer.from('00112233445566778899aabbccddeeff', 'hex'), col('uuid')), '00112233-4455-6677-8899-aabbccddeeff');
    assert.equal(convert(Buffer.from('20010db8000000000000ff0000428329', 'hex'), col('inet6')), '2001:db8::ff00:42:8329');
    assert.equal(convert(Buffer.alloc(16), col('inet6')), '::');
    assert.equal(convert(Buffer.from('00000000000000000000ffffc0a80001', 'hex'), col('inet6')), '::ffff:192.168.0.1');
    assert.equal(convert(Buffer.from('00010000000000010000000000000000', 'hex'), col('inet6')), '1:0:0:1::');
    assert.equal(convert(Buffer.from([192, 168, 0, 255]), col('inet4')), '192.168.0.255');
  });
});

/*
 * End to end against a real MariaDB and a real PostgreSQL: a table with
 * every mapped type, rows with extreme and special values, its catalog read
 * from information_schema, the target table created from the type map, the
 * rows read back from the binlog through the decoder and by the copy's
 * SELECT, mapped, inserted, and every value compared with what MariaDB
 * shows for it.
 */

interface Column {
  readonly name: string;
  readonly ddl: string;
  /** SQL on MariaDB giving the text PostgreSQL should show for the value, given the options. */
  readonly expect: (o: TypeMapOptions) => string;
  /** How texts compare: exactly, as numbers, as float32, as JSON, temporal texts without trailing fraction zeros. */
  readonly as?: 'float' | 'number' | 'json' | 'temporal';
  /** SQL on PostgreSQL reading the column as text, when `::text` adds to it (inet's `/128`). */
  readonly pg?: string;
}

const text = (name: string) => `CAST(${name} AS CHAR)`;
const zeroToNull = (name: string, value: string) => (o: TypeMapOptions) =>
  (o.zero_dates === 'null' ? `IF(MONTH(${name}) = 0 OR DAYOFMONTH(${name}) = 0, NULL, ${value})` : value);
const hex = (name: string) => `CONCAT('\\\\x', LOWER(HEX(${name})))`;

const ALL_TYPES: readonly Column[] = [
  { name: 'c_tiny', ddl: 'TINYINT', expect: () => text('c_tiny') },
  { name: 'c_utiny', ddl: 'TINYINT UNSIGNED', expect: () => text('c_utiny') },
  { name: 'c_bool', ddl: 'TINYINT(1)', expect: (o) => (o.tinyint1_as_boolean ? "CASE c_bool WHEN 0 THEN 'false' WHEN 1 THEN 'true' END" : text('c_bool')) },
  { name: 'c_small', ddl: 'SMALLINT', expect: () => text('c_small') },
  { name: 'c_usmall', ddl: 'SMALLINT UNSIGNED', expect: () => text('c_usmall') },
  { name: 'c_medium', ddl: 'MEDIUMINT', expect: () => text('c_medium') },
  { name: 'c_umedium', ddl: 'MEDIUMINT UNSIGNED', expect: () => text('c_umedium') },
  { name: 'c_int', ddl: 'INT', expect: () => text('c_int') },
  { name: 'c_uint', ddl: 'INT UNSIGNED', expect: () => text('c_uint') },
  { name: 'c_big', ddl: 'BIGINT', expect: () => text('c_big') },
  { name: 'c_ubig', ddl: 'BIGINT UNSIGNED', expect: () => text('c_ubig') },
  { name: 'c_dec', ddl: 'DECIMAL(65,30)', expect: () => text('c_dec') },
  { name: 'c_udec', ddl: 'DECIMAL(10,2) UNSIGNED', expect: () => text('c_udec') },
  { name: 'c_float', ddl: 'FLOAT', expect: () => text('CAST(c_float AS DOUBLE)'), as: 'float' },
  { name: 'c_double', ddl: 'DOUBLE', expect: () => text('c_double'), as: 'number' },
  { name: 'c_date', ddl: 'DATE', expect: zeroToNull('c_date', text('c_date')) },
  { name: 'c_dt', ddl: 'DATETIME', expect: zeroToNull('c_dt', text('c_dt')) },
  { name: 'c_dt6', ddl: 'DATETIME(6)', expect: zeroToNull('c_dt6', text('c_dt6')), as: 'temporal' },
  { name: 'c_ts', ddl: 'TIMESTAMP NULL', expect: zeroToNull('c_ts', `CONCAT(${text('c_ts')}, '+00')`) },
  { name: 'c_ts3', ddl: 'TIMESTAMP(3) NULL', expect: zeroToNull('c_ts3', `CONCAT(${text('c_ts3')}, '+00')`), as: 'temporal' },
  { name: 'c_time', ddl: 'TIME', expect: () => text('c_time') },
  { name: 'c_time6', ddl: 'TIME(6)', expect: () => text('c_time6'), as: 'temporal' },
  { name: 'c_year', ddl: 'YEAR', expect: () => text('c_year + 0') },
  { name: 'c_bit1', ddl: 'BIT(1)', expect: () => "LPAD(BIN(c_bit1), 1, '0')" },
  { name: 'c_bit64', ddl: 'BIT(64)', expect: () => "LPAD(BIN(c_bit64), 64, '0')" },
  { name: 'c_enum', ddl: "ENUM('a','b','c d')", expect: (o) => (o.enum_invalid === 'null' ? "NULLIF(CAST(c_enum AS CHAR), '')" : text('c_enum')) },
  { name: 'c_set', ddl: "SET('x','y','z')", expect: () => "CONCAT('{', c_set, '}')" },
  { name: 'c_char', ddl: 'CHAR(10) CHARACTER SET latin1', expect: () => text('c_char') },
  { name: 'c_varchar', ddl: 'VARCHAR(300) CHARACTER SET utf8mb4', expect: (o) => (o.nul_bytes === 'strip' ? "REPLACE(c_varchar, CHAR(0), '')" : text('c_varchar')) },
  { name: 'c_text', ddl: 'MEDIUMTEXT CHARACTER SET utf8mb4', expect: () => text('c_text') },
  { name: 'c_binary', ddl: 'BINARY(4)', expect: () => hex('c_binary') },
  { name: 'c_varbinary', ddl: 'VARBINARY(300)', expect: () => hex('c_varbinary') },
  { name: 'c_blob', ddl: 'BLOB', expect: () => hex('c_blob') },
  { name: 'c_json', ddl: 'JSON', expect: (o) => (o.nul_bytes === 'strip' ? "REPLACE(c_json, '\\\\u0000', '')" : 'c_json'), as: 'json' },
  { name: 'c_geo', ddl: 'GEOMETRY', expect: () => hex('c_geo') },
  { name: 'c_uuid', ddl: 'UUID', expect: () => text('c_uuid') },
  { name: 'c_inet6', ddl: 'INET6', expect: () => text('c_inet6'), pg: 'host(c_inet6)' },
  { name: 'c_inet4', ddl: 'INET4', expect: () => text('c_inet4'), pg: 'host(c_inet4)' },
];

/** Rows by id: 1 maxima, 2 minima and edge values, 3 zero dates / NUL / enum '' (options decide), 4 a tinyint(1) of 5, 5 NULLs. */
const ROWS = [
  `(1, 127, 255, 1, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
    '99999999999999999999999999999999999.999999999999999999999999999999', 99999999.99, 3.40282e38, 1.7976931348623157e308,
    '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', '2038-01-19 03:14:07.999',
    '838:59:59', '838:59:59.000000', 2155, b'1', b'1111111111111111111111111111111111111111111111111111111111111111',
    'c d', 'x,y,z', '€ñ', 'Grüße 🚀', REPEAT('long text ', 100), X'61', X'00FF00', X'DEADBEEF',
    '{"k": [1, 2.5, "s", null, true], "n": {"a": {}}}', ST_GeomFromText('POINT(1 2)', 4326),
    '123e4567-e89b-12d3-a456-426614174000', '2001:db8::ff00:42:8329', '255.255.255.255')`,
  `(2, -128, 0, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
    '-99999999999999999999999999999999999.999999999999999999999999999999', 0, -1.1, 0.1,
    '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01', '1970-01-01 00:00:01.5',
    '-838:59:59', '-00:00:01.500000', 1901, b'0', b'0', 'a', '', '', '', '', X'00', X'', X'',
    '[]', ST_GeomFromText('LINESTRING(0 0, 1 1)'), 'ffffffff-0000-4000-8000-000000000001', '::ffff:192.168.0.1', '0.0.0.0')`,
  `(3, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '0000-00-00', '2024-00-10 00:00:00', '2024-02-00 10:00:00.5',
    '0000-00-00 00:00:00', '0000-00-00 00:00:00', '100:00:00', '-100:00:00.25', 0, b'1', b'101', 'not a label', 'y',
    'x', CONCAT('a', CHAR(0), 'b'), 'x', X'6100', X'00', X'00', '{"nul": "a\\\\u0000b"}', NULL, NULL, '::', '1.2.3.4')`,
  `(4, 1, 1, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -0e0, -0e0, '2024-02-29', '2024-02-29 12:00:00', '2024-02-29 12:00:00.123456',
    '2024-02-29 12:00:00', '2024-02-29 12:00:00.123', '12:00:00', '12:00:00.000001', 2024, b'1', b'1', 'b', 'x',
    CONCAT('x', X'81', X'9D', X'80'), 'x', 'x', X'01020304', X'01', X'01', '1', NULL, NULL, NULL, NULL)`,
  `(5, ${Array.from({ length: ALL_TYPES.length }, () => 'NULL').join(', ')})`,
];

const DEFAULTS_FAIL: Record<string, string> = { 3: 'FERRY_MYSQL_ZERO_DATE' };
const LENIENT_FAIL: Record<string, string> = { 4: 'FERRY_MYSQL_VALUE_NOT_BOOLEAN' };

describe('MariaDB → PostgreSQL through the type map and the value map', () => {
  let db: MariaDb;
  let cluster: Cluster;
  let table: MySqlTable;
  let streamed: Map<string, RowImage>;
  let copied: Map<string, RowValue[]>;

  before(async () => {
    [db, cluster] = await Promise.all([startMariaDb(), startCluster({ major: 18 })]);
    await db.query(`CREATE DATABASE app; CREATE TABLE app.all_types (id INT PRIMARY KEY, ${ALL_TYPES.map((c) => `${c.name} ${c.ddl}`).join(', ')})`);
    const [row] = await db.query<{ pos: string }[]>('SELECT @@gtid_binlog_pos AS pos');
    // Outside strict mode, as the zero dates and the invalid ENUM value need.
    await db.query(`SET sql_mode = ''; SET time_zone = '+00:00'; INSERT INTO app.all_types VALUES ${ROWS.join(', ')}`);

    const connection = await mysql.createConnection({
      uri: db.url('app'), dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, timezone: '+00:00',
    });
    try {
      table = await readMySqlTable(connection, 'app', 'all_types');
      await connection.query("SET time_zone = '+00:00'");
      const [rows] = await connection.query({ sql: `SELECT ${copySelectList(table.columns)} FROM all_types ORDER BY id`, rowsAsArray: true });
      copied = new Map((rows as RowValue[][]).map((r) => [String(r[0]), r]));
    } finally {
      await connection.end();
    }

    streamed = new Map((await readRows(db, row?.pos ?? '', 'all_types')).map((image) => [String(image[0]), image]));
  });

  after(async () => {
    await Promise.all([db?.stop(), cluster?.stop()]);
  });

  test('the catalog: columns in order with types, keys, MariaDB\'s JSON, ENUM/SET labels', () => {
    assert.deepEqual(table.columns.map((c) => c.name), ['id', ...ALL_TYPES.map((c) => c.name)]);
    assert.deepEqual(table.primaryKey, ['id']);
    const byName = new Map(table.columns.map((c) => [c.name, c]));
    assert.equal(byName.get('c_json')?.json, true, 'MariaDB JSON is LONGTEXT with a json_valid check');
    assert.equal(byName.get('c_ubig')?.unsigned, true);
    assert.equal(byName.get('c_bool')?.columnType, 'tinyint(1)');
    assert.deepEqual(byName.get('c_enum')?.labels, ['a', 'b', 'c d']);
    assert.equal(byName.get('c_char')?.charset, 'latin1');
    assert.equal(byName.get('id')?.nullable, false);
    assert.equal(byName.get('c_dt6')?.fsp, 6);
    assert.equal(streamed.size, ROWS.length, 'every row came through the binlog');
  });

  test('keys, indexes and generated columns: the target table has the key, the unique keys over NOT NULL columns; a bad value names the row by its key', async () => {
    await db.query(`CREATE TABLE app.keyed (a INT NOT NULL, b VARCHAR(20) NOT NULL, c INT NULL, d INT AS (a * 2) STORED,
      e INT AS (a + 1) VIRTUAL, f DATE NOT NULL DEFAULT '2024-01-01', g ENUM('it''s', 'back\\\\slash', 'Mixed Case') NULL, UNIQUE KEY uk_ab (a, b), UNIQUE KEY uk_c (c), KEY ix_d (d))`);
    const [row] = await db.query<{ pos: string }[]>('SELECT @@gtid_binlog_pos AS pos');
    await db.query("SET sql_mode = ''; INSERT INTO app.keyed (a, b, c, f, g) VALUES (1, 'x', NULL, '0000-00-00', 'it''s'), (2, 'y', 5, '0000-01-01', 'back\\\\slash')");
    const connection = await mysql.createConnection({ uri: db.url('app') });
    let keyed: MySqlTable;
    try {
      keyed = await readMySqlTable(connection, 'app', 'keyed');
      const err = await readMySqlTable(connection, 'app', 'missing').then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof FerryError && err.code === 'FERRY_MYSQL_NO_TABLE', `a missing table is an error, got ${String(err)}`);
    } finally {
      await connection.end();
    }
    assert.deepEqual(keyed.primaryKey, []);
    assert.deepEqual(keyed.uniqueKeys, [{ name: 'uk_ab', unique: true, columns: ['a', 'b'] }]);
    assert.deepEqual(keyed.indexes, [{ name: 'ix_d', unique: false, columns: ['d'] }, { name: 'uk_c', unique: true, columns: ['c'] }]);
    assert.deepEqual(keyed.columns.map((c) => [c.name, c.generated !== null]), [['a', false], ['b', false], ['c', false], ['d', true], ['e', true], ['f', false], ['g', false]]);
    assert.deepEqual(keyed.columns[6]?.labels, ["it's", 'back\\slash', 'Mixed Case'], 'labels as declared, quotes and backslashes undone');

    const images = await readRows(db, row?.pos ?? '', 'keyed');
    assert.deepEqual(images.map((image) => image.length), [keyed.columns.length, keyed.columns.length], 'row images have every catalog column, generated ones included');
    assert.equal(rowKey(keyed, images[0] ?? []), 'a=1, b=x');

    for (const [schema, options] of [['keyed_strict', DEFAULT_TYPE_MAP_OPTIONS], ['keyed_lenient', LENIENT]] as const) {
      const target = targetTable(keyed, options, { app: schema });
      await cluster.query(`CREATE SCHEMA ${schema}; ${target.ddl}`);
      const notNull = await cluster.query(`SELECT column_name, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'keyed' ORDER BY ordinal_position`, [schema]);
      assert.deepEqual(notNull.rows.map((r) => `${r.column_name}:${r.is_nullable}`),
        ['a:NO', 'b:NO', 'c:YES', 'd:YES', 'e:YES', `f:${options === LENIENT ? 'YES' : 'NO'}`, 'g:YES']);
      const constraints = await cluster.query(`SELECT contype, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass AND contype <> 'n' ORDER BY 1, 2`, [`${schema}.keyed`]);
      assert.deepEqual(constraints.rows.map((r) => `${r.contype} ${r.def}`),
        ["c CHECK ((g = ANY (ARRAY['it''s'::text, 'back\\slash'::text, 'Mixed Case'::text])))", 'u UNIQUE (a, b)']);
      if (options === LENIENT) {
        for (const image of images) await cluster.query(`INSERT INTO ${schema}.keyed VALUES ($1, $2, $3, $4, $5, $6, $7)`, mapRow(keyed, target, image, options));
        const back = await cluster.query(`SELECT a, b, c, d, e, f::text, g FROM ${schema}.keyed ORDER BY a`);
        assert.deepEqual(back.rows.map((r) => Object.values(r)), [[1, 'x', null, 2, 2, null, "it's"], [2, 'y', 5, 4, 3, '0001-01-01 BC', 'back\\slash']],
          'year 0000 is 1 BC; ENUM labels pass their CHECK');
      } else {
        const err = failure(() => mapRow(keyed, target, images[0] ?? [], options));
        assert.equal(err.describe(), 'FERRY_MYSQL_ZERO_DATE: app.keyed, row a=1, b=x, column f: zero date 0000-00-00 has no PostgreSQL equivalent (table app.keyed)'
          + ' — fix: set zero_dates: null to write NULL for zero dates, or correct the value on the source');
      }
    }
  });

  for (const [label, options, failing] of [
    ['the defaults', DEFAULT_TYPE_MAP_OPTIONS, DEFAULTS_FAIL],
    ['every option set the other way', LENIENT, LENIENT_FAIL],
  ] as const) {
    test(`with ${label}: every value, streamed and copied, reads back from PostgreSQL as MariaDB shows it; bad rows fail naming table, key and column`, async () => {
      const schema = options === LENIENT ? 'lenient' : 'strict';
      const target = targetTable(table, options, { app: schema });
      assert.equal(target.schema, schema);
      const client = new pg.Client({ connectionString: cluster.url() });
      await client.connect();
      try {
        await client.query(`SET TimeZone = 'UTC'; CREATE SCHEMA ${schema}; ${target.ddl}`);
        const insert = `INSERT INTO ${schema}.all_types VALUES (${target.columns.map((_, i) => `$${i + 1}`).join(', ')})`;
        for (const [id, image] of streamed) {
          const convert = (values: readonly (RowValue | undefined)[]) => mapRow(table, target, values, options);
          const code = failing[id];
          if (code) {
            for (const values of [image, copied.get(id) ?? []]) {
              const err = failure(() => convert(values));
              assert.equal(err.code, code, `row ${id}`);
              assert.match(err.message, new RegExp(`^app\\.all_types, row id=${id}, column c_\\w+: `));
            }
            continue;
          }
          const fromStream = convert(image);
          assert.deepEqual(convert(copied.get(id) ?? []), fromStream, `row ${id}: the copy's SELECT maps to the same input as the binlog`);
          await client.query(insert, fromStream);
        }
        const ids = [...streamed.keys()].filter((id) => !failing[id]);
        const actual = await client.query({
          text: `SELECT id, ${ALL_TYPES.map((c) => c.pg ?? `${c.name}::text`).join(', ')} FROM ${schema}.all_types ORDER BY id`, rowMode: 'array',
        });
        const expected = await db.query<string[][]>(`SET time_zone = '+00:00';
          SELECT CAST(id AS CHAR), ${ALL_TYPES.map((c) => `CAST(${c.expect(options)} AS CHAR)`).join(', ')} FROM app.all_types WHERE id IN (${ids.join(', ')}) ORDER BY id`);
        const expectedRows = (expected as unknown as Record<string, string | null>[][])[1]?.map((r) => Object.values(r)) ?? [];
        assert.equal(actual.rows.length, ids.length);
        assert.equal(expectedRows.length, ids.length);
        actual.rows.forEach((got: (string | null)[], r) => {
          const want = expectedRows[r] ?? [];
          ALL_TYPES.forEach((c, i) => {
            assert.ok(same(got[i + 1] ?? null, want[i + 1] ?? null, c.as), `${schema}.all_types row id=${got[0]} column ${c.name}: expected ${want[i + 1]}, got ${got[i + 1]}`);
          });
        });
      } finally {
        await client.end();
      }
    });
  }
});

/** The after images of every row written to `table` since the GTID position `pos`. */
async function readRows(db: MariaDb, pos: string, table: string): Promise<RowImage[]> {
  const stream = await BinlogStream.open(db.url('', 'replication'), { kind: 'mariadb-gtid', gtids: parseMariaDbGtidList(pos) },
    { serverId: 4243, nonBlocking: true });
  const assembler = new TransactionAssembler();
  const images: RowImage[] = [];
  for await (const event of stream) {
    for (const change of assembler.push(event)?.changes ?? []) {
      if (change.kind === 'rows' && change.table.table === table) images.push(...change.rows.rows.flatMap((r) => (r.after ? [r.after] : [])));
    }
  }
  return images;
}

/** Normalised comparison of PostgreSQL's text with MariaDB's. */
function same(got: string | null, want: string | null, as: Column['as']): boolean {
  if (got === null || want === null) return got === want;
  switch (as) {
    case 'float': return Object.is(Math.fround(Number(got)), Math.fround(Number(want)));
    case 'number': return Object.is(Number(got), Number(want));
    case 'json': return JSON.stringify(sortKeys(JSON.parse(got))) === JSON.stringify(sortKeys(JSON.parse(want)));
    case 'temporal': return trimFraction(got) === trimFraction(want);
    default: return got === want;
  }
}

function trimFraction(t: string): string {
  return t.replace(/(\.\d*?)0+(?=\D|$)/, '$1').replace(/\.(?=\D|$)/, '');
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, sortKeys(x)]));
  return v;
}
