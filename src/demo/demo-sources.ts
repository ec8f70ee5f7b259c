import mysql from 'mysql2/promise';
import { startCluster } from '../embedded/cluster.js';
import { startMariaDb } from '../embedded/mariadb.js';
import { DEMO_SCHEMA, runWorkload } from './demo-workload.js';
import { MARIADB_DEMO_SCHEMA, runMariaDbWorkload } from './demo-workload-mariadb.js';

/** The demo's source: a throwaway server with the demo's tables and a workload to run on them. */
export interface DemoSource {
  /** For people: `PostgreSQL 18`, `MariaDB 10.11.6`. */
  readonly label: string;
  readonly url: string;
  /** The configuration's `groups:` entries, as YAML lines. */
  readonly groups: readonly string[];
  readonly groupsSaid: string;
  /** Commits small transactions until `signal` aborts; returns how many. */
  workload(signal: AbortSignal): Promise<number>;
  stop(): Promise<void>;
}

export type DemoSourceKind = 'postgresql' | 'mariadb';

export async function startDemoSource(kind: DemoSourceKind): Promise<DemoSource> {
  return kind === 'mariadb' ? startMariaDbSource() : startPostgresSource();
}

async function startPostgresSource(): Promise<DemoSource> {
  // A limit on what a slot may retain, as a production source should have: the dashboard shows the slot against it.
  const source = await startCluster({ major: 18, settings: { max_slot_wal_keep_size: "'1GB'" } });
  await source.query('CREATE DATABASE shop');
  await source.query(DEMO_SCHEMA, [], 'shop');
  return {
    label: 'PostgreSQL 18',
    url: source.url('shop'),
    groups: ['  - name: sales', '    tables: [public.accounts, public.orders]', '  - name: catalog', '    tables: [public.products]'],
    groupsSaid: 'sales (accounts, orders) and catalog (products)',
    workload: (signal) => runWorkload(source.url('shop'), signal),
    stop: () => source.stop(),
  };
}

async function startMariaDbSource(): Promise<DemoSource> {
  const source = await startMariaDb();
  const root = await mysql.createConnection({ host: '127.0.0.1', port: source.port, user: 'root', multipleStatements: true });
  try {
    await root.query(MARIADB_DEMO_SCHEMA);
  } finally {
    await root.end();
  }
  return {
    label: `MariaDB ${source.version.replace(/-.*/, '')}`,
    url: source.url('shop', 'replication'),
    groups: ['  - name: sales', '    tables: [shop.accounts, shop.orders]', '  - name: catalog', '    tables: [shop.products]'],
    groupsSaid: 'sales (shop.accounts, shop.orders) and catalog (shop.products); the MySQL database shop becomes the PostgreSQL schema shop',
    workload: (signal) => runMariaDbWorkload(source.port, signal),
    stop: () => source.stop(),
  };
}
