import mysql from 'mysql2/promise';
import { commitUntilAborted } from './demo-workload.js';

/** The demo's schema on MariaDB: the same tables as on PostgreSQL, in MySQL's types. */
export const MARIADB_DEMO_SCHEMA = `
  SET SESSION max_recursive_iterations = 1000000;
  CREATE DATABASE shop;
  CREATE TABLE shop.accounts (
    id         INT AUTO_INCREMENT PRIMARY KEY,
    owner      VARCHAR(100) NOT NULL,
    balance    DECIMAL(12,2) NOT NULL DEFAULT 0,
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
  );
  CREATE TABLE shop.orders (
    id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    account_id  INT NOT NULL,
    amount      DECIMAL(12,2) NOT NULL,
    note        TEXT,
    status      ENUM('new', 'paid', 'shipped') NOT NULL DEFAULT 'new',
    created_at  TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY orders_by_account (account_id)
  );
  CREATE TABLE shop.products (
    id     INT PRIMARY KEY,
    name   VARCHAR(100) NOT NULL,
    price  DECIMAL(10,2),
    attrs  JSON
  );
  INSERT INTO shop.accounts (owner, balance)
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000) SELECT CONCAT('owner ', i), (i % 1000) * 1.5 FROM s;
  INSERT INTO shop.orders (account_id, amount, note)
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 5000) SELECT 1 + i % 1000, (i % 97) * 2.25, CONCAT('initial ', i) FROM s;
  INSERT INTO shop.products
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200) SELECT i, CONCAT('product ', i), i * 0.99, JSON_OBJECT('weight', i % 13) FROM s;
`;

/** The PostgreSQL demo's workload in MySQL's SQL: orders, money moved between accounts, products repriced, old orders deleted. */
export async function runMariaDbWorkload(port: number, signal: AbortSignal): Promise<number> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', database: 'shop' });
  try {
    return await commitUntilAborted(signal, async ({ n, a, b }) => {
      await c.query('BEGIN');
      await c.query(`INSERT INTO orders (account_id, amount, note, status) VALUES (?, ?, ?, ?)`, [a, (n % 50) + 0.5, `live ${n}`, n % 3 === 0 ? 'paid' : 'new']);
      await c.query('UPDATE accounts SET balance = balance - 1, updated_at = NOW(6) WHERE id = ?', [a]);
      await c.query('UPDATE accounts SET balance = balance + 1, updated_at = NOW(6) WHERE id = ?', [b]);
      if (n % 10 === 0) await c.query(`UPDATE products SET price = price + 0.01, attrs = JSON_SET(attrs, '$.seen', ?) WHERE id = ?`, [n, 1 + n % 200]);
      if (n % 25 === 0) await c.query('DELETE FROM orders ORDER BY id LIMIT 1');
      await c.query('COMMIT');
    });
  } finally {
    await c.end();
  }
}
