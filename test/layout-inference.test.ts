import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { anchorOf, inferLayout, textReadsAs, type CatalogAttribute, type Layout } from '../src/source/pg-trigger/layout-inference.js';

/**
 * Which columns a queued row holds, told from the layout of the rows before
 * it, the catalog of now and the row's number of values; or why it cannot
 * be told (then nothing of it may be written).
 */

const INT4 = 23;
const INT8 = 20;
const TEXT = 25;
const VARCHAR = 1043;
const BPCHAR = 1042;

const live = (attnum: number, name: string, typeOid = INT4, typeMod = -1, generated = false): CatalogAttribute =>
  ({ attnum, name, typeOid, typeMod, dropped: false, generated });
const dropped = (attnum: number): CatalogAttribute => ({ attnum, name: `........pg.dropped.${attnum}........`, typeOid: 0, typeMod: -1, dropped: true, generated: false });
const known = (...columns: [number, string, number?, number?][]) => columns.map(([attnum, name, typeOid = INT4, typeMod = -1]) => ({ attnum, name, typeOid, typeMod }));

/** The layout as "attnum:name" joined, or "unreadable: …". */
function decide(anchor: Layout, catalog: CatalogAttribute[], fields: number): string {
  const d = inferLayout(anchor, catalog, fields, textReadsAs);
  return 'layout' in d ? d.layout.map((f) => `${f.attnum}:${f.name}`).join(' ') : `unreadable: ${d.unreadable}`;
}

describe('the layout of a queued row', () => {
  const base = anchorOf(known([1, 'id'], [2, 'a'], [3, 'b', TEXT]), [live(1, 'id'), live(2, 'a'), live(3, 'b', TEXT)]);

  test('nothing changed: the recorded layout', () => {
    assert.equal(decide(base, [live(1, 'id'), live(2, 'a'), live(3, 'b', TEXT)], 3), '1:id 2:a 3:b');
  });

  test('columns added: the number of values says how many of them a row has', () => {
    const catalog = [live(1, 'id'), live(2, 'a'), live(3, 'b', TEXT), live(4, 'c'), live(5, 'd')];
    assert.equal(decide(base, catalog, 3), '1:id 2:a 3:b');
    assert.equal(decide(base, catalog, 4), '1:id 2:a 3:b 4:c');
    assert.equal(decide(base, catalog, 5), '1:id 2:a 3:b 4:c 5:d');
    assert.match(decide(base, catalog, 6), /^unreadable: .*6 values, which no layout/);
  });

  test('a column dropped: rows before the drop keep its old name, rows after lack it', () => {
    const catalog = [live(1, 'id'), dropped(2), live(3, 'b', TEXT)];
    assert.equal(decide(base, catalog, 3), '1:id 2:a 3:b');
    assert.equal(decide(base, catalog, 2), '1:id 3:b');
  });

  test('renamed columns carry their new name in every row', () => {
    assert.equal(decide(base, [live(1, 'id'), live(2, 'a2'), live(3, 'b', TEXT)], 3), '1:id 2:a2 3:b');
  });

  test('a column dropped and another added: the same number of values is unreadable, the row between them is not', () => {
    const catalog = [live(1, 'id'), dropped(2), live(3, 'b', TEXT), live(4, 'c')];
    assert.match(decide(base, catalog, 3), /^unreadable: .*2 layouts/);
    assert.equal(decide(base, catalog, 2), '1:id 3:b');
    assert.equal(decide(base, catalog, 4), '1:id 2:a 3:b 4:c');
  });

  test('once a newer layout is seen, older ones are done with: the anchor moves on', () => {
    const catalog = [live(1, 'id'), dropped(2), live(3, 'b', TEXT), live(4, 'c')];
    const between = inferLayout(base, catalog, 2, textReadsAs);
    assert.ok('layout' in between);
    assert.equal(decide(between.layout, catalog, 3), '1:id 3:b 4:c');
    assert.match(decide(between.layout, catalog, 4), /^unreadable/);
  });

  test('two columns dropped: rows with one of them are unreadable (which one went first is unknown)', () => {
    const wide = anchorOf(known([1, 'id'], [2, 'a'], [3, 'b', TEXT], [4, 'c']), [live(1, 'id'), live(2, 'a'), live(3, 'b', TEXT), live(4, 'c')]);
    const catalog = [live(1, 'id'), dropped(2), live(3, 'b', TEXT), dropped(4)];
    assert.equal(decide(wide, catalog, 4), '1:id 2:a 3:b 4:c');
    assert.equal(decide(wide, catalog, 2), '1:id 3:b');
    assert.match(decide(wide, catalog, 3), /^unreadable/);
  });

  test('a column added and dropped again: rows that may hold it are unreadable where they could be another layout', () => {
    // 4 added then dropped, 5 added: 4 values are either "with 4" or "with 5".
    const catalog = [live(1, 'id'), live(2, 'a'), live(3, 'b', TEXT), dropped(4), live(5, 'e')];
    assert.equal(decide(base, catalog, 3), '1:id 2:a 3:b');
    assert.match(decide(base, catalog, 4), /^unreadable/);
    assert.equal(decide(base, catalog, 5), '1:id 2:a 3:b 4: 5:e');
  });

  test('type changes whose old text reads the same in the new type are followed; others make the rows unreadable', () => {
    assert.equal(decide(base, [live(1, 'id'), live(2, 'a', INT8), live(3, 'b', TEXT)], 3), '1:id 2:a 3:b');
    assert.match(decide(base, [live(1, 'id'), live(2, 'a', TEXT), live(3, 'b', INT4)], 3), /^unreadable: the type of column b changed/);
  });

  test('generated columns the record leaves out are in every row', () => {
    const catalog = [live(1, 'id'), live(2, 'a'), live(3, 'twice', INT4, -1, true), live(4, 'b', TEXT)];
    const anchor = anchorOf(known([1, 'id'], [2, 'a'], [4, 'b', TEXT]), catalog);
    assert.equal(decide(anchor, catalog, 4), '1:id 2:a 3:twice 4:b');
  });

  test('without a record, the catalog of now', () => {
    assert.equal(decide(anchorOf(undefined, [live(1, 'id'), dropped(2), live(3, 'b')]), [live(1, 'id'), dropped(2), live(3, 'b')], 2), '1:id 3:b');
  });
});

describe('which type changes keep a value\'s text readable', () => {
  const t = (typeOid: number, typeMod = -1) => ({ typeOid, typeMod });
  const cases: [string, ReturnType<typeof t>, ReturnType<typeof t>, boolean][] = [
    ['int4 to int8', t(INT4), t(INT8), true],
    ['int8 to int4', t(INT8), t(INT4), false],
    ['varchar(10) to text', t(VARCHAR, 14), t(TEXT), true],
    ['varchar(10) to varchar(20)', t(VARCHAR, 14), t(VARCHAR, 24), true],
    ['varchar(20) to varchar(10): the cast truncates, input fails', t(VARCHAR, 24), t(VARCHAR, 14), false],
    ['char(5) to text: the cast drops trailing blanks', t(BPCHAR, 9), t(TEXT), false],
    ['numeric(10,2) to numeric(12,4)', t(1700, 655366), t(1700, 786440), true],
    ['text to int4', t(TEXT), t(INT4), false],
    ['int4 to text', t(INT4), t(TEXT), true],
    ['timestamp to timestamptz: reads in another time zone', t(1114), t(1184), false],
  ];
  for (const [name, from, to, expected] of cases) test(name, () => assert.equal(textReadsAs(from, to), expected));
});
