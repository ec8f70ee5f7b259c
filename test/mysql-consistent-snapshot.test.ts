import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { startMariaDb, type MariaDb } from '../src/embedded/mariadb.js';
import { BinlogStream } from '../src/source/mysql-binlog/binlog-stream.js';
import { TransactionAssembler } from '../src/source/mysql-binlog/binlog-transactions.js';
import { compareFilePositions } from '../src/source/mysql-binlog/binlog-position.js';
import { inSnapshot, openConsistentSnapshot, type SnapshotLock } from '../src/source/mysql-binlog/consistent-snapshot.js';

/*
 * The consistent snapshot against a real MariaDB 10.11, with a writer
 * inserting, updating and deleting rows of two tables in a loop the whole
 * time: worker 1 copies table 1, worker 2 table 2, then the binlog is read
 * with our reader from the snapshot's start to the writer's last
 * transaction. Copy plus changes must be each final table exactly: a
 * change applied twice or missed shows as a duplicate insert, an update or
 * delete of a row that is not there, or a difference at the end.
 */

let db: MariaDb;
let nextServerId = 3000;

before(async () => {
  db = await startMariaDb();
  await db.query('CREATE DATABASE app');
});

after(async () => {
  await db?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `step` (given how many steps are done) on its own connection until stopped; `stop` says how many steps it did. */
function startLoop(step: (c: mysql.Connection, done: number) => Promise<void>): { stop(): Promise<number> } {
  let stopping = false;
  const done = (async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: 'root', database: 'app' });
    let steps = 0;
    try {
      while (!stopping) {
        await step(c, steps);
        steps++;
      }
    } finally {
      await c.end();
    }
    return steps;
  })();
  return {
    async stop() {
      stopping = true;
      return done;
    },
  };
}

/** Transactions until stopped: each inserts into, updates and deletes from one or both tables. Returns how many it committed. */
function startWriter(tables: readonly string[]): { stop(): Promise<number> } {
  let next = 1000;
  return startLoop(async (c, committed) => {
    await c.query('BEGIN');
    for (const t of committed % 3 === 0 ? tables : [tables[committed % tables.length] as string]) {
      await c.query(`INSERT INTO ${t} (id, v) VALUES (?, 0), (?, 0)`, [next, next + 1]);
      next += 2;
      await c.query(`UPDATE ${t} SET v = v + 1 WHERE id > 100 AND id % 7 = ?`, [committed % 7]);
      await c.query(`DELETE FROM ${t} WHERE id = ?`, [next - 40]);
    }
    await c.query('COMMIT');
  });
}

/**
 * Single-row autocommit updates of seeded rows 1–100, which the other writer
 * leaves alone: a row lock wait between the two under FLUSH TABLES WITH READ
 * LOCK would wait out lock_wait_timeout (the lock waits for the waiting
 * statement, the lock holder's next statement waits for the lock).
 */
function startUpdater(tables: readonly string[]): { stop(): Promise<number> } {
  return startLoop(async (c, committed) => {
    await c.query(`UPDATE ${tables[committed % tables.length]} SET v = v + 10 WHERE id = ?`, [1 + ((committed * 37) % 100)]);
  });
}

type Rows = Map<string, string>;

async function tableRows(table: string): Promise<Rows> {
  const rows = await db.query<{ id: number; v: number }[]>(`SELECT id, v FROM app.${table} ORDER BY id`);
  return new Map(rows.map((r) => [String(r.id), String(r.v)]));
}

async function snapshotThenStream(lock: SnapshotLock): Promise<void> {
  const tables = [`t_${lock.replace('-', '_')}_1`, `t_${lock.replace('-', '_')}_2`];
  for (const t of tables) {
    await db.query(`CREATE TABLE app.${t} (id INT PRIMARY KEY, v INT NOT NULL);
      INSERT INTO app.${t} (id, v) SELECT seq, 0 FROM seq_1_to_200`, [], 'app');
  }
  const writer = startWriter(tables);
  // A second writer of short autocommit updates commits often enough that workers opening one after the other see different moments.
  const updater = startUpdater(tables);
  try {
    await checkAgainstWriter(lock, tables, { stop: async () => (await updater.stop()) + (await writer.stop()) });
  } finally {
    await Promise.all([writer.stop(), updater.stop()]).catch(() => undefined);
  }
}

async function checkAgainstWriter(lock: SnapshotLock, tables: readonly string[], writer: { stop(): Promise<number> }): Promise<void> {
  await sleep(150);
  const snapshot = await openConsistentSnapshot(db.url('', 'root'), { workers: 2, tables: tables.map((name) => ({ database: 'app', name })), lock });
  const copies: Rows[] = [];
  try {
    assert.equal(snapshot.lock, lock);
    if (lock !== 'none') assert.deepEqual(snapshot.workers[0]?.position, snapshot.workers[1]?.position, 'a lock gives the workers one position');
    for (const [i, w] of snapshot.workers.entries()) {
      assert.ok(compareFilePositions(snapshot.start.file, w.position.file) <= 0, `the start is at or before worker ${i + 1}'s position`);
      // The writer keeps writing while the copy reads: the snapshot must not move.
      const [rows] = await w.connection.query(`SELECT id, v FROM app.${tables[i]} ORDER BY id`);
      await sleep(50);
      const [again] = await w.connection.query(`SELECT id, v FROM app.${tables[i]} ORDER BY id`);
      assert.deepEqual(again, rows, `worker ${i + 1}'s snapshot of ${tables[i]} moved`);
      copies.push(new Map((rows as { id: number; v: number }[]).map((r) => [String(r.id), String(r.v)])));
    }
  } finally {
    await snapshot.close();
  }
  await sleep(150);
  const committed = await writer.stop();
  assert.ok(committed > 5, `the writer committed only ${committed} transactions`);

  assert.ok(snapshot.start.mariaDbGtids && snapshot.start.mariaDbGtids.length > 0, 'the start has a GTID position');
  const stream = await BinlogStream.open(db.url('', 'replication'), { kind: 'mariadb-gtid', gtids: snapshot.start.mariaDbGtids },
    { serverId: nextServerId++, nonBlocking: true });
  const assembler = new TransactionAssembler();
  let streamed = 0;
  for await (const event of stream) {
    const t = assembler.push(event);
    if (!t) continue;
    for (const change of t.changes) {
      if (change.kind !== 'rows') continue;
      const i = tables.indexOf(change.table.table);
      if (i < 0) continue;
      const worker = snapshot.workers[i];
      const rows = copies[i] as Rows;
      assert.ok(worker);
      if (inSnapshot(worker.position, t.end)) {
        continue;
      }
      streamed++;
      for (const { before: old, after: row } of change.rows.rows) {
        const where = `${tables[i]}, transaction ${t.gtid} ending at ${t.end.file}:${t.end.offset}`;
        if (old) {
          assert.ok(rows.has(String(old[0])), `${where}: ${change.rows.kind} of row id=${old[0]}, which the copy does not have (a change lost or applied twice)`);
          rows.delete(String(old[0]));
        }
        if (row) {
          if (change.rows.kind === 'insert') assert.ok(!rows.has(String(row[0])), `${where}: insert of row id=${row[0]}, which the copy already has (a change applied twice)`);
          rows.set(String(row[0]), String(row[1]));
        }
      }
    }
  }
  assert.ok(streamed > 0, 'no change came after the snapshot: the test did not overlap the writer');
  for (const [i, t] of tables.entries()) {
    const final = await tableRows(t);
    const copy = copies[i] as Rows;
    const missing = [...final].filter(([id, v]) => copy.get(id) !== v).slice(0, 5);
    const extra = [...copy].filter(([id]) => !final.has(id)).slice(0, 5);
    assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${t}: copy + stream differs from the table (id, v): expected vs actual`);
    assert.equal(copy.size, final.size, `${t}: row count`);
  }
}

describe('consistent snapshot against MariaDB', () => {
  test('without a lock, two workers\' snapshots plus the binlog after each one\'s position give each table exactly, under concurrent writes', async () => {
    await snapshotThenStream('none');
  });

  test('under FLUSH TABLES WITH READ LOCK, two workers share one position and copy plus stream give each table exactly', async () => {
    await snapshotThenStream('flush-tables');
  });

  test('under LOCK TABLES … READ on the tables, two workers share one position and copy plus stream give each table exactly', async () => {
    await snapshotThenStream('lock-tables');
  });

  test('binlog positions order by file sequence number, then offset', () => {
    assert.ok(compareFilePositions({ file: 'binlog.000009', offset: 900 }, { file: 'binlog.000010', offset: 4 }) < 0);
    assert.ok(compareFilePositions({ file: 'binlog.000010', offset: 900 }, { file: 'binlog.000010', offset: 4 }) > 0);
    assert.equal(inSnapshot({ file: { file: 'b.000002', offset: 100 } }, { file: 'b.000002', offset: 100 }), true);
    assert.equal(inSnapshot({ file: { file: 'b.000002', offset: 100 } }, { file: 'b.000002', offset: 101 }), false);
    assert.throws(() => compareFilePositions({ file: 'a.000001', offset: 4 }, { file: 'b.000001', offset: 4 }), /not of one binlog/);
  });
});
