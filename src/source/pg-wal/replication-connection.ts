import type pg from 'pg';
import type { Lsn } from '../../change/change.js';
import { connect, quoteIdent, quoteLiteral } from '../../pg/connect.js';
import { FerryError } from '../../errors.js';
import { parseLsn, formatLsn } from './lsn.js';
import { parseServerMessage, standbyStatusUpdate, type ServerMessage } from './replication-protocol.js';

export interface CreatedSlot {
  readonly consistentPoint: Lsn;
  /** Valid only while this connection stays open and runs no other command. */
  readonly snapshotName: string;
}

export interface StreamOptions {
  readonly slot: string;
  readonly publication: string;
  readonly startAt: Lsn;
  readonly protocolVersion: number;
}

/**
 * A `replication=database` connection: replication commands, then one
 * CopyBoth stream of WAL. `pause()`/`resume()` stop reading the socket so the
 * server is held back by TCP flow control instead of our memory growing.
 */
export class ReplicationConnection {
  private constructor(private readonly client: pg.Client) {}

  static async open(url: string, applicationName: string): Promise<ReplicationConnection> {
    return new ReplicationConnection(await connect(url, { role: 'source', applicationName, replication: true }));
  }

  async serverVersion(): Promise<number> {
    const res = await this.client.query<{ server_version_num: string }>('SHOW server_version_num');
    return Number(res.rows[0]?.server_version_num);
  }

  /** A temporary slot disappears with this connection: it is only wanted for its snapshot. */
  async createSlot(slot: string, temporary = false): Promise<CreatedSlot> {
    // The pre-15 spelling still works on every later version.
    const res = await this.client.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${quoteIdent(slot)}${temporary ? ' TEMPORARY' : ''} LOGICAL pgoutput EXPORT_SNAPSHOT`);
    const row = res.rows[0];
    if (!row) throw new FerryError('FERRY_SLOT_CREATE', `creating replication slot ${slot} returned nothing`);
    return { consistentPoint: parseLsn(row.consistent_point), snapshotName: row.snapshot_name };
  }

  /**
   * Starts streaming; `onMessage` runs synchronously for every message (the
   * buffer is only valid during the call). Resolves when the stream ends.
   */
  stream(options: StreamOptions, onMessage: (message: ServerMessage) => void): Promise<void> {
    const params = [
      `proto_version ${quoteLiteral(String(options.protocolVersion))}`,
      `publication_names ${quoteLiteral(quoteIdent(options.publication))}`,
      // Both options arrived with PostgreSQL 14, as did protocol 2.
      ...(options.protocolVersion >= 2 ? [`messages 'true'`, `streaming 'on'`] : []),
    ];
    const sql = `START_REPLICATION SLOT ${quoteIdent(options.slot)} LOGICAL ${formatLsn(options.startAt)} (${params.join(', ')})`;
    const connection = this.connection();
    const onCopyData = (msg: { chunk: Buffer }) => onMessage(parseServerMessage(msg.chunk));
    connection.on('copyData', onCopyData);
    return this.client.query(sql).then(() => undefined).finally(() => connection.off('copyData', onCopyData));
  }

  sendStatus(written: Lsn, flushed: Lsn, replyRequested = false): void {
    this.connection().sendCopyFromChunk(standbyStatusUpdate(written, flushed, flushed, replyRequested));
  }

  pause(): void {
    this.connection().stream.pause();
  }

  resume(): void {
    this.connection().stream.resume();
  }

  async close(): Promise<void> {
    this.connection().stream.resume();
    await this.client.end().catch(() => undefined);
  }

  /** pg's protocol connection, which exposes CopyData events and writes. */
  private connection(): PgConnection {
    return (this.client as unknown as { connection: PgConnection }).connection;
  }
}

interface PgConnection {
  on(event: 'copyData', listener: (msg: { chunk: Buffer }) => void): void;
  off(event: 'copyData', listener: (msg: { chunk: Buffer }) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  readonly stream: { pause(): void; resume(): void };
}
