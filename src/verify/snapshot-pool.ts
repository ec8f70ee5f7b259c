import type pg from 'pg';
import { connect } from '../pg/connect.js';
import { verifySql } from './verify-sql.js';

/**
 * A few connections to one side, each in a read-only REPEATABLE READ
 * transaction on the same exported snapshot: work spread over them reads
 * one consistent state, as if it ran on a single connection.
 */
export class SnapshotPool {
  private readonly idle: pg.Client[] = [];
  private readonly waiting: ((client: pg.Client) => void)[] = [];

  private constructor(private readonly clients: readonly pg.Client[]) {
    this.idle.push(...clients);
  }

  static async open(url: string, role: 'source' | 'target', snapshot: string, size: number): Promise<SnapshotPool> {
    const clients: pg.Client[] = [];
    try {
      for (let i = 0; i < size; i++) {
        const client = await connect(url, { role, applicationName: 'ferry:verify' });
        clients.push(client);
        await client.query(verifySql.beginSnapshot);
        await client.query(verifySql.importSnapshot(snapshot));
      }
    } catch (err) {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      throw err;
    }
    return new SnapshotPool(clients);
  }

  /** Runs `work` on a connection of its own, waiting for one to be free. */
  async with<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = this.idle.pop() ?? await new Promise<pg.Client>((resolve) => this.waiting.push(resolve));
    try {
      return await work(client);
    } finally {
      const next = this.waiting.shift();
      if (next) next(client);
      else this.idle.push(client);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.end().catch(() => undefined)));
  }
}
