import type pg from 'pg';
import type { Lsn } from '../../change/change.js';
import { connect, quoteIdent, quoteLiteral } from '../../pg/connect.js';
import { FerryError } from '../../errors.js';
import { parseLsn, formatLsn } from './lsn.js';
import { CopyDataReader, type DataSource } from './copy-data-reader.js';
import { readServerMessage, standbyStatusUpdate, type ServerMessages } from './replication-protocol.js';

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
  /** pgoutput's `binary` option (PostgreSQL 14+): values in each type's binary format. */
  readonly binary?: boolean;
}

/** A read this large means the walsender is ahead of us: keep draining. */
const DRAIN_BYTES = 32 * 1024;
/** Otherwise let messages gather this long before the next read. */
const GATHER_MS = 1;

/**
 * A `replication=database` connection: replication commands, then one
 * CopyBoth stream of WAL. `pause()`/`resume()` stop reading the socket so the
 * server is held back by TCP flow control instead of our memory growing.
 *
 * While catching up, reads are gathered: the walsender sends each change as
 * its own small TCP write, and a reader that wakes for every one of them (on
 * loopback, most do) roughly doubles the walsender's CPU time, which is the
 * ceiling of the whole stream. Pausing about a millisecond after a small read
 * lets the changes pile up in the socket and be taken in one read. Under
 * steady load (recent commits) every read is taken at once: there the pauses
 * added up to tens of milliseconds of lag.
 */
export class ReplicationConnection {
  private heldByConsumer = false;
  private gathering = false;
  /** Set by the reader of the stream: the changes arriving are well in the past (a backlog). */
  catchingUp = false;

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
   * Starts streaming; `to` is called synchronously for every message, in
   * buffers nothing reuses or changes. Resolves when the stream ends.
   */
  stream(options: StreamOptions, to: ServerMessages): Promise<void> {
    const params = [
      `proto_version ${quoteLiteral(String(options.protocolVersion))}`,
      `publication_names ${quoteLiteral(quoteIdent(options.publication))}`,
      // Both options arrived with PostgreSQL 14, as did protocol 2.
      ...(options.protocolVersion >= 2 ? [`messages 'true'`, `streaming 'on'`] : []),
      ...(options.binary ? [`binary 'true'`] : []),
    ];
    const sql = `START_REPLICATION SLOT ${quoteIdent(options.slot)} LOGICAL ${formatLsn(options.startAt)} (${params.join(', ')})`;
    const connection = this.connection();
    const onData = (data: Buffer) => this.gather(data.length);
    // Idle now (the commands before were awaited): the reader may take the socket's reads over.
    new CopyDataReader(connection.stream, (bytes, start, end) => {
      try {
        readServerMessage(bytes, start, end, to);
      } catch (err) {
        to.fail(err);
      }
    });
    connection.stream.on('data', onData);
    return this.client.query(sql).then(() => undefined).finally(() => {
      connection.stream.off('data', onData);
    });
  }

  private gather(bytes: number): void {
    if (this.gathering || !this.catchingUp) return;
    this.gathering = true;
    const stream = this.connection().stream;
    stream.pause();
    const resume = () => {
      this.gathering = false;
      if (!this.heldByConsumer) stream.resume();
    };
    if (bytes >= DRAIN_BYTES) setImmediate(resume);
    else setTimeout(resume, GATHER_MS);
  }

  sendStatus(written: Lsn, flushed: Lsn, replyRequested = false): void {
    this.connection().sendCopyFromChunk(standbyStatusUpdate(written, flushed, flushed, replyRequested));
  }

  pause(): void {
    this.heldByConsumer = true;
    this.connection().stream.pause();
  }

  resume(): void {
    this.heldByConsumer = false;
    if (!this.gathering) this.connection().stream.resume();
  }

  async close(): Promise<void> {
    this.heldByConsumer = false;
    this.connection().stream.resume();
    await this.client.end().catch(() => undefined);
  }

  /** pg's protocol connection, which exposes CopyData events and writes. */
  private connection(): PgConnection {
    return (this.client as unknown as { connection: PgConnection }).connection;
  }
}

interface PgConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  readonly stream: DataSource & { pause(): void; resume(): void };
}
