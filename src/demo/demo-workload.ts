import pg from 'pg';

/** The demo's schema: two groups, a foreign key, a few kinds of types. */
export const DEMO_SCHEMA = `
  CREATE TABLE accounts (
    id         serial PRIMARY KEY,
    owner      text NOT NULL,
    balance    numeric(12,2) NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE orders (
    id          bigserial PRIMARY KEY,
    account_id  integer NOT NULL REFERENCES accounts,
    amount      numeric(12,2) NOT NULL,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE products (
    id     integer PRIMARY KEY,
    name   text NOT NULL,
    price  numeric(10,2),
    tags   text[],
    attrs  jsonb
  );
  INSERT INTO accounts (owner, balance) SELECT 'owner ' || i, (i % 1000) * 1.5 FROM generate_series(1, 1000) i;
  INSERT INTO orders (account_id, amount, note) SELECT 1 + i % 1000, (i % 97) * 2.25, 'initial ' || i FROM generate_series(1, 5000) i;
  INSERT INTO products SELECT i, 'product ' || i, i * 0.99, ARRAY['tag' || i % 7, NULL], jsonb_build_object('weight', i % 13)
    FROM generate_series(1, 200) i;
`;

/**
 * A live workload on the source until `signal` aborts: small transactions
 * that insert orders, move money between accounts, reprice and delete
 * products. Returns the number of transactions committed.
 */
export async function runWorkload(url: string, signal: AbortSignal): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await commitUntilAborted(signal, async ({ n, a, b }) => {
      await client.query('BEGIN');
      await client.query('INSERT INTO orders (account_id, amount, note) VALUES ($1, $2, $3)', [a, (n % 50) + 0.5, `live ${n}`]);
      await client.query('UPDATE accounts SET balance = balance - 1, updated_at = now() WHERE id = $1', [a]);
      await client.query('UPDATE accounts SET balance = balance + 1, updated_at = now() WHERE id = $1', [b]);
      if (n % 10 === 0) await client.query('UPDATE products SET price = price + 0.01, tags = tags || $2::text WHERE id = $1', [1 + n % 200, `t${n}`]);
      if (n % 25 === 0) await client.query('DELETE FROM orders WHERE id = (SELECT min(id) FROM orders)');
      await client.query('COMMIT');
    });
  } finally {
    await client.end();
  }
}

/** The n-th transaction of a demo workload, and the two accounts it moves money between. */
export interface DemoStep {
  readonly n: number;
  readonly a: number;
  readonly b: number;
}

/** Commits `transaction` for n = 1, 2, … until `signal` aborts, with a short pause every 20; returns how many were committed. */
export async function commitUntilAborted(signal: AbortSignal, transaction: (step: DemoStep) => Promise<void>): Promise<number> {
  let n = 0;
  while (!signal.aborted) {
    n++;
    await transaction({ n, a: 1 + (n * 7919) % 1000, b: 1 + (n * 104729) % 1000 });
    if (n % 20 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  return n;
}
