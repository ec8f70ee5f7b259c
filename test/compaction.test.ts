import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { BinaryValue, type Relation, type Tuple, type Value } from '../src/change/change.js';
import type { BatchChange } from '../src/apply/batch.js';
import { fold, NotCompactable, TableNet, tupleOf, type NetChange } from '../src/apply/compaction.js';
import { EncodedDelete, EncodedInsert, EncodedUpdate, EncodedUpdateWithOld } from '../src/source/pg-wal/encoded-changes.js';
import { TupleBytes } from '../src/source/pg-wal/tuple-bytes.js';
import { setStatements } from '../src/apply/set-statements.js';
import type { TargetRelation } from '../src/apply/target-relation.js';

/*
 * The net effect compaction computes per key, without a server: each case is
 * a sequence of changes to one table in one batch and the net changes the
 * applier turns into set-based statements (or NotCompactable, which sends the
 * batch to in-order replay).
 */

type RowChange = Extract<BatchChange, { kind: 'insert' | 'update' | 'delete' }>;

/** `undefined` in a tuple: an unchanged TOASTed value the source did not send. */
const TOAST = undefined;

function relation(replicaIdentity: Relation['replicaIdentity'], keys: readonly string[], columns: readonly string[]): TargetRelation {
  const source: Relation = {
    relationId: 1,
    schema: 'public',
    table: 't',
    replicaIdentity,
    columns: columns.map((name) => ({ name, typeOid: 25, typeMod: -1, isKey: keys.includes(name) })),
  };
  const written = columns.map((_, i) => i);
  const fullIdentity = replicaIdentity === 'full';
  return {
    source,
    qualifiedName: '"public"."t"',
    label: 'public.t',
    written,
    identity: fullIdentity ? written : source.columns.flatMap((c, i) => (c.isKey ? [i] : [])),
    fullIdentity,
    columnNames: [...columns],
    identityAlways: new Set(),
    types: columns.map(() => 'text'),
    arrayColumns: new Set(),
    typeOids: columns.map(() => 25),
  };
}

/** (id primary key, a, b) */
const KEYED = relation('default', ['id'], ['id', 'a', 'b']);
/** (k1, k2) primary key, v */
const COMPOSITE = relation('default', ['k1', 'k2'], ['k1', 'k2', 'v']);
/** No key: REPLICA IDENTITY FULL over (a, b). */
const FULL = relation('full', [], ['a', 'b']);

const ins = (...values: Value[]): RowChange => ({ kind: 'insert', relationId: 1, values });
/** An update that keeps its key: pgoutput sends no old tuple. */
const upd = (...values: Value[]): RowChange => ({ kind: 'update', relationId: 1, oldIsKeyOnly: false, values });
/** An update that changes the key: pgoutput sends the old key ('K', other columns null). */
const rekey = (oldId: string, ...values: Value[]): RowChange =>
  ({ kind: 'update', relationId: 1, old: [oldId, null, null], oldIsKeyOnly: true, values });
const del = (id: Value): RowChange => ({ kind: 'delete', relationId: 1, old: [id, null, null], oldIsKeyOnly: true });
const delFull = (...old: Value[]): RowChange => ({ kind: 'delete', relationId: 1, old, oldIsKeyOnly: false });

/** A net change without the references to the changes it came from. */
type Net =
  | { op: 'insert'; values: Tuple }
  | { op: 'replace'; key: Tuple; values: Tuple }
  | { op: 'update'; key: Tuple; values: Tuple }
  | { op: 'delete'; key: Tuple };

const I = (...values: Value[]): Net => ({ op: 'insert', values });
const R = (key: Tuple, ...values: Value[]): Net => ({ op: 'replace', key, values });
const U = (key: Tuple, ...values: Value[]): Net => ({ op: 'update', key, values });
const D = (key: Tuple): Net => ({ op: 'delete', key });
const key = (id: string): Tuple => [id, null, null];

function plain(change: NetChange): Net {
  switch (change.op) {
    case 'insert': return { op: 'insert', values: [...change.row.values] };
    case 'replace': return { op: 'replace', key: tupleOf(change.key), values: [...change.row.values] };
    case 'update': return { op: 'update', key: tupleOf(change.key), values: tupleOf(change.values) };
    case 'delete': return { op: 'delete', key: tupleOf(change.key) };
  }
}

/** Sorted by the first column, so a case does not depend on the map's insertion order. */
function sorted(nets: readonly Net[]): Net[] {
  const first = (n: Net) => String((n.op === 'insert' ? n.values : n.key)[0]);
  return [...nets].sort((x, y) => first(x).localeCompare(first(y)));
}

/** A tuple as pgoutput's TupleData bytes (after the column count). */
function tupleData(values: Tuple): Buffer {
  const parts = values.map((v) => {
    if (v === null) return Buffer.from('n');
    if (v === undefined) return Buffer.from('u');
    const value = v instanceof BinaryValue ? v.toBuffer() : Buffer.from(v, 'utf8');
    const head = Buffer.alloc(5);
    head[0] = v instanceof BinaryValue ? 0x62 : 0x74;
    head.writeUInt32BE(value.length, 1);
    return Buffer.concat([head, value]);
  });
  return Buffer.concat(parts);
}

/** The tuple as the WAL decoder keeps it. */
function tupleBytes(values: Tuple): TupleBytes {
  const bytes = tupleData(values);
  return new TupleBytes(bytes, 0, bytes.length, values.length);
}

/** The same change as the WAL decoder delivers it: its rows still in the bytes pgoutput sent. */
function encoded(change: RowChange): RowChange {
  switch (change.kind) {
    case 'insert': {
      const bytes = tupleData(change.values);
      return new EncodedInsert(change.relationId, bytes, 0, bytes.length, change.values.length, undefined);
    }
    case 'update':
      return change.old
        ? new EncodedUpdateWithOld(change.relationId, tupleBytes(change.old), change.oldIsKeyOnly, tupleBytes(change.values), undefined)
        : new EncodedUpdate(change.relationId, tupleBytes(change.values), undefined);
    case 'delete':
      return new EncodedDelete(change.relationId, change.oldIsKeyOnly, tupleBytes(change.old), undefined);
  }
}

/** Every case runs with rows as decoded values (trigger capture) and as encoded bytes (WAL capture). */
const FORMS = [['decoded', (c: RowChange) => c], ['encoded', encoded]] as const;
let form: (change: RowChange) => RowChange = (c) => c;

function compact(rel: TargetRelation, changes: readonly RowChange[]): TableNet {
  const net = new TableNet(rel);
  for (const change of changes) fold(net, form(change));
  return net;
}

/** Registers `body`'s tests once per form of rows. */
function inEachForm(name: string, body: () => void): void {
  for (const [label, convert] of FORMS) {
    describe(`${name} (${label} rows)`, () => {
      beforeEach(() => { form = convert; });
      afterEach(() => { form = (c) => c; });
      body();
    });
  }
}

interface NetCase {
  readonly name: string;
  readonly rel?: TargetRelation;
  readonly changes: readonly RowChange[];
  readonly net: readonly Net[];
}

const netCases: readonly NetCase[] = [
  {
    name: 'insert + update → insert of the final row',
    changes: [ins('1', 'a', 'b'), upd('1', 'a2', 'b')],
    net: [I('1', 'a2', 'b')],
  },
  {
    name: 'update + update → one update, keyed by the first',
    changes: [upd('1', 'a', 'b'), upd('1', 'a2', 'b2')],
    net: [U(['1', 'a', 'b'], '1', 'a2', 'b2')],
  },
  {
    name: 'insert + delete → nothing',
    changes: [ins('1', 'a', 'b'), del('1')],
    net: [],
  },
  {
    name: 'delete + insert → replace',
    changes: [del('1'), ins('1', 'new', 'row')],
    net: [R(key('1'), '1', 'new', 'row')],
  },
  {
    name: 'delete + insert + update → replace with the final row',
    changes: [del('1'), ins('1', 'a', 'b'), upd('1', 'a', 'b2')],
    net: [R(key('1'), '1', 'a', 'b2')],
  },
  {
    name: 'delete + insert + delete → delete',
    changes: [del('1'), ins('1', 'a', 'b'), del('1')],
    net: [D(key('1'))],
  },
  {
    name: 'insert + delete + insert → insert of the second row (the row did not exist before the batch)',
    changes: [ins('1', 'a', 'b'), del('1'), ins('1', 'c', 'd')],
    net: [I('1', 'c', 'd')],
  },
  {
    name: 'update + delete → delete by the original key',
    changes: [upd('1', 'a', 'b'), del('1')],
    net: [D(['1', 'a', 'b'])],
  },
  {
    name: 'changes to different keys stay apart',
    changes: [ins('1', 'a', 'b'), upd('2', 'x', 'y'), del('3'), upd('1', 'a1', 'b1')],
    net: [I('1', 'a1', 'b1'), U(['2', 'x', 'y'], '2', 'x', 'y'), D(key('3'))],
  },
  {
    name: 'unchanged TOAST: update + update each leaving a different column alone → both new values',
    changes: [upd('1', 'a2', TOAST), upd('1', TOAST, 'b2')],
    net: [U(['1', 'a2', TOAST], '1', 'a2', 'b2')],
  },
  {
    name: 'unchanged TOAST: a column no update sent stays undefined (left alone on the target)',
    changes: [upd('1', 'a2', TOAST), upd('1', 'a3', TOAST)],
    net: [U(['1', 'a2', TOAST], '1', 'a3', TOAST)],
  },
  {
    name: 'unchanged TOAST: insert + update leaving a column alone → the inserted value is kept',
    changes: [ins('1', 'a', 'big'), upd('1', 'a2', TOAST)],
    net: [I('1', 'a2', 'big')],
  },
  {
    name: 'unchanged TOAST: delete + insert + update leaving a column alone → the replacement keeps the inserted value',
    changes: [del('1'), ins('1', 'a', 'big'), upd('1', TOAST, TOAST)],
    net: [R(key('1'), '1', 'a', 'big')],
  },
  {
    name: 'key change → delete of the old key, insert of the new row',
    changes: [rekey('1', '2', 'a', 'b')],
    net: [D(key('1')), I('2', 'a', 'b')],
  },
  {
    name: 'insert + key change → insert under the new key only',
    changes: [ins('1', 'a', 'b'), rekey('1', '2', 'a', 'b2')],
    net: [I('2', 'a', 'b2')],
  },
  {
    name: 'key change of an updated row with unchanged TOAST → the new row takes the earlier update\'s value',
    changes: [upd('1', 'a', 'big'), rekey('1', '2', 'a2', TOAST)],
    net: [D(['1', 'a', 'big']), I('2', 'a2', 'big')],
  },
  {
    name: 'key change of an inserted row with unchanged TOAST → the new row takes the inserted value',
    changes: [ins('1', 'a', 'big'), rekey('1', '2', TOAST, TOAST)],
    net: [I('2', 'a', 'big')],
  },
  {
    name: 'key swap through a free key (1→3, 2→1, 3→2) → two replaces',
    changes: [rekey('1', '3', 'was1', 'x'), rekey('2', '1', 'was2', 'y'), rekey('3', '2', 'was1', 'x')],
    net: [R(key('1'), '1', 'was2', 'y'), R(key('2'), '2', 'was1', 'x')],
  },
  {
    name: 'key change and back (1→2, 2→1) → replace of the row under its first key',
    changes: [rekey('1', '2', 'a', 'b'), rekey('2', '1', 'a', 'b2')],
    net: [R(key('1'), '1', 'a', 'b2')],
  },
  {
    name: 'key change onto a key deleted earlier in the batch → delete of the old key, replace of the new',
    changes: [del('2'), rekey('1', '2', 'a', 'b')],
    net: [D(key('1')), R(key('2'), '2', 'a', 'b')],
  },
  {
    name: 'key change + delete of the new key → delete of the old key',
    changes: [rekey('1', '2', 'a', 'b'), del('2')],
    net: [D(key('1'))],
  },
  {
    name: 'composite keys that concatenate alike (1|23 and 12|3) stay apart',
    rel: COMPOSITE,
    changes: [upd('1', '23', 'x'), upd('12', '3', 'y'), upd('1', '23', 'x2')],
    net: [U(['1', '23', 'x'], '1', '23', 'x2'), U(['12', '3', 'y'], '12', '3', 'y')],
  },
  {
    name: 'a NULL key part is not the text "N;"',
    rel: COMPOSITE,
    changes: [upd('1', null, 'x'), upd('1', 'N;', 'y')],
    net: [U(['1', null, 'x'], '1', null, 'x'), U(['1', 'N;', 'y'], '1', 'N;', 'y')],
  },
  {
    name: 'binary keys are equal by their bytes, not by object',
    changes: [upd(new BinaryValue('\x00\x01'), 'a', 'b'), upd(new BinaryValue('\x00\x01'), 'a2', 'b')],
    net: [U([new BinaryValue('\x00\x01'), 'a', 'b'], new BinaryValue('\x00\x01'), 'a2', 'b')],
  },
];

inEachForm('compaction: net effect per key', () => {
  for (const c of netCases) {
    test(c.name, () => {
      const net = compact(c.rel ?? KEYED, c.changes);
      assert.deepEqual(sorted([...net.rows.values()].map(plain)), sorted(c.net));
    });
  }
});

interface ThrowCase {
  readonly name: string;
  readonly rel?: TargetRelation;
  readonly changes: readonly RowChange[];
  readonly message: string;
}

// Sequences only an in-order replay gets right: fold refuses them, and the applier replays the batch.
const notCompactable: readonly ThrowCase[] = [
  { name: 'update of a row deleted earlier in the batch', changes: [del('1'), upd('1', 'a', 'b')], message: 'update of a deleted row' },
  { name: 'delete of a row deleted earlier in the batch', changes: [del('1'), del('1')], message: 'delete of a deleted row' },
  { name: 'insert of a key updated earlier in the batch', changes: [upd('1', 'a', 'b'), ins('1', 'a', 'b')], message: 'insert of an existing key' },
  {
    name: 'insert of a key inserted earlier, once the table had another change',
    changes: [ins('1', 'a', 'b'), upd('2', 'x', 'y'), ins('1', 'a', 'b')],
    message: 'insert of an existing key',
  },
  { name: 'key change onto a key the batch inserted', changes: [ins('2', 'a', 'b'), rekey('1', '2', 'c', 'd')], message: 'insert of an existing key' },
  { name: 'key change of a row deleted earlier in the batch', changes: [del('1'), rekey('1', '2', 'a', 'b')], message: 'delete of a deleted row' },
  {
    name: 'key change with unchanged TOAST and no earlier row in the batch',
    changes: [rekey('1', '2', 'a', TOAST)],
    message: 'key change with unchanged TOAST values',
  },
  {
    name: 'key change with unchanged TOAST the earlier update did not send either',
    changes: [upd('1', 'a', TOAST), rekey('1', '2', 'a2', TOAST)],
    message: 'key change with unchanged TOAST values',
  },
  { name: 'key value not sent', changes: [upd(TOAST, 'a', 'b')], message: 'key value not sent' },
  { name: 'delete without its key value', changes: [del(TOAST)], message: 'key value not sent' },
];

inEachForm('compaction: sequences it refuses (NotCompactable)', () => {
  for (const c of notCompactable) {
    test(c.name, () => {
      assert.throws(() => compact(c.rel ?? KEYED, c.changes).rows, (err: unknown) => {
        assert.ok(err instanceof NotCompactable, `expected NotCompactable, got ${String(err)}`);
        assert.equal(err.message, c.message);
        return true;
      });
    });
  }
});

describe('compaction: leading inserts', () => {
  test('a table that was only inserted into keeps its inserts as a list, in order', () => {
    const rows = [ins('2', 'a', 'b'), ins('1', 'c', 'd')];
    const net = compact(KEYED, rows);
    assert.deepEqual(net.insertsOnly, rows);
  });

  test('the first other change turns the list into per-key net changes', () => {
    const net = compact(KEYED, [ins('1', 'a', 'b'), ins('2', 'c', 'd'), del('1')]);
    assert.equal(net.insertsOnly, undefined);
    assert.deepEqual([...net.rows.values()].map(plain), [I('2', 'c', 'd')]);
  });

  // The source's key is unique, so two leading inserts of one key cannot come from it;
  // the list does not check, and the check happens once the rows are keyed.
  test('two leading inserts of one key pass as a list and are refused once keyed', () => {
    const net = compact(KEYED, [ins('1', 'a', 'b'), ins('1', 'a', 'b')]);
    assert.equal(net.insertsOnly?.length, 2);
    assert.throws(() => net.rows, (err: unknown) => err instanceof NotCompactable && err.message === 'insert of an existing key');
  });
});

/*
 * REPLICA IDENTITY FULL tables never reach compaction: the applier's set
 * plan (applier.ts, planSet) sends their changes row by row in order, since
 * without a key identical rows are indistinguishable. These cases pin what
 * compaction itself would do with such a table: its identity is every column,
 * and duplicate rows make it refuse rather than lose a row.
 */
const fullCases: readonly ThrowCase[] = [
  { name: 'FULL: two identical rows inserted', rel: FULL, changes: [ins('x', 'y'), ins('x', 'y'), delFull('z', 'z')], message: 'insert of an existing key' },
  { name: 'FULL: two identical rows deleted (one of two duplicates each time)', rel: FULL, changes: [delFull('x', 'y'), delFull('x', 'y')], message: 'delete of a deleted row' },
];

describe('compaction: REPLICA IDENTITY FULL duplicates', () => {
  test('FULL: the identity is every written column', () => {
    assert.deepEqual(FULL.identity, [0, 1]);
    const net = compact(FULL, [delFull('x', 'y'), ins('x', 'y2')]);
    // With every column in the key, an update-like pair is a delete and an insert of a different row.
    assert.deepEqual(sorted([...net.rows.values()].map(plain)), sorted([D(['x', 'y']), I('x', 'y2')]));
  });
  for (const c of fullCases) {
    test(c.name, () => {
      assert.throws(() => compact(c.rel ?? KEYED, c.changes).rows, (err: unknown) => err instanceof NotCompactable && err.message === c.message);
    });
  }
});

interface StatementCase {
  readonly name: string;
  readonly changes: readonly RowChange[];
  readonly statements: readonly { text: string; values: unknown[]; expectRows: number }[];
  readonly inserts: readonly Tuple[];
}

const T = '"public"."t"';
const statementCases: readonly StatementCase[] = [
  {
    name: 'inserts only: no statement, every row to COPY',
    changes: [ins('1', 'a', 'b'), ins('2', 'c', 'd')],
    statements: [],
    inserts: [['1', 'a', 'b'], ['2', 'c', 'd']],
  },
  {
    name: 'updates with unchanged TOAST: one UPDATE per set of sent columns, the key never SET',
    changes: [upd('1', 'a1', TOAST), upd('2', 'a2', TOAST), upd('3', 'a3', 'b3'), upd('1', TOAST, TOAST)],
    statements: [
      {
        text: `UPDATE ${T} t SET "a" = s.c1 FROM unnest($1::text[], $2::text[]) AS s(c0, c1) WHERE t."id" = s.c0`,
        values: [['1', '2'], ['a1', 'a2']],
        expectRows: 2,
      },
      {
        text: `UPDATE ${T} t SET "a" = s.c1, "b" = s.c2 FROM unnest($1::text[], $2::text[], $3::text[]) AS s(c0, c1, c2) WHERE t."id" = s.c0`,
        values: [['3'], ['a3'], ['b3']],
        expectRows: 1,
      },
    ],
    inserts: [],
  },
  {
    name: 'delete + insert and a key change: the old keys deleted in one statement, the new rows to COPY',
    changes: [del('1'), ins('1', 'n', 'n'), rekey('5', '6', 'a', 'b')],
    statements: [
      { text: `DELETE FROM ${T} t USING unnest($1::text[]) AS s(c0) WHERE t."id" = s.c0`, values: [['1', '5']], expectRows: 2 },
    ],
    inserts: [['1', 'n', 'n'], ['6', 'a', 'b']],
  },
  {
    name: 'an update that sent only unchanged TOAST values: no statement',
    changes: [upd('1', TOAST, TOAST), del('2')],
    statements: [
      { text: `DELETE FROM ${T} t USING unnest($1::text[]) AS s(c0) WHERE t."id" = s.c0`, values: [['2']], expectRows: 1 },
    ],
    inserts: [],
  },
];

inEachForm('compaction: set statements', () => {
  for (const c of statementCases) {
    test(c.name, () => {
      const { statements, inserts } = setStatements(compact(KEYED, c.changes));
      assert.deepEqual(statements.map(({ text, values, expectRows }) => ({ text, values, expectRows })), c.statements);
      assert.deepEqual(inserts.map((r) => [...r.values]), c.inserts);
    });
  }
});

describe('compaction: set statements of a binary relation', () => {
  const int4 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return new BinaryValue(b.toString('latin1')); };
  const BINARY: TargetRelation = { ...KEYED, source: { ...KEYED.source, binary: true }, types: ['integer', 'integer', 'integer'], typeOids: [23, 23, 23] };
  const changes: RowChange[] = [
    upd(int4(1), int4(10), null), upd(int4(2), int4(20), int4(21)), upd(int4(1), int4(11), int4(12)),
    del(int4(3)), ins(int4(3), int4(30), null), rekey('x', int4(4), int4(40), int4(41)),
  ].map((c) => (c.kind === 'update' && c.old ? { ...c, old: [int4(9), null, null] } : c));

  test('encoded rows give the same statements and parameters as decoded values, written from their bytes', () => {
    const statementsOf = (convert: (c: RowChange) => RowChange) => {
      const net = new TableNet(BINARY);
      for (const change of changes) fold(net, convert(change));
      return setStatements(net);
    };
    const decoded = statementsOf((c) => c);
    const fromBytes = statementsOf(encoded);
    assert.deepEqual(fromBytes.statements, decoded.statements);
    assert.deepEqual(fromBytes.inserts.map((r) => r.values), decoded.inserts.map((r) => r.values));
    // One DELETE (3 and 9), one UPDATE of the two remaining keys: binary arrays, not strings.
    assert.deepEqual(decoded.statements.map((s) => s.expectRows), [2, 2]);
    assert.ok(fromBytes.statements.every((s) => s.values.every((v) => Buffer.isBuffer(v))));
  });
});
