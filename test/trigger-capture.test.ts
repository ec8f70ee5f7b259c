import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../src/config/load.js';
import { PrerequisiteError } from '../src/errors.js';
import { dropGroups } from '../src/init/drop.js';
import { collectStatus } from '../src/observe/status.js';
import { silentLogger } from '../src/observe/logger.js';
import { assertSameRows, catchUp, init, run, startPair, triggerConfig, until, type Pair, type Running } from './support/harness.js';
import { duplicateRowsCase, replicaIdentityIndexCase, typesNullRow, typesRow, typesTable, USER_TYPES } from './support/semantic-cases.js';

/**
 * An application connection whose settings differ from Ferry's in every way
 * that changes how values print: the capture function must not care.
 */
const FOREIGN_SETTINGS = `SET DateStyle = 'German, DMY'; SET TimeZone = 'Asia/Kolkata'; SET extra_float_digits = -10;
  SET IntervalStyle = 'sql_standard'; SET bytea_output = 'escape';`;

const OWNER = 'ferry_owner';

for (const major of [18, 13]) describe(`trigger capture: a source without logical decoding, captured by a non-superuser table owner (PostgreSQL ${major})`, () => {
  let pair: Pair;
  let config: string;
  let ferry: Running | undefined;

  before(async () => {
    pair = await startPair({ sourceMajor: major, sourceSettings: { wal_level: 'replica', track_functions: "'pl'" } });
    await pair.sql('target', USER_TYPES);
    await pair.sql('source', `${USER_TYPES}
      ${typesTable(major)};
      INSERT INTO types VALUES ${typesRow(1, major)}, ${typesNullRow(2)};
      CREATE TABLE by_index (a int NOT NULL, b int NOT NULL, v text);
      CREATE UNIQUE INDEX by_index_ab ON by_index (a, b);
      ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_ab;
      -- No key at all, and REPLICA IDENTITY left at DEFAULT: trigger capture matches on the whole old row.
      CREATE TABLE no_key (a int, b text, j json);
      CREATE TABLE parent (id serial PRIMARY KEY, v text);
      CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent, v text);
      CREATE TABLE gen (id int PRIMARY KEY, a int, doubled int GENERATED ALWAYS AS (a * 2) STORED);
      CREATE TABLE dropped (id int PRIMARY KEY, gone text, kept text);
      ALTER TABLE dropped DROP COLUMN gone;
      CREATE TABLE grows (id int PRIMARY KEY, v text);
      CREATE TABLE bulk (id int PRIMARY KEY, v text);
      CREATE TABLE measurements (id int, at date, v numeric, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
      CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
      CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
      CREATE TABLE not_mine (id int PRIMARY KEY);
      -- Columns named like the capture function's variables and aliases.
      CREATE TABLE awkward (id int PRIMARY KEY, xid int, slot text, n int, o int, r text, i int, t text, tg_relid int, ferry_xid int, "new" int);
      -- Statements run by triggers of other statements: a user's AFTER ROW trigger, cascading foreign keys, a table outside the group in between.
      CREATE TABLE tree (id int PRIMARY KEY, parent int REFERENCES tree ON UPDATE CASCADE ON DELETE CASCADE, path text);
      CREATE TABLE hop (id int);
      CREATE FUNCTION tree_path() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        UPDATE tree SET path = COALESCE((SELECT p.path FROM tree p WHERE p.id = NEW.parent AND p.id <> NEW.id), '') || '/' || NEW.id WHERE id = NEW.id;
        RETURN NULL; END $$;
      CREATE TRIGGER tree_path AFTER INSERT ON tree FOR EACH ROW EXECUTE PROCEDURE tree_path();
      CREATE FUNCTION tree_hop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO hop VALUES (NEW.id); RETURN NULL; END $$;
      CREATE TRIGGER tree_hop AFTER UPDATE OF parent ON tree FOR EACH ROW EXECUTE PROCEDURE tree_hop();
      CREATE FUNCTION hop_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE tree SET path = path || '+' WHERE id = NEW.id; RETURN NULL; END $$;
      CREATE TRIGGER hop_touch AFTER INSERT ON hop FOR EACH ROW EXECUTE PROCEDURE hop_touch();
      -- A BEFORE trigger that writes another table of the group.
      CREATE TABLE guarded (k int PRIMARY KEY, v int);
      CREATE TABLE guard_log (id serial PRIMARY KEY, k int, old_v int);
      CREATE FUNCTION guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO guard_log (k, old_v) VALUES (OLD.k, OLD.v); RETURN NEW; END $$;
      CREATE TRIGGER guard BEFORE UPDATE ON guarded FOR EACH ROW EXECUTE PROCEDURE guard();
      INSERT INTO guarded VALUES (1, 1), (2, 1);
      INSERT INTO parent (v) SELECT 'p' || i FROM generate_series(1, 5) i;
      INSERT INTO child SELECT i, i, 'c' || i FROM generate_series(1, 5) i;
      INSERT INTO gen (id, a) VALUES (1, 10);
      INSERT INTO dropped VALUES (1, 'k1');
      INSERT INTO measurements VALUES (1, '2024-06-01', 1.5), (2, '2025-06-01', 2.5);
      CREATE ROLE ${OWNER} LOGIN;
      GRANT CREATE ON DATABASE app TO ${OWNER};
      ALTER TABLE types OWNER TO ${OWNER}; ALTER TABLE by_index OWNER TO ${OWNER}; ALTER TABLE no_key OWNER TO ${OWNER};
      ALTER TABLE parent OWNER TO ${OWNER}; ALTER TABLE child OWNER TO ${OWNER}; ALTER TABLE gen OWNER TO ${OWNER};
      ALTER TABLE dropped OWNER TO ${OWNER}; ALTER TABLE grows OWNER TO ${OWNER}; ALTER TABLE bulk OWNER TO ${OWNER};
      ALTER TABLE measurements OWNER TO ${OWNER}; ALTER TABLE awkward OWNER TO ${OWNER}; ALTER TABLE tree OWNER TO ${OWNER}; ALTER TABLE hop OWNER TO ${OWNER}; ALTER TABLE guarded OWNER TO ${OWNER}; ALTER TABLE guard_log OWNER TO ${OWNER}; ALTER TABLE measurements_2024 OWNER TO ${OWNER}; ALTER TABLE measurements_2025 OWNER TO ${OWNER};
    `);
    config = await triggerConfig(pair, {
      main: ['public.types', 'public.by_index', 'public.no_key', 'public.parent', 'public.child', 'public.gen', 'public.dropped',
        'public.grows', 'public.bulk', 'public.measurements', 'public.awkward', 'public.tree', 'public.guarded', 'public.guard_log'],
    }, { user: OWNER });
    await init(config);
    ferry = await run(config);
  });

  after(async () => {
    await ferry?.stop();
    await pair?.stop();
  });

  test('init needs neither wal_level = logical, nor REPLICATION, nor superuser, and creates no slot', async () => {
    const role = await pair.sql('source', `SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = '${OWNER}'`);
    assert.deepEqual(role.rows[0], { rolsuper: false, rolreplication: false });
    const level = await pair.sql('source', 'SHOW wal_level');
    assert.equal(level.rows[0]?.wal_level, 'replica');
    const slots = await pair.sql('source', 'SELECT count(*)::int AS n FROM pg_replication_slots');
    assert.equal(slots.rows[0]?.n, 0);
  });

  test('initial copy reproduces every built-in type exactly', async () => {
    assert.equal(await assertSameRows(pair, 'types'), 2);
  });

  test('captured inserts and updates reproduce every type exactly, whatever settings the writing connection prints values with', async () => {
    await pair.sql('source', `${FOREIGN_SETTINGS}
      INSERT INTO types VALUES ${typesRow(3, major)};
      UPDATE types SET t = t || ' updated', f8 = 'NaN', n = ${major >= 14 ? `'-Infinity'` : `'-1e-30'`}, tstz = '2001-02-03 04:05:06.789+07', iv = '-1 day -02:03:04' WHERE id = 1;
      UPDATE types SET ia = '{}', ma = NULL, j = '[]', d = '2024-12-31', ts = '2024-12-31 23:59:59.5', f8x = 1e-300 WHERE id = 2;`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'types'), 3);
  });

  test('REPLICA IDENTITY USING INDEX finds rows by the unique index, including a change of the index columns', () => replicaIdentityIndexCase(pair, config));

  test('a table without any key is matched on the whole old row: one of several duplicates changes', () => duplicateRowsCase(pair, config));

  test('primary key changes of several rows in one statement move the rows', async () => {
    await pair.sql('source', `UPDATE child SET id = 100 + id, v = v || '!' WHERE id <= 3`);
    await pair.sql('source', `UPDATE parent SET v = 'renamed' WHERE id = 3`);
    await catchUp(config);
    await assertSameRows(pair, 'child');
    await assertSameRows(pair, 'parent');
  });

  test('columns named like the capture function\'s own variables and aliases are captured like any other', async () => {
    await pair.sql('source', `INSERT INTO awkward SELECT g, g, 's' || g, g, g, 'r', g, 't', g, g, g FROM generate_series(1, 5) g`);
    await pair.sql('source', `UPDATE awkward SET xid = -xid, slot = 'changed', id = id + 10 WHERE id <= 2; UPDATE awkward SET n = 0 WHERE id = 3`);
    await pair.sql('source', `DELETE FROM awkward WHERE id = 4`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'awkward'), 4);
  });

  test('statements run by triggers of other statements replay after the statement whose rows they changed', async () => {
    // Each row's AFTER INSERT trigger updates the row just inserted.
    await pair.sql('source', `INSERT INTO tree VALUES (1, NULL, NULL), (2, 1, NULL), (3, 2, NULL), (5, 5, NULL)`);
    // A key change cascades to the row itself (it is its own parent), whose trigger writes a table outside the group, whose trigger updates the row again.
    await pair.sql('source', `UPDATE tree SET id = 50 WHERE id = 5`);
    await pair.sql('source', `BEGIN; INSERT INTO tree VALUES (6, 50, NULL); UPDATE tree SET id = 10 WHERE id = 1; DELETE FROM tree WHERE id = 50; COMMIT`);
    await catchUp(config);
    const rows = await pair.sql('source', 'SELECT id, parent, path FROM tree ORDER BY id');
    assert.deepEqual(rows.rows, [{ id: 2, parent: 10, path: '/1/2+' }, { id: 3, parent: 2, path: '/1/2/3' }, { id: 10, parent: null, path: '/1' }]);
    assert.equal(await assertSameRows(pair, 'tree'), 3);
  });

  test('a statement whose BEFORE trigger wrote to the group before it waited for a row lock keeps that lock order on the target', async () => {
    const first = new pg.Client({ connectionString: pair.source.url('app') });
    const second = new pg.Client({ connectionString: pair.source.url('app') });
    await Promise.all([first.connect(), second.connect()]);
    try {
      await second.query('BEGIN');
      await second.query('UPDATE guarded SET v = 2 WHERE k = 2');
      // Its trigger writes guard_log for row 1, then the statement waits for row 2.
      const blocked = first.query('UPDATE guarded SET v = v + 10 WHERE k IN (1, 2)');
      await until('the update to wait for the row lock', async () => (await pair.sql('source',
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE guarded SET v = v + 10%'`)).rows[0]?.n === 1, 10_000);
      await second.query('UPDATE guarded SET v = 3 WHERE k = 2');
      await second.query('COMMIT');
      await blocked;
    } finally {
      await Promise.all([first.end(), second.end()]);
    }
    await catchUp(config);
    const rows = await pair.sql('target', 'SELECT k, v FROM guarded ORDER BY k');
    assert.deepEqual(rows.rows, [{ k: 1, v: 11 }, { k: 2, v: 13 }]);
    await assertSameRows(pair, 'guarded');
    assert.equal(await assertSameRows(pair, 'guard_log'), 4);
  });

  test('a bulk statement is one trigger call, not one per row, and every row arrives', async () => {
    const calls = async () => Number((await pair.sql('source', `SELECT COALESCE(sum(calls), 0) AS n FROM pg_stat_user_functions WHERE funcname = 'main_capture'`)).rows[0]?.n);
    const before = await calls();
    await pair.sql('source', `INSERT INTO bulk SELECT i, 'row ' || i FROM generate_series(1, 20000) i`);
    await pair.sql('source', `UPDATE bulk SET v = v || ' updated' WHERE id % 2 = 0`);
    await pair.sql('source', `DELETE FROM bulk WHERE id % 3 = 0`);
    // Function statistics arrive when each writing connection closes.
    await until('the three statements to show in the function statistics', async () => (await calls()) - before >= 3, 10_000);
    assert.equal(await calls() - before, 3, 'INSERT, UPDATE and DELETE of thousands of rows called the capture function three times');
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'bulk'), 20000 - 6666);
  });

  test('a rolled-back savepoint and an aborted transaction leave nothing behind', async () => {
    await pair.sql('source', `
      BEGIN;
      INSERT INTO bulk VALUES (100001, 'kept');
      SAVEPOINT s1;
      INSERT INTO bulk SELECT i, 'rolled back' FROM generate_series(100002, 100100) i;
      ROLLBACK TO SAVEPOINT s1;
      UPDATE bulk SET v = 'kept too' WHERE id = 1;
      COMMIT;`);
    await pair.sql('source', `DO $$ BEGIN INSERT INTO bulk VALUES (200000, 'aborted'); RAISE EXCEPTION 'abort on purpose'; END $$;`).catch(() => undefined);
    await catchUp(config);
    const res = await pair.sql('target', `SELECT count(*)::int AS n FROM bulk WHERE id > 100000 OR v = 'kept too'`);
    assert.equal(res.rows[0]?.n, 2);
    await assertSameRows(pair, 'bulk');
  });

  test('TRUNCATE of several tables in one statement empties them on the target', async () => {
    await pair.sql('source', 'TRUNCATE parent, child RESTART IDENTITY');
    await pair.sql('source', `INSERT INTO parent (v) VALUES ('after truncate')`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'child'), 0);
    assert.equal(await assertSameRows(pair, 'parent'), 1);
  });

  test('generated columns are computed on the target, columns dropped before init are ignored', async () => {
    await pair.sql('source', `INSERT INTO gen (id, a) VALUES (2, 21); UPDATE gen SET a = 5 WHERE id = 1`);
    await pair.sql('source', `INSERT INTO dropped VALUES (2, 'k2'); UPDATE dropped SET kept = 'K1' WHERE id = 1`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'gen'), 2);
    assert.equal(await assertSameRows(pair, 'dropped'), 2);
  });

  test('a column added while changes are queued: older rows arrive without it, newer ones with it', async () => {
    await pair.sql('target', 'ALTER TABLE grows ADD COLUMN extra int');
    await pair.sql('source', `INSERT INTO grows VALUES (1, 'before')`);
    await pair.sql('source', `ALTER TABLE grows ADD COLUMN extra int; INSERT INTO grows VALUES (2, 'after', 42); UPDATE grows SET extra = 7 WHERE id = 1`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'grows'), 2);
  });

  test('a column dropped after "ferry wait", then one added: later rows land in the right columns', async () => {
    await catchUp(config);
    await pair.sql('source', 'ALTER TABLE grows DROP COLUMN v');
    await pair.sql('target', 'ALTER TABLE grows DROP COLUMN v');
    await pair.sql('source', 'INSERT INTO grows VALUES (3, 33)');
    await catchUp(config);
    // Same number of columns as before the drop: only a fresh read of the catalog tells them apart.
    await pair.sql('target', 'ALTER TABLE grows ADD COLUMN w text');
    await pair.sql('source', `ALTER TABLE grows ADD COLUMN w text; INSERT INTO grows VALUES (4, 44, 'w4'); UPDATE grows SET extra = 77 WHERE id = 3`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'grows'), 4);
    assert.deepEqual((await pair.sql('target', 'SELECT id, extra, w FROM grows WHERE id >= 3 ORDER BY id')).rows,
      [{ id: 3, extra: 77, w: null }, { id: 4, extra: 44, w: 'w4' }]);
  });

  test('a partitioned table is captured through its root: rows moving between partitions, and TRUNCATE of one partition', async () => {
    await pair.sql('source', `INSERT INTO measurements VALUES (3, '2024-12-31', 3.5), (4, '2025-03-01', 4.5)`);
    await pair.sql('source', `UPDATE measurements SET at = '2025-02-01' WHERE id = 1`);
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'measurements'), 4);
    await pair.sql('source', 'TRUNCATE measurements_2024');
    await catchUp(config);
    assert.equal(await assertSameRows(pair, 'measurements'), 3);
  });

  test('writes of a session with session_replication_role = replica are captured too (the triggers are ENABLE ALWAYS)', async () => {
    await pair.sql('source', `SET session_replication_role = replica;
      INSERT INTO bulk VALUES (400000, 'written as a replica');
      INSERT INTO measurements VALUES (10, '2025-10-10', 10.5);`);
    await catchUp(config);
    const res = await pair.sql('target', `SELECT (SELECT v FROM bulk WHERE id = 400000) AS v, (SELECT count(*)::int FROM measurements WHERE id = 10) AS n`);
    assert.deepEqual(res.rows[0], { v: 'written as a replica', n: 1 });
  });

  test('the queue rotates and consumed queue tables are emptied by TRUNCATE; old ticks are forgotten', async () => {
    const rotation = async () => Number((await pair.sql('source', 'SELECT last_value FROM ferry.main_rotation')).rows[0]?.last_value);
    const first = await rotation();
    await until('two rotations', async () => {
      await pair.sql('source', `UPDATE bulk SET v = md5(v) WHERE id < 50`);
      return (await rotation()) >= first + 2;
    }, 20_000);
    await catchUp(config);
    await until('every queue table but the current one to be emptied', async () => {
      const slots = await pair.sql('source', `SELECT slot, state FROM ferry.queue_slots WHERE group_name = 'main' ORDER BY slot`);
      const current = (await rotation()) % 3;
      const others = slots.rows.filter((r) => r.slot !== current);
      if (!others.every((r) => r.state === 'empty')) return false;
      const counts = await Promise.all(others.map(async (r) => Number((await pair.sql('source', `SELECT count(*) AS n FROM ferry.main_events_${r.slot}`)).rows[0]?.n)));
      return counts.every((n) => n === 0);
    }, 20_000);
    const ticks = await pair.sql('source', `SELECT count(*)::int AS n FROM ferry.ticks WHERE group_name = 'main'`);
    assert.ok((ticks.rows[0]?.n as number) < 20, `only recent ticks are kept (${ticks.rows[0]?.n})`);
    await assertSameRows(pair, 'bulk');
  });

  test('status shows tick positions and no lag once caught up', async () => {
    await catchUp(config);
    const [main] = await collectStatus(await loadConfig(config));
    assert.equal(main?.state, 'streaming');
    assert.match(main?.appliedPosition ?? '', /^tick \d+$/);
    assert.match(main?.sourcePosition ?? '', /^tick \d+$/);
    assert.equal(main?.lagBytes, null);
    assert.ok(main?.queue && main.queue.lagTicks !== null && main.queue.lagTicks <= 2, `lag in ticks is small: ${JSON.stringify(main?.queue)}`);
  });

  test('a table the role does not own is refused with the exact fix, before anything is created', async () => {
    const other = await triggerConfig(pair, { other: ['public.not_mine'] }, { user: OWNER });
    await assert.rejects(init(other), (err: unknown) => {
      assert.ok(err instanceof PrerequisiteError);
      assert.match(err.message, /does not own table public\.not_mine \(owner: postgres\)/);
      assert.match(err.message, /ALTER TABLE "public"\."not_mine" OWNER TO "ferry_owner";/);
      return true;
    });
    const queues = await pair.sql('source', `SELECT count(*)::int AS n FROM ferry.queues WHERE group_name = 'other'`);
    assert.equal(queues.rows[0]?.n, 0);
  });

  test('drop removes triggers, capture function, queue and the source schema; replicated rows stay', async () => {
    assert.deepEqual(await ferry?.stop(), []);
    ferry = undefined;
    await dropGroups(await loadConfig(config), silentLogger());
    const left = await pair.sql('source', `SELECT
        (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ferry_%')::int AS triggers,
        (SELECT count(*) FROM pg_proc WHERE proname LIKE 'main_%')::int AS functions,
        (SELECT count(*) FROM pg_namespace WHERE nspname = 'ferry')::int AS schemas`);
    assert.deepEqual(left.rows[0], { triggers: 0, functions: 0, schemas: 0 });
    const rows = await pair.sql('target', 'SELECT count(*)::int AS n FROM bulk');
    assert.ok((rows.rows[0]?.n as number) > 0);
    const insert = await pair.sql('source', `INSERT INTO bulk VALUES (300000, 'after drop')`);
    assert.equal(insert.rowCount, 1, 'the application writes as before');
  });
});

describe('trigger capture: a long transaction that commits after a tick', () => {
  test('is delivered at the next tick interval, not the idle tick', async () => {
    const pair = await startPair();
    try {
      await pair.sql('source', 'CREATE TABLE long_tx (id int PRIMARY KEY, v text); CREATE TABLE other_tx (id int PRIMARY KEY)');
      const file = await triggerConfig(pair, { g: ['public.long_tx', 'public.other_tx'] });
      await writeFile(file, (await readFile(file, 'utf8')).replace('idle_tick_ms: 500', 'idle_tick_ms: 60000'));
      await init(file);
      const ferry = await run(file);
      const client = new pg.Client({ connectionString: pair.source.url('app') });
      await client.connect();
      try {
        await client.query(`BEGIN; INSERT INTO long_tx VALUES (1, 'long')`);
        // Another transaction's change makes a tick while the long one is still open.
        await pair.sql('source', 'INSERT INTO other_tx VALUES (1)');
        await until('the other change applied', async () => (await pair.sql('target', 'SELECT count(*)::int AS n FROM other_tx')).rows[0]?.n === 1, 10_000);
        await client.query('COMMIT');
        await until('the long transaction applied', async () => (await pair.sql('target', 'SELECT count(*)::int AS n FROM long_tx')).rows[0]?.n === 1, 5_000);
      } finally {
        await client.end();
        assert.deepEqual(await ferry.stop(), []);
      }
    } finally {
      await pair.stop();
    }
  });
});
