import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { assertSameRows, catchUp, init, run, startPair, until, type Pair } from './support/harness.js';

const SCHEMA = `
  CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, score int NOT NULL DEFAULT 0, note text);
  CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers ON DELETE CASCADE, total numeric(10,2), tags text[]);
  CREATE TABLE audit (who int, what text);
  ALTER TABLE audit REPLICA IDENTITY FULL;
  CREATE TABLE counters (k text PRIMARY KEY, n bigint NOT NULL);`;

/** A small deterministic PRNG so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One session's random transactions; conflicts and constraint errors are rolled back like an application would. */
async function session(url: string, seed: number, transactions: number): Promise<number> {
  const rnd = prng(seed);
  const pick = (n: number) => 1 + Math.floor(rnd() * n);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let committed = 0;
  try {
    for (let i = 0; i < transactions; i++) {
      const statements: string[] = [];
      for (let j = 0, n = pick(6); j < n; j++) {
        const c = pick(60);
        const o = pick(200);
        switch (pick(12)) {
          case 1: case 2: statements.push(`INSERT INTO customers VALUES (${c}, 'c${c}-${seed}-${i}@x', ${pick(100)}, NULL) ON CONFLICT DO NOTHING`); break;
          case 3: statements.push(`INSERT INTO orders VALUES (${o}, ${c}, ${pick(9999) / 100}, ARRAY['a${pick(5)}', NULL]) ON CONFLICT DO NOTHING`); break;
          case 4: statements.push(`UPDATE customers SET score = score + 1, note = repeat('n', ${pick(3000)}) WHERE id = ${c}`); break;
          // Swap two emails through a temporary value: the unique index sees a conflict if replayed out of order.
          case 5: statements.push(`UPDATE customers SET email = 'tmp-${seed}-${i}' WHERE id = ${c}`,
            `UPDATE customers SET email = (SELECT email FROM customers WHERE id = ${c + 1}) WHERE id = ${c} AND EXISTS (SELECT 1 FROM customers WHERE id = ${c + 1})`,
            `UPDATE customers SET email = 'c${c}-swapped-${seed}-${i}@x' WHERE id = ${c + 1}`); break;
          case 6: statements.push(`UPDATE customers SET id = ${c + 1000 * pick(3)} WHERE id = ${c}`); break;
          case 7: statements.push(`UPDATE orders SET total = total * 2, tags = tags || 'x' WHERE id = ${o}`); break;
          case 8: statements.push(`UPDATE orders SET id = ${o + 500} WHERE id = ${o}`); break;
          case 9: statements.push(`DELETE FROM customers WHERE id = ${c}`); break;
          case 10: statements.push(`DELETE FROM orders WHERE id = ${o}`); break;
          case 11: statements.push(`INSERT INTO audit VALUES (${pick(5)}, 'op ${pick(3)}')`, `DELETE FROM audit WHERE ctid = (SELECT ctid FROM audit WHERE who = ${pick(5)} LIMIT 1)`); break;
          default: statements.push(`INSERT INTO counters VALUES ('k${pick(20)}', 1) ON CONFLICT (k) DO UPDATE SET n = counters.n + 1`);
        }
      }
      if (rnd() < 0.01) statements.push('TRUNCATE audit');
      try {
        await client.query(`BEGIN; ${statements.join('; ')}; COMMIT`);
        committed++;
      } catch {
        await client.query('ROLLBACK');
      }
    }
  } finally {
    await client.end();
  }
  return committed;
}

describe('randomized equivalence: Ferry and native logical replication end identical to the source', () => {
  let pair: Pair;
  let native: Cluster;

  before(async () => {
    pair = await startPair({ sourceSettings: { logical_decoding_work_mem: "'64kB'" } });
    native = await startCluster({ major: 18 });
    await pair.sql('source', SCHEMA);
    await native.query(SCHEMA);
  });

  after(async () => {
    await native?.stop();
    await pair?.stop();
  });

  test('four concurrent sessions of random inserts, updates (key changes, unique swaps), deletes and truncates', async () => {
    const config = await pair.config({ shop: ['public.customers', 'public.orders', 'public.audit', 'public.counters'] });
    await init(config);
    await pair.sql('source', 'CREATE PUBLICATION native_pub FOR TABLE customers, orders, audit, counters');
    await native.query(`CREATE SUBSCRIPTION native_sub CONNECTION '${pair.source.url('app')}' PUBLICATION native_pub WITH (copy_data = false)`);
    const ferry = await run(config);
    try {
      const seed = Number(process.env.FERRY_TEST_SEED ?? Date.now() % 100000);
      const committed = await Promise.all([1, 2, 3, 4].map((k) => session(pair.source.url('app'), seed * 10 + k, 250)));
      assert.ok(committed.reduce((a, b) => a + b, 0) > 500, `enough transactions committed (seed ${seed}): ${committed.join(', ')}`);
      await catchUp(config);
      const lsn = (await pair.sql('source', 'SELECT pg_current_wal_lsn()::text AS l')).rows[0]?.l as string;
      await until('native to catch up', async () => {
        const res = await pair.sql('source', `SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = 'native_sub'`, [lsn]);
        return res.rows[0]?.ok === true;
      }, 60_000);
      for (const table of ['customers', 'orders', 'audit', 'counters']) {
        await assertSameRows(pair, table);
        const q = `SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') AS rows FROM ${table} t`;
        const [src, nat] = await Promise.all([pair.sql('source', q), native.query(q)]);
        assert.equal(nat.rows[0]?.rows, src.rows[0]?.rows, `native target's ${table} equals the source (seed ${seed})`);
      }
    } finally {
      assert.deepEqual(await ferry.stop(), []);
    }
  });
});
