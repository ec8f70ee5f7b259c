import assert from 'node:assert/strict';
import { assertSameRows, catchUp, type Pair } from './harness.js';

/**
 * What the semantic tests of both captures share: a table with a column of
 * every built-in type and values at their edges, and cases that must replay
 * the same whichever capture read them.
 */

export const USER_TYPES = `
  CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
  CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
  CREATE TYPE pair AS (a integer, b text);
`;

/** Multiranges and numeric infinities arrived with PostgreSQL 14: older sources get an array of ranges and no infinite numerics. */
const multirange = (major: number) => (major >= 14 ? { type: 'int4multirange', value: `'{[1,3),[5,7)}'` } : { type: 'int4range[]', value: `'{"[1,3)","[5,7)"}'` });

export const typesTable = (major: number) => `
  CREATE TABLE types (
    id int PRIMARY KEY, b bool, i2 smallint, i4 int, i8 bigint, n numeric, n2 numeric(10,3), f4 real, f8 double precision,
    m money, t text, vc varchar(10), c char(5), by bytea, d date, tm time, ttz timetz, ts timestamp, tstz timestamptz,
    iv interval, u uuid, j json, jb jsonb, x xml, ia int[], ta text[], ma int[][], ip inet, cidr cidr, mac macaddr,
    mac8 macaddr8, pt point, ln line, ls lseg, bx box, pth path, pg polygon, ci circle, bt bit(4), vb varbit,
    tsv tsvector, tsq tsquery, r int4range, tr tstzrange, nr numrange, mr ${multirange(major).type}, mo mood, dom posint, comp pair,
    o oid, lsn pg_lsn, f8x double precision, tsa timestamptz[]
  )`;

/** Values chosen for their edges: NaN and infinities, NULL array elements, zero bytes, multibyte text, BC dates, quotes and commas. */
export function typesRow(id: number, major: number): string {
  return `(${id}, true, -32768, 2147483647, -9223372036854775808, 'NaN', 1234567.891, 'Infinity', '-0',
    '-12.34', 'zażółć 🐘 "q", (p) \\ ${id}', '', 'ab', '\\x00ff10', '0044-03-15 BC', '24:00:00', '13:14:15.123456+05:30',
    'infinity', '2024-02-29 23:59:59.999999+00', '1 year 2 mons -3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    '{ "k" : [1, 2.50, null] }', '{"b": {"c": [true, null, 1e400]}, "a": "x, y"}', '<a x="1">t</a>',
    '{1,NULL,3}', '{"a b","",NULL,"q\\"uote","c,d"}', '{{1,2},{3,NULL}}', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
    '08:00:2b:01:02:03:04:05', '(1.5,-2)', '{1,-1,0}', '[(0,0),(1,1)]', '((0,0),(2,2))', '[(0,0),(1,1),(2,0)]',
    '((0,0),(1,1),(2,0))', '<(1,1),5>', B'1010', B'10101', 'a fat cat:3 sat', 'fat & (rat | cat)', '[1,10)',
    '["2020-01-01 00:00+00","2021-01-01 00:00+00")', ${major >= 14 ? `'(-Infinity,0.5]'` : `'(,0.5]'`}, ${multirange(major).value}, 'happy', 7, '(1,"x y")',
    4294967295, '16/B374D848', 0.1::float8 + 0.2::float8, ARRAY['2024-01-01 10:00:00.5+00', NULL]::timestamptz[])`;
}

/** A row of NULLs but for its id. */
export function typesNullRow(id: number): string {
  return `(${id}, ${Array(52).fill('NULL').join(', ')})`;
}

/** by_index: a table whose replica identity is a unique index on (a, b). */
export async function replicaIdentityIndexCase(pair: Pair, config: string): Promise<void> {
  await pair.sql('source', `INSERT INTO by_index VALUES (1, 1, 'a'), (1, 2, 'b'), (2, 1, 'c')`);
  await pair.sql('source', `UPDATE by_index SET v = 'B' WHERE a = 1 AND b = 2`);
  await pair.sql('source', `UPDATE by_index SET b = 9 WHERE a = 2 AND b = 1`);
  await pair.sql('source', `DELETE FROM by_index WHERE a = 1 AND b = 1`);
  await catchUp(config);
  assert.equal(await assertSameRows(pair, 'by_index'), 2);
}

/** no_key: a table matched on the whole old row; one of three equal rows is updated, another deleted. */
export async function duplicateRowsCase(pair: Pair, config: string): Promise<void> {
  await pair.sql('source', `INSERT INTO no_key VALUES (1, 'dup', '{"x": 1}'), (1, 'dup', '{"x": 1}'), (1, 'dup', '{"x": 1}'), (2, NULL, NULL)`);
  await pair.sql('source', `UPDATE no_key SET b = 'changed' WHERE ctid = (SELECT ctid FROM no_key WHERE b = 'dup' LIMIT 1)`);
  await pair.sql('source', `DELETE FROM no_key WHERE ctid = (SELECT ctid FROM no_key WHERE b = 'dup' LIMIT 1)`);
  await pair.sql('source', `UPDATE no_key SET b = 'was null' WHERE a = 2`);
  await catchUp(config);
  const res = await pair.sql('target', `SELECT b, count(*)::int AS n FROM no_key GROUP BY b ORDER BY b`);
  assert.deepEqual(res.rows, [{ b: 'changed', n: 1 }, { b: 'dup', n: 1 }, { b: 'was null', n: 1 }]);
  await assertSameRows(pair, 'no_key');
}

/**
 * A table whose every column may travel in binary (built-in base types, and
 * arrays of the element types Ferry writes as text), with edge values for
 * the conversions binary transfer makes: arrays become text for set-based
 * updates, and keys are compared byte for byte.
 */
export const binaryTypesTable = `
  CREATE TABLE btypes (
    id bigint, k numeric, b bool, i2 smallint, i4 int, n numeric, n2 numeric(10,3), f4 real, f8 double precision,
    m money, t text, vc varchar(10), c char(5), by bytea, d date, tm time, ttz timetz, ts timestamp, tstz timestamptz,
    iv interval, u uuid, j json, jb jsonb, x xml, ia int[], ta text[], ma int[][], lb int[], na numeric[], fa float8[],
    ba bytea[], ua uuid[], ca char(3)[], ip inet, mac macaddr, pt point, bx box, pg polygon, bt bit(4), vb varbit,
    tsv tsvector, tsq tsquery, o oid, lsn pg_lsn,
    PRIMARY KEY (id, k)
  )`;

export function binaryTypesRow(id: number): string {
  return `(${id}, ${id}.50, true, -32768, 2147483647, 'NaN', 1234567.891, '-0', 1e-300,
    '-12.34', E'tab\\there, new\\nline, back\\\\slash 🐘 ${id}', '', 'ab', '\\x00ff10', '0044-03-15 BC', '24:00:00', '13:14:15.123456+05:30',
    '-infinity', '2024-02-29 23:59:59.999999+00', '1 year 2 mons -3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    '{ "k" : [1, 2.50, null] }', '{"b": {"c": [true, null, 1e400]}, "a": "x, y"}', '<a x="1">t</a>',
    '{1,NULL,3}', '{"a b","",NULL,"NULL","null","q\\"uote","c,d","{x}","back\\\\slash"," lead"}', '{{1,2},{3,NULL}}', '[0:1]={7,8}',
    '{0.000,-1.5,NaN,Infinity,-Infinity,123456789012345678901234567890.0001,NULL,0.00000001}',
    '{-0,NaN,Infinity,1e-300,0.30000000000000004}', ARRAY['\\x'::bytea, '\\x00ff', NULL], '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
    '{"a  ","b"}', '192.168.0.1/24', '08:00:2b:01:02:03', '(1.5,-2)', '((0,0),(2,2))', '((0,0),(1,1),(2,0))',
    B'1010', B'10101', 'a fat cat:3 sat', 'fat & (rat | cat)', 4294967295, '16/B374D848')`;
}
