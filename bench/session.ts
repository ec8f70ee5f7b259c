import pg from 'pg';
import type { Cluster } from '../src/embedded/cluster.js';

/**
 * One connection kept open for polling while a replica is timed. A new
 * connection per poll starts a server backend each time: at tens of polls a
 * second that takes CPU from the processes being measured.
 */
export interface Session {
  query(sql: string): Promise<pg.QueryResult>;
  close(): Promise<void>;
}

export async function openSession(cluster: Cluster): Promise<Session> {
  const client = new pg.Client({ connectionString: cluster.url() });
  await client.connect();
  return {
    query: (sql) => client.query(sql),
    close: () => client.end(),
  };
}

/** Runs `fn` with a session on `cluster`, closed afterwards. */
export async function withSession<T>(cluster: Cluster, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = await openSession(cluster);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}
