/**
 * Backlogs replayed by both native logical replication and Ferry. Each has a
 * schema, a generator that commits the backlog on the source, and the list
 * of tables to compare afterwards.
 */
export interface Workload {
  readonly name: string;
  readonly description: string;
  readonly schema: string;
  /** Rows that are there before replication starts: run on the source and the native target; `ferry init` copies them. */
  readonly seed?: string;
  /** Statements run on the source while the replicas are stopped. */
  readonly backlog: readonly string[];
  readonly tables: readonly string[];
  /** Row changes in the backlog, for rows/s. */
  readonly rowChanges: number;
}

export function insertBacklog(rows: number): Workload {
  const perTx = 10_000;
  const batches = Math.ceil(rows / perTx);
  return {
    name: 'insert',
    description: `${rows.toLocaleString('en')} inserted rows (7 columns) in transactions of ${perTx.toLocaleString('en')}`,
    schema: `CREATE TABLE items (id bigint PRIMARY KEY, price numeric(12,2), name text, note text, tags text[], doc jsonb, at timestamptz);`,
    backlog: [
      `CREATE PROCEDURE fill() LANGUAGE plpgsql AS $$
       BEGIN
         FOR b IN 0..${batches - 1} LOOP
           INSERT INTO items SELECT i, i * 0.01, 'item ' || i, md5(i::text), ARRAY['a' || i % 10, 'b'], jsonb_build_object('i', i, 'k', 'v'), now()
             FROM generate_series(b * ${perTx} + 1, LEAST((b + 1) * ${perTx}, ${rows})) i;
           COMMIT;
         END LOOP;
       END $$;`,
      'CALL fill()',
    ],
    tables: ['items'],
    rowChanges: rows,
  };
}

/** pgbench's TPC-B-like transaction, generated in SQL: 3 updates and 1 insert each. */
export function tpcbBacklog(transactions: number): Workload {
  return {
    name: 'tpcb-like',
    description: `${transactions.toLocaleString('en')} TPC-B-like transactions (3 updates + 1 insert each, scale 1)`,
    schema: `
      CREATE TABLE branches (bid int PRIMARY KEY, bbalance int, filler char(88));
      CREATE TABLE tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84));
      CREATE TABLE accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
      CREATE TABLE history (id bigserial PRIMARY KEY, tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));`,
    backlog: [
      `INSERT INTO branches SELECT 1, 0, '';
       INSERT INTO tellers SELECT i, 1, 0, '' FROM generate_series(1, 10) i;
       INSERT INTO accounts SELECT i, 1, 0, '' FROM generate_series(1, 100000) i;`,
      `CREATE PROCEDURE tpcb(n int) LANGUAGE plpgsql AS $$
       DECLARE v_aid int; v_tid int; v_delta int;
       BEGIN
         FOR i IN 1..n LOOP
           v_aid := 1 + (i * 7919) % 100000; v_tid := 1 + i % 10; v_delta := (i % 10001) - 5000;
           UPDATE accounts SET abalance = abalance + v_delta WHERE aid = v_aid;
           UPDATE tellers SET tbalance = tbalance + v_delta WHERE tid = v_tid;
           UPDATE branches SET bbalance = bbalance + v_delta WHERE bid = 1;
           INSERT INTO history (tid, bid, aid, delta, mtime) VALUES (v_tid, 1, v_aid, v_delta, now());
           COMMIT;
         END LOOP;
       END $$;`,
      `CALL tpcb(${transactions})`,
    ],
    tables: ['branches', 'tellers', 'accounts', 'history'],
    rowChanges: 100_011 + transactions * 4,
  };
}

/** Updates and deletes against a table with a non-key unique index and a foreign key. */
export function updateDeleteBacklog(transactions: number): Workload {
  return {
    name: 'update/delete',
    description: `${transactions.toLocaleString('en')} transactions updating, deleting and re-inserting rows of a table with a unique index and a foreign key`,
    schema: `
      CREATE TABLE parents (id int PRIMARY KEY, name text);
      CREATE TABLE children (id bigint PRIMARY KEY, parent_id int NOT NULL REFERENCES parents, code text NOT NULL UNIQUE, qty int, note text);`,
    backlog: [
      `INSERT INTO parents SELECT i, 'p' || i FROM generate_series(1, 1000) i;
       INSERT INTO children SELECT i, 1 + i % 1000, 'code-' || i, 0, md5(i::text) FROM generate_series(1, 100000) i;`,
      `CREATE PROCEDURE churn(n int) LANGUAGE plpgsql AS $$
       DECLARE k bigint;
       BEGIN
         FOR i IN 1..n LOOP
           k := 1 + (i * 7919) % 100000;
           UPDATE children SET qty = qty + 1 WHERE id = k;
           UPDATE children SET note = md5(note), qty = qty - 1 WHERE id = 1 + (k * 31) % 100000;
           DELETE FROM children WHERE id = 1 + (k * 17) % 100000 + 0 AND id <> k;
           INSERT INTO children VALUES (200000 + i, 1 + i % 1000, 'new-' || i, 1, 'n') ;
           UPDATE children SET code = 'moved-' || i WHERE id = 200000 + i;
           COMMIT;
         END LOOP;
       END $$;`,
      `CALL churn(${transactions})`,
    ],
    tables: ['parents', 'children'],
    rowChanges: 101_000 + transactions * 5,
  };
}

/**
 * A table without a key (REPLICA IDENTITY FULL) and with an index on every
 * side: single-row updates and deletes, one transaction each, every one of
 * them a different row. Native (PostgreSQL 16+) finds each old row through
 * the subscriber's index, as Ferry does through the target's.
 */
export function fullIdentityBacklog(rows: number, updates: number, deletes: number): Workload {
  const every = Math.max(1, Math.floor(updates / deletes));
  return {
    name: 'full-identity',
    description: `${updates.toLocaleString('en')} updates and ${deletes.toLocaleString('en')} deletes, one row per transaction, ` +
      `on a ${rows.toLocaleString('en')}-row table without a key (REPLICA IDENTITY FULL, an index on id)`,
    schema: `
      CREATE TABLE ledger (id bigint NOT NULL, account int NOT NULL, amount numeric(12,2), note text, at timestamptz);
      ALTER TABLE ledger REPLICA IDENTITY FULL;
      CREATE INDEX ledger_id ON ledger (id);`,
    // The same rows on every side: no now(), no random().
    seed: `INSERT INTO ledger SELECT i, i % 1000, (i % 10000) / 100.0, md5(i::text), timestamptz '2024-01-01 00:00+00' + i * interval '1 minute'
             FROM generate_series(1, ${rows}) i;
           ANALYZE ledger;`,
    backlog: [
      // Row ids from a multiplicative walk: all different, the deletes' after the updates'.
      `CREATE PROCEDURE churn_full(n int, d int) LANGUAGE plpgsql AS $$
       BEGIN
         FOR i IN 1..n LOOP
           UPDATE ledger SET amount = amount + 1, note = md5(note) WHERE id = 1 + (i::bigint * 7919) % ${rows};
           COMMIT;
           IF i % ${every} = 0 AND i / ${every} <= d THEN
             DELETE FROM ledger WHERE id = 1 + ((n + i / ${every})::bigint * 7919) % ${rows};
             COMMIT;
           END IF;
         END LOOP;
       END $$;`,
      `CALL churn_full(${updates}, ${deletes})`,
    ],
    tables: ['ledger'],
    rowChanges: updates + deletes,
  };
}
