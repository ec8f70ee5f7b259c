import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, afterEach, before, describe, test } from 'node:test';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Change, ChangeKind, Relation } from '../src/change/change.js';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { FerryError } from '../src/errors.js';
import { formatLsn, parseLsn } from '../src/source/pg-wal/lsn.js';
import { PgOutputDecoder } from '../src/source/pg-wal/pgoutput-decoder.js';

/*
 * The decoder against real servers: every message decoded here was written
 * by PostgreSQL's own pgoutput, read back through
 * pg_logical_slot_get_binary_changes (or, where the SQL interface cannot
 * produce a message, a live walsender stream).
 */

const COMMON_SETTINGS = {
  // The SQL decoding functions stop at the WAL flush position; with the
  // embedded default synchronous_commit=off a just-committed transaction may
  // not be flushed yet and would be missing from the output.
  synchronous_commit: 'on',
  // Lets tests compare commit timestamps with pg_xact_commit_timestamp().
  track_commit_timestamp: 'on',
};

type Of<K extends ChangeKind> = Extract<Change, { kind: K }>;

interface Decoded {
  /** The `lsn` column of pg_logical_slot_get_binary_changes. */
  readonly lsn: bigint;
  readonly xid: number;
  readonly data: Buffer;
  readonly change: Change;
}

/** A logical slot read through the SQL interface with one decoder, as a walsender client would. */
class Slot {
  private readonly decoder: PgOutputDecoder;

  private constructor(readonly cluster: Cluster, readonly name: string, readonly options: Readonly<Record<string, string>>) {
    this.decoder = new PgOutputDecoder(Number(options.proto_version));
  }

  static async create(cluster: Cluster, name: string, options: Readonly<Record<string, string>>, twoPhase = false): Promise<Slot> {
    await cluster.query(twoPhase
      ? `SELECT pg_create_logical_replication_slot($1, 'pgoutput', false, true)`
      : `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [name]);
    return new Slot(cluster, name, options);
  }

  async raw(): Promise<{ lsn: bigint; xid: number; data: Buffer }[]> {
    const res = await this.cluster.query(
      `SELECT lsn::text AS lsn, xid::text AS xid, data
         FROM pg_logical_slot_get_binary_changes($1, NULL, NULL, VARIADIC $2::text[])`,
      [this.name, Object.entries(this.options).flat()]);
    return (res.rows as { lsn: string; xid: string; data: Buffer }[])
      .map((r) => ({ lsn: parseLsn(r.lsn), xid: Number(r.xid), data: r.data }));
  }

  async changes(): Promise<Decoded[]> {
    return (await this.raw()).map((m) => ({ ...m, change: this.decoder.decode(m.data) }));
  }
}

function kinds(msgs: readonly Decoded[]): ChangeKind[] {
  return msgs.map((m) => m.change.kind);
}

function only<K extends ChangeKind>(msgs: readonly Decoded[], kind: K): Of<K>[] {
  return msgs.map((m) => m.change).filter((c): c is Of<K> => c.kind === kind);
}

function one<K extends ChangeKind>(msgs: readonly Decoded[], kind: K, what: string): Of<K> {
  const all = only(msgs, kind);
  assert.equal(all.length, 1, `${what}: expected exactly one ${kind} message, got ${all.length} (${kinds(msgs).join(', ')})`);
  const [first] = all;
  assert.ok(first);
  return first;
}

function relationOf(msgs: readonly Decoded[], relationId: number, what: string): Relation {
  const found = only(msgs, 'relation').filter((r) => r.relation.relationId === relationId);
  assert.equal(found.length, 1, `${what}: expected one relation message for oid ${relationId}, got ${found.length}`);
  const [first] = found;
  assert.ok(first);
  return first.relation;
}

/** Each test makes its own slots; max_replication_slots would run out otherwise. */
async function dropSlots(c: Cluster | undefined): Promise<void> {
  await c?.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active');
}

async function oidOf(c: Cluster, qualifiedName: string): Promise<number> {
  const res = await c.query('SELECT $1::regclass::oid::int8::text AS oid', [qualifiedName]);
  return Number((res.rows[0] as { oid: string }).oid);
}

async function currentLsn(c: Cluster): Promise<bigint> {
  const res = await c.query('SELECT pg_current_wal_lsn()::text AS lsn');
  return parseLsn((res.rows[0] as { lsn: string }).lsn);
}

/** Runs the statements in one transaction on one session; returns its xid. */
async function inTransaction(c: Cluster, statements: readonly (string | [string, unknown[]])[]): Promise<number> {
  const client = new pg.Client({ connectionString: c.url() });
  await client.connect();
  try {
    await client.query('BEGIN');
    for (const s of statements) {
      if (typeof s === 'string') await client.query(s);
      else await client.query(s[0], s[1]);
    }
    const res = await client.query<{ xid: string }>('SELECT pg_current_xact_id()::xid::text AS xid');
    await client.query('COMMIT');
    return Number(res.rows[0]?.xid);
  } finally {
    await client.end();
  }
}

async function assertCommitTime(c: Cluster, xid: number, commitTime: bigint, what: string): Promise<void> {
  // Exact comparison in SQL: int8 microseconds times a 1 µs interval loses nothing.
  const res = await c.query(
    `SELECT pg_xact_commit_timestamp($1::text::xid)::text AS ts,
            pg_xact_commit_timestamp($1::text::xid)
              = timestamptz '2000-01-01 00:00:00+00' + $2::int8 * interval '1 microsecond' AS same`,
    [String(xid), commitTime.toString()]);
  const row = res.rows[0] as { ts: string; same: boolean };
  assert.equal(row.same, true, `${what}: commit time ${commitTime} µs since 2000-01-01 should be ${row.ts}`);
}

function assertDecodeError(fn: () => unknown, pattern: RegExp, what: string): FerryError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof FerryError, `${what}: expected a FerryError, got ${String(caught)}`);
  assert.equal(caught.code, 'FERRY_PGOUTPUT_DECODE', `${what}: error code`);
  assert.match(caught.message, pattern, `${what}: error message`);
  return caught;
}

/**
 * Tests that hold for every supported server through protocol 1. `messages`
 * is passed where the server knows it (14+).
 */
function commonBehaviour(major: number, cluster: () => Cluster): void {
  const options = (publication: string): Record<string, string> => ({
    proto_version: '1',
    publication_names: publication,
    ...(major >= 14 ? { messages: 'true' } : {}),
  });

  test('begin and commit carry xid, commit LSN, end LSN and commit time, in WAL order', async () => {
    const c = cluster();
    await c.query('CREATE TABLE lsn_t (id int PRIMARY KEY); CREATE PUBLICATION lsn_p FOR TABLE lsn_t');
    const slot = await Slot.create(c, 'lsn_s', options('lsn_p'));
    const start = await currentLsn(c);
    const xid1 = await inTransaction(c, ['INSERT INTO lsn_t VALUES (1)']);
    const xid2 = await inTransaction(c, ['INSERT INTO lsn_t VALUES (2)', 'INSERT INTO lsn_t VALUES (3)']);
    const end = await currentLsn(c);

    const msgs = await slot.changes();
    assert.deepEqual(kinds(msgs), ['begin', 'relation', 'insert', 'commit', 'begin', 'insert', 'insert', 'commit'], 'message sequence');
    const begins = only(msgs, 'begin');
    const commits = only(msgs, 'commit');
    const commitRows = msgs.filter((m) => m.change.kind === 'commit');
    for (const [i, xid] of [xid1, xid2].entries()) {
      const b = begins[i];
      const cm = commits[i];
      assert.ok(b && cm);
      const what = `transaction ${i + 1} (xid ${xid})`;
      assert.equal(b.xid, xid, `${what}: begin xid`);
      assert.equal(b.finalLsn, cm.commitLsn, `${what}: begin final LSN is the commit record's LSN`);
      assert.ok(cm.commitLsn < cm.endLsn, `${what}: commit LSN ${formatLsn(cm.commitLsn)} < end LSN ${formatLsn(cm.endLsn)}`);
      assert.equal(cm.endLsn, commitRows[i]?.lsn, `${what}: commit end LSN is the lsn the slot reports for the commit message`);
      assert.equal(b.commitTime, cm.commitTime, `${what}: begin and commit carry the same commit time`);
      await assertCommitTime(c, xid, cm.commitTime, `${what} commit`);
    }
    const [c1, c2] = commits;
    assert.ok(c1 && c2);
    assert.ok(start < c1.commitLsn, `first commit ${formatLsn(c1.commitLsn)} after pg_current_wal_lsn() before it ${formatLsn(start)}`);
    assert.ok(c1.endLsn <= c2.commitLsn, `second commit ${formatLsn(c2.commitLsn)} after first end ${formatLsn(c1.endLsn)}`);
    assert.ok(c2.endLsn <= end, `second end ${formatLsn(c2.endLsn)} not after pg_current_wal_lsn() afterwards ${formatLsn(end)}`);
  });

  test('relation message names schema, table, replica identity, key columns and type oids; dropped and generated columns are absent', async () => {
    const c = cluster();
    await c.query(`
      CREATE SCHEMA "Sch€ma";
      CREATE TABLE "Sch€ma".rel_default (id int PRIMARY KEY, "Näme" varchar(20), gone text, num numeric(10,2),
                                          g int GENERATED ALWAYS AS (id * 2) STORED);
      ALTER TABLE "Sch€ma".rel_default DROP COLUMN gone;
      CREATE TABLE "Sch€ma".rel_full (a int, b text);
      ALTER TABLE "Sch€ma".rel_full REPLICA IDENTITY FULL;
      CREATE TABLE "Sch€ma".rel_index (a int NOT NULL, b int NOT NULL, c text);
      CREATE UNIQUE INDEX rel_index_ba ON "Sch€ma".rel_index (b, a);
      ALTER TABLE "Sch€ma".rel_index REPLICA IDENTITY USING INDEX rel_index_ba;
      CREATE TABLE "Sch€ma".rel_nothing (a int, b timestamptz(3));
      ALTER TABLE "Sch€ma".rel_nothing REPLICA IDENTITY NOTHING;
      CREATE PUBLICATION rel_p FOR TABLE "Sch€ma".rel_default, "Sch€ma".rel_full, "Sch€ma".rel_index, "Sch€ma".rel_nothing`);
    const slot = await Slot.create(c, 'rel_s', options('rel_p'));
    await inTransaction(c, [
      `INSERT INTO "Sch€ma".rel_default VALUES (1, 'x', 1.5)`,
      `INSERT INTO "Sch€ma".rel_full VALUES (1, 'x')`,
      `INSERT INTO "Sch€ma".rel_index VALUES (1, 2, 'x')`,
      `INSERT INTO "Sch€ma".rel_nothing VALUES (1, now())`,
    ]);
    const msgs = await slot.changes();

    const cases = [
      { table: 'rel_default', identity: 'default', keys: ['id'], names: ['id', 'Näme', 'num'] },
      { table: 'rel_full', identity: 'full', keys: ['a', 'b'], names: ['a', 'b'] },
      { table: 'rel_index', identity: 'index', keys: ['a', 'b'], names: ['a', 'b', 'c'] },
      { table: 'rel_nothing', identity: 'nothing', keys: [], names: ['a', 'b'] },
    ] as const;
    for (const k of cases) {
      const qualified = `"Sch€ma".${k.table}`;
      const oid = await oidOf(c, qualified);
      const rel = relationOf(msgs, oid, `relation ${k.table}`);
      assert.equal(rel.schema, 'Sch€ma', `relation ${k.table}: schema`);
      assert.equal(rel.table, k.table, `relation ${k.table}: table`);
      assert.equal(rel.replicaIdentity, k.identity, `relation ${k.table}: replica identity`);
      // What the catalog says the live, non-generated columns are.
      const catalog = await c.query(
        `SELECT attname, atttypid::int8::text AS typ, atttypmod FROM pg_attribute
          WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
          ORDER BY attnum`, [qualified]);
      const expected = (catalog.rows as { attname: string; typ: string; atttypmod: number }[]).map((r) => ({
        name: r.attname,
        typeOid: Number(r.typ),
        typeMod: r.atttypmod,
        isKey: (k.keys as readonly string[]).includes(r.attname),
      }));
      assert.deepEqual(expected.map((col) => col.name), k.names, `catalog columns of ${k.table} (test premise)`);
      for (const [i, col] of expected.entries()) {
        assert.deepEqual(rel.columns[i], col, `relation ${k.table}: column ${i + 1} (${col.name})`);
      }
      assert.equal(rel.columns.length, expected.length, `relation ${k.table}: column count`);
    }
    const def = relationOf(msgs, await oidOf(c, '"Sch€ma".rel_default'), 'relation rel_default');
    assert.equal(def.columns[1]?.typeMod, 24, 'relation rel_default: varchar(20) typmod is 20 + 4');
    assert.equal(def.columns[2]?.typeMod, (10 << 16 | 2) + 4, 'relation rel_default: numeric(10,2) typmod');
    assert.equal(def.columns[2]?.typeOid, 1700, 'relation rel_default: numeric type oid');
  });

  test('insert carries every type as its text output; NULL and empty string stay distinct; UTF-8 survives', async () => {
    const c = cluster();
    await c.query(`
      CREATE TABLE types_t (id int PRIMARY KEY, n numeric, n_nan numeric, ts timestamptz, d date, iv interval,
        ints int[], texts text[], j jsonb, b bytea, t text, empty text, nul text, f float8, bo boolean, u uuid,
        big int8, pt point);
      CREATE PUBLICATION types_p FOR TABLE types_t`);
    const slot = await Slot.create(c, 'types_s', options('types_p'));
    const text = 'ünïcødé 日本語 🚀\nline2 "quoted" \\ back\ttab';
    await inTransaction(c, [[
      `INSERT INTO types_t VALUES (1, 12345.678900, 'NaN', '2024-02-29 13:14:15.123456+01', '2024-02-29',
        '1 day 02:03:04.5', '{1,NULL,3}', ARRAY['a b', NULL, 'q"uote', 'ü', 'NULL'], '{"a": [1, null, "x"], "ü": "€"}',
        '\\x00ff10', $1, '', NULL, -0.5, true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', -9223372036854775808, '(1.5,-2)')`,
      [text]]]);
    const msgs = await slot.changes();
    const ins = one(msgs, 'insert', 'insert into types_t');
    assert.equal(ins.relationId, await oidOf(c, 'types_t'), 'insert into types_t: relation id');

    // The reference is the type output functions, as a query result in text
    // format carries them (a ::text cast is not the same: bool casts to 'true'
    // but outputs 't').
    const reader = new pg.Client({ connectionString: c.url(), types: { getTypeParser: () => (text: string) => text } });
    await reader.connect();
    const res = await reader.query({ text: 'SELECT * FROM types_t', rowMode: 'array' }).finally(() => reader.end());
    const expected = res.rows[0] as (string | null)[];
    const names = res.fields.map((f) => f.name);
    assert.equal(ins.values.length, expected.length, 'insert into types_t: column count');
    for (const [i, value] of expected.entries()) {
      assert.strictEqual(ins.values[i], value, `insert into types_t: column ${names[i]}`);
    }
    const col = (name: string) => ins.values[names.indexOf(name)];
    assert.equal(col('n'), '12345.678900', 'insert into types_t: column n keeps its scale');
    assert.equal(col('n_nan'), 'NaN', 'insert into types_t: column n_nan');
    assert.equal(col('ints'), '{1,NULL,3}', 'insert into types_t: column ints (NULL element)');
    assert.equal(col('texts'), '{"a b",NULL,"q\\"uote",ü,"NULL"}', 'insert into types_t: column texts (NULL element vs "NULL" string)');
    assert.equal(col('b'), '\\x00ff10', 'insert into types_t: column b (bytea hex)');
    assert.equal(col('t'), text, 'insert into types_t: column t (multibyte UTF-8, newline, backslash)');
    assert.strictEqual(col('empty'), '', 'insert into types_t: column empty is the empty string');
    assert.strictEqual(col('nul'), null, 'insert into types_t: column nul is SQL NULL');
    assert.equal(col('big'), '-9223372036854775808', 'insert into types_t: column big (int8 minimum)');
    assert.equal(col('bo'), 't', 'insert into types_t: column bo (boolout, not the text cast)');
  });

  test('an insert kept encoded writes COPY text that loads back as the same row, for all columns or some', async () => {
    const c = cluster();
    await c.query(`
      CREATE TABLE enc_t (id int PRIMARY KEY, t text, empty text, nul text, arr text[], j jsonb, b bytea);
      CREATE TABLE enc_all (LIKE enc_t); CREATE TABLE enc_some (id int, nul text, j jsonb);
      CREATE PUBLICATION enc_p FOR TABLE enc_t`);
    const slot = await Slot.create(c, 'enc_s', options('enc_p'));
    const awkward = 'tab\there\nnew line\r\\back\\slash \\N ünï 🚀 '.repeat(3);
    await inTransaction(c, [[`INSERT INTO enc_t VALUES (7, $1, '', NULL, ARRAY[$1, NULL, '\\N'], jsonb_build_object('k', $1), '\\x5c090a0d')`, [awkward]]]);
    const ins = one(await slot.changes(), 'insert', 'insert into enc_t');
    assert.ok(ins.encoded, 'an insert keeps its row encoded');
    for (const [table, columns] of [['enc_all', [0, 1, 2, 3, 4, 5, 6]], ['enc_some', [0, 3, 5]]] as const) {
      const out = Buffer.alloc(ins.encoded.copyBound);
      const end = ins.encoded.writeCopyText(columns, out, 0);
      assert.ok(end <= out.length, `${table}: COPY text stays within its bound`);
      const client = new pg.Client({ connectionString: c.url() });
      await client.connect();
      try {
        await pipeline(Readable.from([out.subarray(0, end)]), client.query(copyFrom(`COPY ${table} FROM STDIN`)));
      } finally {
        await client.end();
      }
      const cols = table === 'enc_all' ? '*' : 'id, nul, j';
      const diff = await c.query(`SELECT count(*)::int AS n FROM ((SELECT ${cols} FROM enc_t EXCEPT SELECT * FROM ${table}) UNION ALL (SELECT * FROM ${table} EXCEPT SELECT ${cols} FROM enc_t)) d`);
      assert.equal((diff.rows[0] as { n: number }).n, 0, `${table}: the row loaded from COPY text equals the source row`);
    }
    assert.deepEqual(ins.values, [...Array(7).keys()].map((i) => ins.encoded?.value(i)), 'values and value(i) agree');
  });

  test('update that keeps the key sends only the new row', async () => {
    const c = cluster();
    await c.query(`
      CREATE TABLE upd_t (id int PRIMARY KEY, v text, w text);
      INSERT INTO upd_t VALUES (1, 'a', 'x');
      CREATE PUBLICATION upd_p FOR TABLE upd_t`);
    const slot = await Slot.create(c, 'upd_s', options('upd_p'));
    await inTransaction(c, [`UPDATE upd_t SET v = 'a2', w = NULL WHERE id = 1`]);
    const msgs = await slot.changes();
    const upd = one(msgs, 'update', 'update upd_t');
    assert.equal(upd.relationId, await oidOf(c, 'upd_t'), 'update upd_t: relation id');
    assert.equal(upd.old, undefined, 'update upd_t: no old tuple when the key did not change');
    assert.equal('old' in upd, false, 'update upd_t: old key absent, not set to undefined');
    assert.equal(upd.oldIsKeyOnly, false, 'update upd_t: oldIsKeyOnly');
    assert.deepEqual(upd.values, ['1', 'a2', null], 'update upd_t: new tuple');
  });

  test('update that changes the key sends the old key as a K tuple with other columns NULL', async () => {
    const c = cluster();
    await c.query(`
      CREATE TABLE updk_t (id int PRIMARY KEY, v text);
      INSERT INTO updk_t VALUES (2, 'b');
      CREATE TABLE updk_idx (a int NOT NULL, b text NOT NULL, c text);
      CREATE UNIQUE INDEX updk_idx_b ON updk_idx (b);
      ALTER TABLE updk_idx REPLICA IDENTITY USING INDEX updk_idx_b;
      INSERT INTO updk_idx VALUES (1, 'k', 'c');
      CREATE PUBLICATION updk_p FOR TABLE updk_t, updk_idx`);
    const slot = await Slot.create(c, 'updk_s', options('updk_p'));
    await inTransaction(c, [`UPDATE updk_t SET id = 20 WHERE id = 2`]);
    await inTransaction(c, [`UPDATE updk_idx SET b = 'k2', c = 'c2' WHERE b = 'k'`]);
    const msgs = await slot.changes();
    const [pk, idx] = only(msgs, 'update');
    assert.ok(pk && idx, `two updates expected, got ${kinds(msgs).join(', ')}`);
    assert.equal(pk.oldIsKeyOnly, true, 'update updk_t (primary key): old tuple is K');
    assert.deepEqual(pk.old, ['2', null], 'update updk_t (primary key): old key tuple');
    assert.deepEqual(pk.values, ['20', 'b'], 'update updk_t (primary key): new tuple');
    assert.equal(idx.oldIsKeyOnly, true, 'update updk_idx (identity index): old tuple is K');
    assert.deepEqual(idx.old, [null, 'k', null], 'update updk_idx (identity index): old key tuple has only the index column');
    assert.deepEqual(idx.values, ['1', 'k2', 'c2'], 'update updk_idx (identity index): new tuple');
  });

  test('update and delete on a REPLICA IDENTITY FULL table send the whole old row as an O tuple', async () => {
    const c = cluster();
    await c.query(`
      CREATE TABLE full_t (id int, v text, n int);
      ALTER TABLE full_t REPLICA IDENTITY FULL;
      INSERT INTO full_t VALUES (1, 'a', NULL);
      CREATE PUBLICATION full_p FOR TABLE full_t`);
    const slot = await Slot.create(c, 'full_s', options('full_p'));
    await inTransaction(c, [`UPDATE full_t SET v = 'b'`]);
    await inTransaction(c, ['DELETE FROM full_t']);
    const msgs = await slot.changes();
    const upd = one(msgs, 'update', 'update full_t');
    assert.equal(upd.oldIsKeyOnly, false, 'update full_t: old tuple is O');
    assert.deepEqual(upd.old, ['1', 'a', null], 'update full_t: old row');
    assert.deepEqual(upd.values, ['1', 'b', null], 'update full_t: new row');
    const del = one(msgs, 'delete', 'delete full_t');
    assert.equal(del.oldIsKeyOnly, false, 'delete full_t: old tuple is O');
    assert.deepEqual(del.old, ['1', 'b', null], 'delete full_t: old row');
  });

  test('delete sends the old key as a K tuple', async () => {
    const c = cluster();
    await c.query(`
      CREATE TABLE del_t (id int, k text, v text, PRIMARY KEY (k, id));
      INSERT INTO del_t VALUES (7, 'seven', 'x');
      CREATE PUBLICATION del_p FOR TABLE del_t`);
    const slot = await Slot.create(c, 'del_s', options('del_p'));
    await inTransaction(c, ['DELETE FROM del_t']);
    const msgs = await slot.changes();
    assert.deepEqual(kinds(msgs), ['begin', 'relation', 'delete', 'commit'], 'delete del_t: message sequence');
    const del = one(msgs, 'delete', 'delete del_t');
    assert.equal(del.relationId, await oidOf(c, 'del_t'), 'delete del_t: relation id');
    assert.equal(del.oldIsKeyOnly, true, 'delete del_t: old tuple is K');
    assert.deepEqual(del.old, ['7', 'seven', null], 'delete del_t: key columns set, others NULL');
    assert.deepEqual(relationOf(msgs, del.relationId, 'delete del_t').columns.map((col) => col.isKey), [true, true, false],
      'delete del_t: relation key flags of a composite primary key');
  });

  test('an unchanged TOASTed value arrives as undefined in the new tuple of an update', async () => {
    const c = cluster();
    await c.query(`
      CREATE TABLE toast_t (id int PRIMARY KEY, big text, small text);
      CREATE PUBLICATION toast_p FOR TABLE toast_t`);
    const slot = await Slot.create(c, 'toast_s', options('toast_p'));
    // md5 hex hardly compresses, so 12.8 kB must be stored out of line.
    await inTransaction(c, [
      `INSERT INTO toast_t SELECT 1, string_agg(md5(g::text), ''), 's' FROM generate_series(1, 400) g`,
    ]);
    const toast = await c.query(`SELECT reltoastrelid::regclass::text AS rel FROM pg_class WHERE oid = 'toast_t'::regclass`);
    const chunks = await c.query(`SELECT count(*)::int AS n FROM ${(toast.rows[0] as { rel: string }).rel}`);
    assert.ok((chunks.rows[0] as { n: number }).n > 0, 'toast_t.big is stored out of line (test premise)');
    const bigRes = await c.query('SELECT big FROM toast_t');
    const big = (bigRes.rows[0] as { big: string }).big;
    assert.equal(big.length, 12800, 'toast_t.big length (test premise)');

    await inTransaction(c, [`UPDATE toast_t SET small = 't'`]);
    await inTransaction(c, [`UPDATE toast_t SET big = 'short now'`]);
    const msgs = await slot.changes();
    const ins = one(msgs, 'insert', 'insert toast_t');
    assert.equal(ins.values[1], big, 'insert toast_t: column big carries the whole value');
    const [keep, change] = only(msgs, 'update');
    assert.ok(keep && change, `two updates expected, got ${kinds(msgs).join(', ')}`);
    assert.deepEqual(keep.values, ['1', undefined, 't'], 'update toast_t leaving big alone: column big is undefined');
    assert.ok(1 in keep.values, 'update toast_t leaving big alone: column big is an explicit undefined, not a hole');
    assert.deepEqual(change.values, ['1', 'short now', 't'], 'update toast_t changing big: column big has the new value');
  });

  test('truncate of two tables names both with CASCADE and RESTART IDENTITY; a plain truncate has neither', async () => {
    const c = cluster();
    await c.query(`
      CREATE TABLE tr_a (id serial PRIMARY KEY);
      CREATE TABLE tr_b (id serial PRIMARY KEY, a_id int REFERENCES tr_a);
      INSERT INTO tr_a VALUES (DEFAULT);
      INSERT INTO tr_b (a_id) SELECT id FROM tr_a;
      CREATE PUBLICATION tr_p FOR TABLE tr_a, tr_b`);
    const slot = await Slot.create(c, 'tr_s', options('tr_p'));
    await inTransaction(c, ['TRUNCATE tr_a, tr_b RESTART IDENTITY CASCADE']);
    await inTransaction(c, ['TRUNCATE tr_b']);
    const msgs = await slot.changes();
    // TRUNCATE gives tr_b a new relfilenode; the relcache invalidation makes
    // pgoutput send its relation message again before the second truncate.
    assert.deepEqual(kinds(msgs), ['begin', 'relation', 'relation', 'truncate', 'commit', 'begin', 'relation', 'truncate', 'commit'],
      'truncate: message sequence');
    const [both, plain] = only(msgs, 'truncate');
    assert.ok(both && plain);
    const a = await oidOf(c, 'tr_a');
    const b = await oidOf(c, 'tr_b');
    assert.deepEqual([...both.relationIds].sort(), [a, b].sort(), 'truncate tr_a, tr_b: relation ids');
    assert.equal(both.cascade, true, 'truncate tr_a, tr_b: CASCADE');
    assert.equal(both.restartIdentity, true, 'truncate tr_a, tr_b: RESTART IDENTITY');
    assert.deepEqual(plain.relationIds, [b], 'truncate tr_b: relation ids');
    assert.equal(plain.cascade, false, 'truncate tr_b: CASCADE');
    assert.equal(plain.restartIdentity, false, 'truncate tr_b: RESTART IDENTITY');
  });

  test('type messages precede the relation for enum, enum array and domain columns', async () => {
    const c = cluster();
    await c.query(`
      CREATE TYPE mood AS ENUM ('sad', 'happy');
      CREATE DOMAIN posint AS int CHECK (VALUE > 0);
      CREATE TABLE enum_t (id int PRIMARY KEY, m mood, ms mood[], d posint);
      CREATE PUBLICATION enum_p FOR TABLE enum_t`);
    const slot = await Slot.create(c, 'enum_s', options('enum_p'));
    await inTransaction(c, [`INSERT INTO enum_t VALUES (1, 'happy', '{sad,NULL}', 5)`]);
    const msgs = await slot.changes();
    assert.deepEqual(kinds(msgs), ['begin', 'type', 'type', 'type', 'relation', 'insert', 'commit'], 'enum_t: message sequence');
    const oids = await c.query(`SELECT typname, oid::int8::text AS oid FROM pg_type WHERE typname IN ('mood', '_mood', 'posint')`);
    const oid = (name: string) => Number((oids.rows as { typname: string; oid: string }[]).find((r) => r.typname === name)?.oid);
    const types = only(msgs, 'type').map(({ typeOid, schema, name }) => ({ typeOid, schema, name }));
    assert.deepEqual(types[0], { typeOid: oid('mood'), schema: 'public', name: 'mood' }, 'type message for enum mood');
    assert.deepEqual(types[1], { typeOid: oid('_mood'), schema: 'public', name: '_mood' }, 'type message for mood[]');
    // pgoutput names a domain by its base type; the empty namespace it sends means pg_catalog.
    assert.deepEqual(types[2], { typeOid: oid('posint'), schema: 'pg_catalog', name: 'int4' }, 'type message for domain posint');
    const rel = relationOf(msgs, await oidOf(c, 'enum_t'), 'relation enum_t');
    assert.deepEqual(rel.columns.map((col) => col.typeOid), [23, oid('mood'), oid('_mood'), oid('posint')], 'relation enum_t: type oids');
    assert.deepEqual(one(msgs, 'insert', 'insert enum_t').values, ['1', 'happy', '{sad,NULL}', '5'], 'insert enum_t: values');
  });

  test('origin message follows begin for a transaction replayed under a replication origin', async () => {
    const c = cluster();
    await c.query(`
      CREATE TABLE origin_t (id int PRIMARY KEY);
      CREATE PUBLICATION origin_p FOR TABLE origin_t;
      SELECT pg_replication_origin_create('ferry_origin')`);
    const slot = await Slot.create(c, 'origin_s', options('origin_p'));
    const client = new pg.Client({ connectionString: c.url() });
    await client.connect();
    try {
      await client.query(`SELECT pg_replication_origin_session_setup('ferry_origin')`);
      await client.query('BEGIN');
      await client.query(`SELECT pg_replication_origin_xact_setup('AB/CDEF0123', now())`);
      await client.query('INSERT INTO origin_t VALUES (1)');
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    const msgs = await slot.changes();
    assert.deepEqual(kinds(msgs), ['begin', 'origin', 'relation', 'insert', 'commit'], 'origin_t: message sequence');
    const origin = one(msgs, 'origin', 'origin_t');
    assert.equal(origin.name, 'ferry_origin', 'origin message: name');
    assert.equal(origin.lsn, parseLsn('AB/CDEF0123'), 'origin message: origin LSN');
  });
}

describe('pgoutput protocol 1 on PostgreSQL 13', () => {
  let c13: Cluster | undefined;
  const cluster = (): Cluster => {
    assert.ok(c13, 'PostgreSQL 13 cluster did not start');
    return c13;
  };
  before(async () => {
    c13 = await startCluster({ major: 13, settings: COMMON_SETTINGS });
  });
  afterEach(async () => {
    await dropSlots(c13);
  });
  after(async () => {
    await c13?.stop();
  });

  commonBehaviour(13, cluster);

  test('a transaction without published changes still sends begin and commit (13 does not skip empty transactions)', async () => {
    const c = cluster();
    await c.query('CREATE TABLE empty_pub (id int); CREATE TABLE empty_other (id int); CREATE PUBLICATION empty_p FOR TABLE empty_pub');
    const slot = await Slot.create(c, 'empty_s', { proto_version: '1', publication_names: 'empty_p' });
    const xid = await inTransaction(c, ['INSERT INTO empty_other VALUES (1)']);
    const msgs = await slot.changes();
    assert.deepEqual(kinds(msgs), ['begin', 'commit'], 'unpublished change: message sequence');
    assert.equal(one(msgs, 'begin', 'unpublished change').xid, xid, 'unpublished change: begin xid');
  });
});

describe('pgoutput protocols 1 to 4 on PostgreSQL 18', () => {
  let c18: Cluster | undefined;
  const cluster = (): Cluster => {
    assert.ok(c18, 'PostgreSQL 18 cluster did not start');
    return c18;
  };
  before(async () => {
    c18 = await startCluster({
      major: 18,
      settings: {
        ...COMMON_SETTINGS,
        // The minimum: a few hundred rows are enough to make the server stream.
        logical_decoding_work_mem: "'64kB'",
        // For the two-phase test, whose messages the decoder must refuse.
        max_prepared_transactions: 5,
      },
    });
  });
  afterEach(async () => {
    await dropSlots(c18);
  });
  after(async () => {
    await c18?.stop();
  });

  commonBehaviour(18, cluster);

  test('a transaction without published changes sends nothing (empty transactions are skipped since 15)', async () => {
    const c = cluster();
    await c.query('CREATE TABLE empty_pub (id int); CREATE TABLE empty_other (id int); CREATE PUBLICATION empty_p FOR TABLE empty_pub');
    const slot = await Slot.create(c, 'empty_s', { proto_version: '1', publication_names: 'empty_p' });
    await inTransaction(c, ['INSERT INTO empty_other VALUES (1)']);
    assert.deepEqual(kinds(await slot.changes()), [], 'unpublished change: message sequence');
  });

  test('logical messages: transactional ones arrive inside their transaction, others on their own', async () => {
    const c = cluster();
    await c.query('CREATE TABLE msg_t (id int PRIMARY KEY); CREATE PUBLICATION msg_p FOR TABLE msg_t');
    const slot = await Slot.create(c, 'msg_s', { proto_version: '1', publication_names: 'msg_p', messages: 'true' });
    let txLsn: string | undefined;
    const client = new pg.Client({ connectionString: c.url() });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO msg_t VALUES (1)');
      txLsn = (await client.query<{ lsn: string }>(`SELECT pg_logical_emit_message(true, 'ferry', 'hällo')::text AS lsn`)).rows[0]?.lsn;
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    // No xid, so no commit flushes it; the SQL interface only reads flushed
    // WAL, hence flush => true (PostgreSQL 17+).
    const plain = await c.query(`SELECT pg_logical_emit_message(false, 'ferry.bin', '\\x00ff00'::bytea, true)::text AS lsn`);
    const msgs = await slot.changes();
    assert.deepEqual(kinds(msgs), ['begin', 'relation', 'insert', 'message', 'commit', 'message'], 'logical messages: sequence');
    const [tx, nontx] = only(msgs, 'message');
    assert.ok(tx && nontx);
    assert.equal(tx.transactional, true, 'transactional message: flag');
    assert.equal(tx.prefix, 'ferry', 'transactional message: prefix');
    assert.deepEqual(tx.content, Buffer.from('hällo', 'utf8'), 'transactional message: content');
    assert.ok(txLsn, 'pg_logical_emit_message returned an LSN');
    assert.equal(tx.lsn, parseLsn(txLsn), 'transactional message: LSN returned by pg_logical_emit_message');
    assert.equal(nontx.transactional, false, 'non-transactional message: flag');
    assert.equal(nontx.prefix, 'ferry.bin', 'non-transactional message: prefix');
    assert.deepEqual(nontx.content, Buffer.from([0, 255, 0]), 'non-transactional message: binary content');
    assert.equal(nontx.lsn, parseLsn((plain.rows[0] as { lsn: string }).lsn), 'non-transactional message: LSN');
    assert.equal('xid' in nontx, false, 'non-transactional message outside a stream: no xid');
  });

  test('a large transaction is streamed in segments carrying its xid and ends in stream-commit (protocol 2)', async () => {
    const c = cluster();
    await c.query('CREATE TABLE stream_t (id int PRIMARY KEY, pad text); CREATE PUBLICATION stream_p FOR TABLE stream_t');
    const slot = await Slot.create(c, 'stream_s', { proto_version: '2', publication_names: 'stream_p', streaming: 'on' });
    const xid = await inTransaction(c, [`INSERT INTO stream_t SELECT g, repeat('x', 100) FROM generate_series(1, 3000) g`]);
    const msgs = await slot.changes();

    assert.equal(only(msgs, 'begin').length, 0, 'streamed transaction: no begin message');
    assert.equal(only(msgs, 'commit').length, 0, 'streamed transaction: no commit message');
    const starts = only(msgs, 'stream-start');
    assert.ok(starts.length >= 2, `streamed transaction: expected several segments with 64kB work mem, got ${starts.length}`);
    assert.deepEqual(starts.map((s) => s.firstSegment), starts.map((_, i) => i === 0), 'stream-start: only the first segment is flagged first');
    assert.ok(starts.every((s) => s.xid === xid), `stream-start: every segment names xid ${xid}`);
    // Stream brackets alternate, and every data message inside carries the xid.
    let open = false;
    for (const [i, m] of msgs.entries()) {
      const ch = m.change;
      if (ch.kind === 'stream-start') {
        assert.equal(open, false, `message ${i}: stream-start inside a stream`);
        open = true;
      } else if (ch.kind === 'stream-stop') {
        assert.equal(open, true, `message ${i}: stream-stop outside a stream`);
        open = false;
      } else if (ch.kind === 'relation' || ch.kind === 'insert') {
        assert.equal(open, true, `message ${i} (${ch.kind}): data outside a stream`);
        assert.equal(ch.xid, xid, `message ${i} (${ch.kind}): xid`);
      }
    }
    const inserts = only(msgs, 'insert');
    assert.equal(inserts.length, 3000, 'streamed transaction: insert count');
    assert.deepEqual(inserts[2999]?.values, ['3000', 'x'.repeat(100)], 'streamed transaction: last insert values');
    const last = msgs[msgs.length - 1];
    assert.ok(last && last.change.kind === 'stream-commit', `streamed transaction: ends in stream-commit, got ${last?.change.kind}`);
    const commit = last.change;
    assert.equal(commit.xid, xid, 'stream-commit: xid');
    assert.ok(commit.commitLsn < commit.endLsn, 'stream-commit: commit LSN before end LSN');
    assert.equal(commit.endLsn, last.lsn, 'stream-commit: end LSN is the lsn the slot reports');
    await assertCommitTime(c, xid, commit.commitTime, 'stream-commit');
  });

  test('a rolled-back subtransaction of a streamed transaction ends in stream-abort with its subxid (protocols 2 and 4)', async () => {
    const c = cluster();
    await c.query('CREATE TABLE sub_t (id int PRIMARY KEY, pad text); CREATE PUBLICATION sub_p FOR TABLE sub_t');
    const v2 = await Slot.create(c, 'sub_s2', { proto_version: '2', publication_names: 'sub_p', streaming: 'on' });
    const v4 = await Slot.create(c, 'sub_s4', { proto_version: '4', publication_names: 'sub_p', streaming: 'parallel' });
    const client = new pg.Client({ connectionString: c.url() });
    await client.connect();
    let top = 0;
    let sub = 0;
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO sub_t SELECT g, repeat('x', 100) FROM generate_series(1, 1500) g`);
      top = Number((await client.query<{ x: string }>('SELECT pg_current_xact_id()::xid::text AS x')).rows[0]?.x);
      await client.query('SAVEPOINT sp');
      await client.query(`INSERT INTO sub_t SELECT g, repeat('x', 100) FROM generate_series(100001, 101500) g`);
      // A row's xmin is the xid of the subtransaction that wrote it.
      sub = Number((await client.query<{ x: string }>('SELECT xmin::text AS x FROM sub_t WHERE id = 100001')).rows[0]?.x);
      await client.query('ROLLBACK TO SAVEPOINT sp');
      await client.query(`INSERT INTO sub_t VALUES (999999, 'after')`);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    assert.notEqual(sub, top, 'subtransaction has its own xid (test premise)');
    const afterXmin = await c.query(`SELECT xmin::text AS x FROM sub_t WHERE id = 999999`);
    const afterXid = Number((afterXmin.rows[0] as { x: string }).x);

    for (const [slot, abortBytes] of [[v2, 9], [v4, 25]] as const) {
      const proto = `protocol ${slot.options.proto_version}`;
      const msgs = await slot.changes();
      const abortAt = msgs.findIndex((m) => m.change.kind === 'stream-abort');
      const abort = msgs[abortAt];
      assert.ok(abort, `${proto}: a stream-abort message (${kinds(msgs).join(', ')})`);
      assert.deepEqual(abort.change, { kind: 'stream-abort', xid: top, subXid: sub }, `${proto}: stream-abort names top xid and subxid`);
      // Protocol 4 with parallel streaming appends abort LSN and time, which the decoder skips.
      assert.equal(abort.data.length, abortBytes, `${proto}: stream-abort wire size`);
      assert.equal(msgs[abortAt - 1]?.change.kind, 'stream-stop', `${proto}: stream-abort is sent between streams`);

      const inserts = only(msgs, 'insert');
      const subInserts = inserts.filter((i) => Number(i.values[0]) > 100000 && Number(i.values[0]) < 999999);
      assert.ok(subInserts.length > 0, `${proto}: part of the subtransaction was streamed before it rolled back`);
      assert.ok(subInserts.every((i) => i.xid === sub), `${proto}: streamed changes of the subtransaction carry its subxid ${sub}`);
      const topInserts = inserts.filter((i) => Number(i.values[0]) <= 1500);
      assert.equal(topInserts.length, 1500, `${proto}: top-level inserts`);
      assert.ok(topInserts.every((i) => i.xid === top), `${proto}: top-level changes carry xid ${top}`);
      const later = inserts.find((i) => i.values[0] === '999999');
      assert.equal(later?.xid, afterXid, `${proto}: the insert after ROLLBACK TO carries the xid of the new subtransaction`);
      const last = msgs[msgs.length - 1]?.change;
      assert.equal(last?.kind, 'stream-commit', `${proto}: the transaction ends in stream-commit`);
      assert.equal(last.xid, top, `${proto}: stream-commit names the top-level xid`);
    }
  });

  test('a streamed transaction that rolls back ends in stream-abort with xid equal to subXid (live walsender)', async () => {
    // The SQL interface decodes after the fact, and since PostgreSQL 18 an
    // already-aborted transaction is discarded rather than streamed, so no
    // stream-abort would ever appear there. A walsender streams the
    // transaction while it is still open.
    const c = cluster();
    await c.query('CREATE TABLE live_t (id int PRIMARY KEY, pad text); CREATE PUBLICATION live_p FOR TABLE live_t');
    await c.query(`SELECT pg_create_logical_replication_slot('live_s2', 'pgoutput'), pg_create_logical_replication_slot('live_s4', 'pgoutput')`);
    const streams = [
      await LiveStream.start(c, 'live_s2', 2, `proto_version '2', publication_names 'live_p', streaming 'on'`),
      await LiveStream.start(c, 'live_s4', 4, `proto_version '4', publication_names 'live_p', streaming 'parallel'`),
    ];
    const client = new pg.Client({ connectionString: c.url() });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO live_t SELECT g, repeat('z', 100) FROM generate_series(1, 3000) g`);
      const xid = Number((await client.query<{ x: string }>('SELECT pg_current_xact_id()::xid::text AS x')).rows[0]?.x);
      for (const s of streams) await s.waitFor((ch) => ch.kind === 'stream-stop', 'a streamed segment of the open transaction');
      await client.query('ROLLBACK');
      for (const s of streams) {
        const proto = `protocol ${s.protocolVersion}`;
        const abort = await s.waitFor((ch) => ch.kind === 'stream-abort', 'stream-abort after ROLLBACK');
        assert.deepEqual(abort, { kind: 'stream-abort', xid, subXid: xid }, `${proto}: stream-abort of a top-level transaction`);
        assert.ok(s.changes.filter((ch) => ch.kind === 'stream-start').every((ch) => ch.kind === 'stream-start' && ch.xid === xid),
          `${proto}: every stream-start names xid ${xid}`);
        const inserts = s.changes.filter((ch) => ch.kind === 'insert');
        assert.ok(inserts.length > 0 && inserts.every((ch) => ch.xid === xid), `${proto}: streamed inserts carry xid ${xid}`);
        assert.equal(s.changes.some((ch) => ch.kind === 'stream-commit' || ch.kind === 'commit'), false, `${proto}: nothing commits`);
      }
    } finally {
      await client.end();
      for (const s of streams) await s.close();
    }
  });

  test('stream messages are refused by a protocol 1 decoder', async () => {
    const c = cluster();
    await c.query('CREATE TABLE p1_t (id int PRIMARY KEY, pad text); CREATE PUBLICATION p1_p FOR TABLE p1_t');
    const slot = await Slot.create(c, 'p1_s', { proto_version: '2', publication_names: 'p1_p', streaming: 'on' });
    await inTransaction(c, [`INSERT INTO p1_t SELECT g, repeat('x', 100) FROM generate_series(1, 1000) g`]);
    const [first] = await slot.raw();
    assert.ok(first && first.data[0] === 0x53, 'first message of a streamed transaction is Stream Start (test premise)');
    assertDecodeError(() => new PgOutputDecoder(1).decode(first.data), /'S' \(0x53\) at offset 0: .*protocol version 1/, 'stream start with protocol 1');
  });

  test('binary-format column values are refused with FERRY_PGOUTPUT_DECODE naming the column', async () => {
    const c = cluster();
    await c.query('CREATE TABLE bin_t (id int PRIMARY KEY, v text); CREATE PUBLICATION bin_p FOR TABLE bin_t');
    const slot = await Slot.create(c, 'bin_s', { proto_version: '2', publication_names: 'bin_p', binary: 'true' });
    await inTransaction(c, [`INSERT INTO bin_t VALUES (1, 'x')`]);
    const raw = await slot.raw();
    const decoder = new PgOutputDecoder(2);
    const insert = raw.find((m) => m.data[0] === 0x49);
    assert.ok(insert, 'an Insert message (test premise)');
    for (const m of raw) if (m !== insert) decoder.decode(m.data);
    const err = assertDecodeError(() => decoder.decode(insert.data), /'I' \(0x49\) at offset 8: column 1 of relation \d+ is in binary format/,
      'binary insert');
    assert.match(err.hint ?? '', /binary/, 'binary insert: hint');
  });

  test('two-phase messages are refused as unknown tags, naming tag and offset', async () => {
    const c = cluster();
    await c.query('CREATE TABLE tp_t (id int PRIMARY KEY); CREATE PUBLICATION tp_p FOR TABLE tp_t');
    const slot = await Slot.create(c, 'tp_s', { proto_version: '3', publication_names: 'tp_p', two_phase: 'on' }, true);
    const client = new pg.Client({ connectionString: c.url() });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO tp_t VALUES (1)');
      await client.query(`PREPARE TRANSACTION 'ferry_gid'`);
      await client.query(`COMMIT PREPARED 'ferry_gid'`);
    } finally {
      await client.end();
    }
    const raw = await slot.raw();
    const tags = raw.map((m) => String.fromCharCode(m.data[0] ?? 0)).join('');
    assert.match(tags, /^bRIPK$/, 'begin prepare, relation, insert, prepare, commit prepared (test premise)');
    const decoder = new PgOutputDecoder(3);
    for (const [i, m] of raw.entries()) {
      const tag = tags[i] ?? '';
      if ('RI'.includes(tag)) {
        decoder.decode(m.data);
      } else {
        assertDecodeError(() => decoder.decode(m.data), new RegExp(`'${tag}' \\(0x[0-9a-f]{2}\\) at offset 0: unknown message tag`), `message ${tag}`);
      }
    }
  });

  test('a cut-short or overlong message is refused, not silently misread', async () => {
    const c = cluster();
    await c.query('CREATE TABLE cut_t (id int PRIMARY KEY, v text); CREATE PUBLICATION cut_p FOR TABLE cut_t');
    const slot = await Slot.create(c, 'cut_s', { proto_version: '1', publication_names: 'cut_p' });
    await inTransaction(c, [`INSERT INTO cut_t VALUES (1, 'hello')`]);
    const raw = await slot.raw();
    const decoder = new PgOutputDecoder(1);
    for (const m of raw) {
      const tag = String.fromCharCode(m.data[0] ?? 0);
      assertDecodeError(() => decoder.decode(m.data.subarray(0, m.data.length - 1)), /truncated|overruns|unterminated|ends after/,
        `message ${tag} missing its last byte`);
      assertDecodeError(() => decoder.decode(Buffer.concat([m.data, Buffer.from([0])])), /1 unexpected trailing byte/,
        `message ${tag} with an extra byte`);
      decoder.decode(m.data);
    }
    assert.throws(() => new PgOutputDecoder(5), /unsupported pgoutput protocol version 5/, 'protocol version 5');
  });

  test('parseLsn and formatLsn agree with pg_lsn', async () => {
    const c = cluster();
    const texts = ['0/0', '0/1A', '16/B374D848', 'FFFFFFFF/FFFFFFFF', '00000001/0000000A', 'ab/cdef', formatLsn(await currentLsn(c))];
    for (const text of texts) {
      const res = await c.query(`SELECT $1::pg_lsn::text AS text, ($1::pg_lsn - '0/0'::pg_lsn)::text AS n`, [text]);
      const row = res.rows[0] as { text: string; n: string };
      assert.equal(parseLsn(text), BigInt(row.n), `parseLsn('${text}')`);
      assert.equal(formatLsn(BigInt(row.n)), row.text, `formatLsn(${row.n})`);
    }
    for (const bad of ['', '1', '1/', '/1', 'G/1', '123456789/0', '1/2/3', ' 1/2', '+1/2', '0x1/2']) {
      assert.throws(() => parseLsn(bad), (err: unknown) => err instanceof FerryError && err.code === 'FERRY_LSN', `parseLsn('${bad}') is refused`);
    }
    assert.throws(() => formatLsn(-1n), /out of range/, 'formatLsn(-1n)');
    assert.throws(() => formatLsn(1n << 64n), /out of range/, 'formatLsn(2^64)');
  });
});

/**
 * A minimal walsender client (START_REPLICATION on a replication=database
 * connection), only for what the SQL interface cannot show: decodes each
 * XLogData payload as it arrives.
 */
class LiveStream {
  readonly changes: Change[] = [];
  private failure: unknown;
  private readonly done: Promise<unknown>;

  private constructor(private readonly client: pg.Client, readonly protocolVersion: number, sql: string) {
    const decoder = new PgOutputDecoder(protocolVersion);
    const wire = (client as unknown as { connection: WireConnection }).connection;
    wire.on('copyData', ({ chunk }: { chunk: Buffer }) => {
      try {
        if (chunk[0] === 0x77) {
          // 'w': XLogData; the pgoutput payload follows 1 + 3 * 8 header bytes.
          this.changes.push(decoder.decode(chunk.subarray(25)));
        } else if (chunk[0] === 0x6b && chunk[17] === 1) {
          // 'k' keepalive asking for a reply: report the server's end of WAL.
          const reply = Buffer.alloc(34);
          reply.write('r', 0);
          const walEnd = chunk.readBigUInt64BE(1);
          reply.writeBigUInt64BE(walEnd, 1);
          reply.writeBigUInt64BE(walEnd, 9);
          reply.writeBigUInt64BE(walEnd, 17);
          wire.sendCopyFromChunk(reply);
        }
      } catch (err) {
        this.failure = err;
      }
    });
    // Rejects with "Connection terminated" once close() ends the client.
    this.done = client.query(sql).catch((err: unknown) => err);
  }

  static async start(c: Cluster, slot: string, protocolVersion: number, options: string): Promise<LiveStream> {
    const config: pg.ClientConfig & { replication: string } = { connectionString: c.url(), replication: 'database' };
    const client = new pg.Client(config);
    await client.connect();
    return new LiveStream(client, protocolVersion, `START_REPLICATION SLOT ${slot} LOGICAL 0/0 (${options})`);
  }

  async waitFor(predicate: (ch: Change) => boolean, what: string, timeoutMs = 30_000): Promise<Change> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.failure) throw this.failure;
      const found = this.changes.find(predicate);
      if (found) return found;
      assert.ok(Date.now() < deadline, `protocol ${this.protocolVersion}: no ${what} within ${timeoutMs} ms (got ${this.changes.length} messages)`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
    await this.done;
  }
}

interface WireConnection {
  on(event: 'copyData', listener: (msg: { chunk: Buffer }) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
}
