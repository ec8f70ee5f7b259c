import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { losslessInto } from '../src/catalog/type-compat.js';
import { PrerequisiteError } from '../src/errors.js';
import { assertSameRows, catchUp, init, run, startPair, type Pair, type Running } from './support/harness.js';

/**
 * A source schema that uses every kind of object init recreates from the
 * catalog, across two schemas, one with a mixed-case name.
 */
const SOURCE_SCHEMA = `
  CREATE SCHEMA shop;
  CREATE SCHEMA "Ledger";
  CREATE TYPE shop.mood AS ENUM ('sad', 'ok', 'happy');
  CREATE TYPE "Ledger"."Status" AS ENUM ('Open', 'Closed', 'Void');
  CREATE DOMAIN shop.posint AS integer DEFAULT 1 CONSTRAINT posint_positive CHECK (VALUE > 0);
  CREATE DOMAIN shop.small_posint AS shop.posint NOT NULL CONSTRAINT small_posint_small CHECK (VALUE < 1000);
  CREATE DOMAIN shop.code AS text COLLATE "C" CONSTRAINT code_upper CHECK (VALUE ~ '^[A-Z]+$');
  CREATE TYPE shop.address AS (street text, zip shop.code, moods shop.mood[]);
  CREATE TYPE shop.parcel AS (sender shop.address, weight numeric(8,2));
  CREATE TYPE shop.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);

  CREATE TABLE shop.orders (
    id bigint GENERATED ALWAYS AS IDENTITY (START WITH 1000 INCREMENT BY 5 MINVALUE 1000 MAXVALUE 9999999 CACHE 10 CYCLE) PRIMARY KEY,
    mood shop.mood NOT NULL DEFAULT 'ok',
    moods shop.mood[],
    qty shop.small_posint,
    sku text COLLATE "C" NOT NULL,
    ship shop.parcel,
    slot shop.floatrange,
    price numeric(10,2) CONSTRAINT orders_price_check CHECK (price >= 0),
    email text,
    price_x2 numeric GENERATED ALWAYS AS (price * 2) VIRTUAL,
    CONSTRAINT orders_sku_key UNIQUE (sku),
    CONSTRAINT orders_price_needs_qty CHECK (price IS NULL OR qty IS NOT NULL)
  );
  CREATE INDEX orders_email_lower ON shop.orders (lower(email)) WHERE email IS NOT NULL;
  CREATE INDEX orders_mood_sku ON shop.orders (mood, sku DESC);
  CREATE TABLE shop.notes (body text COLLATE "C", at date);
  ALTER TABLE shop.notes REPLICA IDENTITY FULL;

  CREATE TABLE "Ledger"."Entries" (
    id int NOT NULL, "Booked" date NOT NULL, status "Ledger"."Status" NOT NULL, amount numeric NOT NULL, note text,
    PRIMARY KEY (id, "Booked", status),
    CONSTRAINT "Entries_amount_nonzero" CHECK (amount <> 0)
  ) PARTITION BY RANGE ("Booked");
  CREATE TABLE "Ledger"."Entries_2024" PARTITION OF "Ledger"."Entries"
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') PARTITION BY LIST (status);
  CREATE TABLE "Ledger"."Entries_2024_open" PARTITION OF "Ledger"."Entries_2024" FOR VALUES IN ('Open');
  CREATE TABLE "Ledger"."Entries_2024_other" PARTITION OF "Ledger"."Entries_2024" DEFAULT;
  CREATE TABLE "Ledger"."Entries_2025" PARTITION OF "Ledger"."Entries" FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
  CREATE INDEX "Entries_note" ON "Ledger"."Entries" (note) WHERE note IS NOT NULL;
  CREATE INDEX entries_2025_abs_amount ON "Ledger"."Entries_2025" (abs(amount));
  ALTER TABLE "Ledger"."Entries_2025" ADD CONSTRAINT entries_2025_bounded CHECK (amount < 1000000);

  CREATE TABLE "Ledger"."Bookings" (
    id int PRIMARY KEY,
    order_id bigint CONSTRAINT bookings_order_fk REFERENCES shop.orders,
    during tstzrange NOT NULL,
    code text NOT NULL CONSTRAINT "Bookings_code_key" UNIQUE,
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (during WITH &&)
  );
  ALTER TABLE "Ledger"."Bookings" REPLICA IDENTITY USING INDEX "Bookings_code_key";

  INSERT INTO shop.orders (mood, moods, qty, sku, ship, slot, price, email)
  SELECT (ARRAY['sad', 'ok', 'happy'])[1 + i % 3]::shop.mood, ARRAY['ok', 'happy']::shop.mood[], 1 + i, 'SKU-' || i,
         ROW(ROW('Street ' || i, 'ZIP', '{sad,ok}')::shop.address, i * 1.25)::shop.parcel,
         shop.floatrange(i, i + 0.5), i * 2.5, CASE WHEN i % 2 = 0 THEN 'Buyer' || i || '@example.org' END
    FROM generate_series(1, 40) i;
  INSERT INTO "Ledger"."Entries"
  SELECT i, DATE '2024-01-01' + i * 9, (ARRAY['Open', 'Closed', 'Void'])[1 + i % 3]::"Ledger"."Status", i * 10.5, CASE WHEN i % 4 = 0 THEN 'note ' || i END
    FROM generate_series(1, 60) i;
  INSERT INTO "Ledger"."Bookings"
  SELECT i, 995 + 5 * i, tstzrange(TIMESTAMPTZ '2025-01-01' + i * INTERVAL '1 day', TIMESTAMPTZ '2025-01-01' + (i + 1) * INTERVAL '1 day'), 'B' || i
    FROM generate_series(1, 20) i;
  INSERT INTO shop.notes VALUES ('first', '2024-01-01'), ('first', '2024-01-01'), ('second', NULL);
`;

const ORDERS = 'shop.orders';
const NOTES = 'shop.notes';
const ENTRIES = '"Ledger"."Entries"';
const BOOKINGS = '"Ledger"."Bookings"';

/**
 * Runs a catalog query on both sides and asserts that every object the
 * source has exists on the target with the same description. Each row is
 * `{ object, ...description }`; a failure names the object.
 */
async function assertSameCatalog(pair: Pair, what: string, query: string, skip: (object: string) => boolean = () => false): Promise<number> {
  const [source, target] = await Promise.all([pair.sql('source', query), pair.sql('target', query)]);
  const describe = (rows: Record<string, unknown>[]) => new Map(rows.map(({ object, ...rest }) => [String(object), rest]));
  const want = describe(source.rows);
  const have = describe(target.rows);
  let compared = 0;
  for (const [object, description] of want) {
    if (skip(object)) continue;
    assert.ok(have.has(object), `${what} ${object} is missing on the target`);
    assert.deepEqual(have.get(object), description, `${what} ${object} differs between source and target`);
    compared++;
  }
  return compared;
}

describe('init creates missing target tables from the source catalog (PostgreSQL 18 → 18)', () => {
  let pair: Pair;
  let config: string;
  let ferry: Running | undefined;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', SOURCE_SCHEMA);
    config = await pair.config({ shop: [ORDERS, NOTES], ledger: [`'${ENTRIES}'`, `'${BOOKINGS}'`] });
    await init(config);
  });

  after(async () => {
    await ferry?.stop();
    await pair?.stop();
  });

  test('enums are created with their labels in the source order, in both schemas', async () => {
    const n = await assertSameCatalog(pair, 'enum', `
      SELECT t.oid::regtype::text AS object, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS labels
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
       WHERE t.typnamespace::regnamespace::text IN ('shop', '"Ledger"') GROUP BY t.oid`);
    assert.equal(n, 2, 'both enums (shop.mood, "Ledger"."Status") compared');
  });

  test('domains are created over their base types (a domain over a domain too) with NOT NULL, DEFAULT, COLLATE and CHECK constraints', async () => {
    const n = await assertSameCatalog(pair, 'domain', `
      SELECT t.oid::regtype::text AS object, format_type(t.typbasetype, t.typtypmod) AS base, t.typnotnull AS not_null,
             t.typdefault AS default, (SELECT collname FROM pg_collation WHERE oid = t.typcollation) AS collation,
             ARRAY(SELECT k.conname || ' ' || pg_get_constraintdef(k.oid) FROM pg_constraint k
                    WHERE k.contypid = t.oid AND k.contype = 'c' ORDER BY k.conname) AS checks
        FROM pg_type t WHERE t.typtype = 'd' AND t.typnamespace = 'shop'::regnamespace`);
    assert.equal(n, 3, 'posint, small_posint and code compared');
  });

  test('composite types are created with their attributes, nested composites, domains and enum arrays first', async () => {
    const n = await assertSameCatalog(pair, 'composite type', `
      SELECT t.oid::regtype::text AS object,
             ARRAY(SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || (SELECT collname FROM pg_collation WHERE oid = a.attcollation)
                     FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 ORDER BY a.attnum) AS attributes
        FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid
       WHERE t.typtype = 'c' AND c.relkind = 'c' AND t.typnamespace = 'shop'::regnamespace`);
    assert.equal(n, 2, 'address and parcel compared');
  });

  test('range types are created with their subtype and difference function', async () => {
    const n = await assertSameCatalog(pair, 'range type', `
      SELECT r.rngtypid::regtype::text AS object, r.rngsubtype::regtype::text AS subtype, r.rngsubdiff::text AS diff,
             (SELECT opcname FROM pg_opclass WHERE oid = r.rngsubopc) AS opclass
        FROM pg_range r JOIN pg_type t ON t.oid = r.rngtypid WHERE t.typnamespace = 'shop'::regnamespace`);
    assert.equal(n, 1, 'floatrange compared');
  });

  test('columns keep types, defaults, NOT NULL, identity, virtual generation and a non-default collation', async () => {
    const n = await assertSameCatalog(pair, 'column', `
      SELECT a.attrelid::regclass::text || '.' || a.attname AS object, format_type(a.atttypid, a.atttypmod) AS type,
             a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity AS identity, a.attgenerated AS generated,
             (SELECT collname FROM pg_collation WHERE oid = a.attcollation) AS collation
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE c.relnamespace::regnamespace::text IN ('shop', '"Ledger"') AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`);
    assert.equal(n, 10 + 2 + 4 + 5 * 5, 'every column of every table and partition compared');
    const sku = await pair.sql('target', `SELECT collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
                                           WHERE a.attrelid = 'shop.orders'::regclass AND a.attname = 'sku'`);
    assert.equal(sku.rows[0]?.collname, 'C', 'shop.orders.sku has collation "C" on the target');
  });

  test('the identity column keeps its sequence name and START, INCREMENT, MINVALUE, MAXVALUE, CACHE and CYCLE', async () => {
    const n = await assertSameCatalog(pair, 'identity sequence', `
      SELECT s.seqrelid::regclass::text AS object, s.seqstart::text AS start, s.seqincrement::text AS increment,
             s.seqmin::text AS min, s.seqmax::text AS max, s.seqcache::text AS cache, s.seqcycle AS cycle
        FROM pg_sequence s WHERE s.seqrelid = pg_get_serial_sequence('shop.orders', 'id')::regclass`);
    assert.equal(n, 1, 'the identity sequence of shop.orders.id compared');
  });

  test('CHECK, UNIQUE, EXCLUDE and primary key constraints match pg_get_constraintdef on every table and partition; foreign keys are not created', async () => {
    const n = await assertSameCatalog(pair, 'constraint', `
      SELECT k.conrelid::regclass::text || ' ' || k.conname AS object, k.contype AS kind, pg_get_constraintdef(k.oid) AS definition,
             k.convalidated AS validated
        FROM pg_constraint k WHERE k.conrelid <> 0 AND k.connamespace::regnamespace::text IN ('shop', '"Ledger"') AND k.contype NOT IN ('n', 'f')`);
    assert.equal(n, 4 + 3 + 2 + 9, 'constraints of orders, bookings, entries and its partitions compared');
    const fk = await pair.sql('target', `SELECT count(*)::int AS n FROM pg_constraint WHERE contype = 'f' AND conname = 'bookings_order_fk'`);
    assert.equal(fk.rows[0]?.n, 0, 'foreign key bookings_order_fk is not created on the target');
  });

  test('secondary, partial and expression indexes match pg_get_indexdef, on the partitioned root, its partitions and partition-local ones', async () => {
    const n = await assertSameCatalog(pair, 'index', `
      SELECT i.indexrelid::regclass::text AS object, pg_get_indexdef(i.indexrelid) AS definition, i.indisunique AS unique, i.indisvalid AS valid
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace::regnamespace::text IN ('shop', '"Ledger"')`);
    assert.equal(n, 4 + 3 + 2 + 3 * 2 + 3, 'indexes of orders, bookings, entries and its partitions compared');
    for (const name of ['shop.orders_email_lower', 'shop.orders_mood_sku', '"Ledger"."Entries_note"', '"Ledger".entries_2025_abs_amount']) {
      const res = await pair.sql('target', 'SELECT to_regclass($1) IS NOT NULL AS ok', [name]);
      assert.equal(res.rows[0]?.ok, true, `index ${name} exists on the target`);
    }
  });

  test('the partitioned table is created with its key and every partition, sub-partitions and the default one included, with their bounds', async () => {
    const n = await assertSameCatalog(pair, 'partition', `
      SELECT c.oid::regclass::text AS object, c.relkind AS kind, pg_get_expr(c.relpartbound, c.oid) AS bound,
             CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS key, i.inhparent::regclass::text AS parent
        FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
       WHERE c.relnamespace = '"Ledger"'::regnamespace AND c.relkind IN ('r', 'p') AND c.relname LIKE 'Entries%'`);
    assert.equal(n, 5, 'the root, two range partitions and two list sub-partitions compared');
  });

  test('each table and partition has the replica identity it has on the source', async () => {
    const n = await assertSameCatalog(pair, 'replica identity of', `
      SELECT c.oid::regclass::text AS object, c.relreplident AS identity,
             (SELECT i.indexrelid::regclass::text FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident) AS index
        FROM pg_class c WHERE c.relnamespace::regnamespace::text IN ('shop', '"Ledger"') AND c.relkind IN ('r', 'p')`);
    assert.equal(n, 8, 'orders, notes (full), bookings (by index), entries and its partitions compared');
  });

  test('the rows are copied exactly, through the partitioned root into the right partitions', async () => {
    assert.equal(await assertSameRows(pair, ORDERS), 40);
    assert.equal(await assertSameRows(pair, ENTRIES), 60);
    assert.equal(await assertSameRows(pair, BOOKINGS), 20);
    assert.equal(await assertSameRows(pair, NOTES), 3);
    const perPartition = 'SELECT tableoid::regclass::text AS object, count(*)::int AS n FROM "Ledger"."Entries" GROUP BY 1';
    assert.equal(await assertSameCatalog(pair, 'partition row count of', perPartition), 3);
  });

  test('streaming afterwards applies inserts, updates and deletes to the recreated tables', async () => {
    ferry = await run(config);
    await pair.sql('source', `
      INSERT INTO shop.orders (mood, moods, qty, sku, ship, slot, price, email)
      VALUES ('happy', '{happy,sad}', 7, 'SKU-new', ROW(ROW('New St', 'NEW', '{happy}'), 3.5), '[0,1)', 1.5, 'New@example.org');
      UPDATE shop.orders SET mood = 'sad', ship.weight = 99.99, price = price + 1 WHERE id % 3 = 0;
      DELETE FROM shop.orders WHERE id = 1190;
      INSERT INTO "Ledger"."Entries" VALUES (100, '2024-03-01', 'Open', 5, 'new'), (101, '2025-07-01', 'Void', 6, NULL);
      UPDATE "Ledger"."Entries" SET status = 'Closed' WHERE id = 100;
      UPDATE "Ledger"."Entries" SET "Booked" = '2025-02-01' WHERE id = 3;
      DELETE FROM "Ledger"."Entries" WHERE id = 4;
      INSERT INTO "Ledger"."Bookings" VALUES (21, 1000, '[2030-01-01,2030-01-02)', 'B21');
      UPDATE "Ledger"."Bookings" SET code = 'B1-renamed' WHERE id = 1;
      DELETE FROM shop.notes WHERE ctid = (SELECT ctid FROM shop.notes WHERE body = 'first' LIMIT 1);
      UPDATE shop.notes SET at = '2024-02-02' WHERE body = 'second';
    `);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, ORDERS), 40);
    assert.equal(await assertSameRows(pair, ENTRIES), 61);
    assert.equal(await assertSameRows(pair, BOOKINGS), 21);
    assert.equal(await assertSameRows(pair, NOTES), 2);
  });
});

describe('init checks existing target tables and types against the source', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TYPE public.color AS ENUM ('red', 'green', 'blue');
      CREATE TABLE public.missing_col (id int PRIMARY KEY, a text, b int);
      CREATE TABLE public.narrow (id int PRIMARY KEY, big bigint, name varchar(20), code char(3), at timestamptz);
      CREATE TABLE public.paint (id int PRIMARY KEY, c public.color);
      CREATE FUNCTION public.is_even(n int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT n % 2 = 0';
      CREATE TABLE public.evens (id int PRIMARY KEY CHECK (public.is_even(id)));
      CREATE TABLE public.widened (id smallint PRIMARY KEY, n integer, v varchar(10), ts timestamp(3), p numeric(8,2), vals int[], r real);
      INSERT INTO public.widened VALUES (1, 2147483647, 'abcdefghij', '2024-02-29 12:34:56.789', 123456.78, '{1,NULL,-3}', 1.1),
                                        (-32768, -1, '', '-infinity', -0.01, '{}', 'NaN');
    `);
    await pair.sql('target', `
      CREATE TYPE public.color AS ENUM ('red', 'blue');
      CREATE TABLE public.missing_col (id int PRIMARY KEY, a text);
      CREATE TABLE public.narrow (id int PRIMARY KEY, big integer, name varchar(10), code text, at timestamp);
      CREATE TABLE public.paint (id int PRIMARY KEY, c public.color);
      CREATE TABLE public.widened (id integer PRIMARY KEY, n bigint, v text, ts timestamp, p numeric(12,2), vals bigint[], r double precision);
    `);
  });

  after(async () => {
    await pair?.stop();
  });

  /** The problems init reports for the group, which must fail before anything is created. */
  async function problemsOf(group: string, table: string): Promise<readonly string[]> {
    const config = await pair.config({ [group]: [table] });
    let problems: readonly string[] = [];
    await assert.rejects(init(config), (err: unknown) => {
      assert.ok(err instanceof PrerequisiteError, `init of ${table} fails on prerequisites, not with ${String(err)}`);
      problems = err.problems;
      return true;
    });
    return problems;
  }

  test('a target table that lacks a source column is reported with the ADD COLUMN fix', async () => {
    assert.deepEqual(await problemsOf('missing', 'public.missing_col'), [
      'group missing: target table public.missing_col has no column b (source type integer): run ALTER TABLE "public"."missing_col" ADD COLUMN "b" integer; on the target',
    ]);
  });

  test('each target column that cannot hold every source value is reported on its own line with both types and the ALTER COLUMN fix', async () => {
    assert.deepEqual(await problemsOf('narrow', 'public.narrow'), [
      'group narrow: column big of target table public.narrow has type integer, which cannot hold every value of the source type bigint: run ALTER TABLE "public"."narrow" ALTER COLUMN "big" TYPE bigint; on the target',
      'group narrow: column name of target table public.narrow has type character varying(10), which cannot hold every value of the source type character varying(20): run ALTER TABLE "public"."narrow" ALTER COLUMN "name" TYPE character varying(20); on the target',
      'group narrow: column code of target table public.narrow has type text, which cannot hold every value of the source type character(3): run ALTER TABLE "public"."narrow" ALTER COLUMN "code" TYPE character(3); on the target',
      'group narrow: column at of target table public.narrow has type timestamp without time zone, which cannot hold every value of the source type timestamp with time zone: run ALTER TABLE "public"."narrow" ALTER COLUMN "at" TYPE timestamp with time zone; on the target',
    ]);
  });

  test('an enum on the target that lacks a source label is reported with the ADD VALUE fix that keeps the order', async () => {
    assert.deepEqual(await problemsOf('paint', 'public.paint'), [
      `group paint: type public.color lacks the label 'green' on the target: run ALTER TYPE public.color ADD VALUE 'green' AFTER 'red'; on the target`,
    ]);
  });

  test('a missing table that needs a function the target lacks is reported before anything is created', async () => {
    assert.deepEqual(await problemsOf('evens', 'public.evens'), [
      'group evens: table public.evens needs function public.is_even(integer), which does not exist on the target (ferry does not copy functions, operators or collations): create it on the target first',
    ]);
    const created = await pair.sql('target', `SELECT to_regclass('public.evens') IS NOT NULL AS ok`);
    assert.equal(created.rows[0]?.ok, false, 'public.evens is not created on the target');
  });

  test('an existing target table with losslessly wider columns is accepted and receives the rows unchanged', async () => {
    await init(await pair.config({ widened: ['public.widened'] }));
    assert.equal(await assertSameRows(pair, 'public.widened'), 2);
  });
});

describe('lossless type widening rules', () => {
  const noDomains = () => undefined;

  test('widenings that keep every value and its text are accepted', () => {
    for (const [source, target] of [
      ['smallint', 'integer'], ['integer', 'bigint'], ['bigint', 'numeric'], ['integer', 'numeric(10,0)'],
      ['numeric(8,2)', 'numeric(12,2)'], ['numeric(8,2)', 'numeric'], ['character varying(10)', 'character varying(20)'],
      ['character varying(10)', 'text'], ['text', 'character varying'], ['timestamp(3) without time zone', 'timestamp without time zone'],
      ['time(2) with time zone', 'time(4) with time zone'], ['real', 'double precision'], ['integer[]', 'bigint[]'],
      ['bit varying(4)', 'bit varying'], ['interval(3)', 'interval'],
    ]) {
      assert.equal(losslessInto(source as string, target as string, noDomains), true, `${source} → ${target} is accepted`);
    }
  });

  test('narrowings and changes of meaning or text are refused', () => {
    for (const [source, target] of [
      ['bigint', 'integer'], ['integer', 'numeric(9,0)'], ['integer', 'numeric(12,2)'], ['numeric(8,2)', 'numeric(12,3)'],
      ['numeric', 'numeric(30,2)'], ['character varying(20)', 'character varying(10)'], ['character(3)', 'text'],
      ['character(3)', 'character(4)'], ['timestamp without time zone', 'timestamp(3) without time zone'],
      ['timestamp without time zone', 'timestamp with time zone'], ['json', 'jsonb'], ['double precision', 'real'],
      ['integer[]', 'bigint'], ['shop.mood', 'text'],
    ]) {
      assert.equal(losslessInto(source as string, target as string, noDomains), false, `${source} → ${target} is refused`);
    }
  });

  test('a domain widens like its base type, but a base type does not go into a domain', () => {
    const bases = (t: string) => (t === 'shop.posint' ? 'integer' : undefined);
    assert.equal(losslessInto('shop.posint', 'bigint', bases), true, 'shop.posint → bigint');
    assert.equal(losslessInto('shop.posint[]', 'integer[]', bases), true, 'shop.posint[] → integer[]');
    assert.equal(losslessInto('integer', 'shop.posint', bases), false, 'integer → shop.posint');
  });
});
