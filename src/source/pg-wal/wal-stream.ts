import type { Change, Lsn } from '../../change/change.js';
import { FerryError } from '../../errors.js';
import { AsyncQueue } from '../../util/async-queue.js';
import type { Position } from '../position.js';
import type { ChangeStream, SourceEvent } from '../source.js';
import { formatLsn, lsnOf, walPosition } from './lsn.js';
import { PgOutputDecoder } from './pgoutput-decoder.js';
import { ReplicationConnection } from './replication-connection.js';
import { nowPgTimestamp } from '../../change/pg-timestamp.js';
import type { Keepalive, ServerMessages } from './replication-protocol.js';
import { TransactionSpool } from './transaction-spool.js';

export interface WalStreamOptions {
  readonly url: string;
  readonly group: string;
  readonly slot: string;
  readonly publication: string;
  /** Commit end LSN of the last transaction applied on the target. */
  readonly startAfter: Lsn;
  readonly spillDir: string;
  readonly statusIntervalMs: number;
  /** Events buffered before the socket is paused. */
  readonly bufferEvents?: number;
  /**
   * Values in each type's binary format (PostgreSQL 14+): cheaper to send
   * and to load. Only for groups whose column types allow it (binary-transfer.ts).
   */
  readonly binary?: boolean;
}

const EVENTS_PER_YIELD = 4096;
/** Transactions committed longer ago than this mean a backlog: the reader gathers its reads. */
const CATCHING_UP_MICROS = 2_000_000n;

/** A committed streamed transaction whose changes wait in the spool. */
interface SpooledCommit {
  readonly kind: 'spooled';
  readonly xid: number;
  readonly commitLsn: Lsn;
  readonly position: Lsn;
  readonly commitTime: bigint;
}

/**
 * Logical decoding of one slot: reads pgoutput over a replication
 * connection, skips transactions already applied on the target, spools
 * streamed in-progress transactions, and delivers whole transactions in
 * commit order. Reports to the server as flushed only what `acknowledge`
 * was given.
 */
export class WalStream implements ChangeStream {
  private readonly queue: AsyncQueue<SourceEvent | SpooledCommit>;
  private readonly spool: TransactionSpool;
  private decoder!: PgOutputDecoder;
  private protocolVersion = 1;
  private received: Lsn = 0n;
  private flushed: Lsn;
  private skipping = false;
  private inTransaction = false;
  private streamingXid: number | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(private readonly conn: ReplicationConnection, private readonly options: WalStreamOptions) {
    this.flushed = options.startAfter;
    this.queue = new AsyncQueue(options.bufferEvents ?? 20_000, () => conn.pause(), () => conn.resume());
    this.spool = new TransactionSpool(options.spillDir, options.group);
  }

  private get binary(): boolean {
    return this.options.binary === true;
  }

  get details(): Readonly<Record<string, string>> {
    return { transfer: this.binary ? 'binary' : 'text' };
  }

  static async open(options: WalStreamOptions): Promise<WalStream> {
    const conn = await ReplicationConnection.open(options.url, `ferry:${options.group}`);
    const stream = new WalStream(conn, options);
    try {
      await stream.start();
    } catch (err) {
      await stream.close();
      throw err;
    }
    return stream;
  }

  private async start(): Promise<void> {
    const version = await this.conn.serverVersion();
    // Protocol 2 streams in-progress transactions (PG 14+), so the server does
    // not spill them and we see large transactions as they happen.
    this.protocolVersion = version >= 140000 ? 2 : 1;
    if (this.binary && version < 140000) throw new FerryError('FERRY_BINARY_UNAVAILABLE', 'binary transfer needs a source on PostgreSQL 14 or later');
    // Each socket read is a buffer of its own, never reused (copy-data-reader.ts): rows may point into it.
    this.decoder = new PgOutputDecoder(this.protocolVersion, this.binary, true);
    const streaming = this.conn.stream(
      {
        slot: this.options.slot, publication: this.options.publication, startAt: this.options.startAfter,
        protocolVersion: this.protocolVersion, binary: this.binary,
      },
      this.messages,
    );
    streaming.then(
      () => this.queue.fail(new FerryError('FERRY_STREAM_ENDED', 'the source ended the replication stream', undefined, { context: this.context() })),
      (err: unknown) => this.queue.fail(this.streamError(err)),
    );
    // Between transactions, ask for a keepalive in reply: its position and time
    // let an idle group record that it is caught up, so its lag reads 0.
    this.statusTimer = setInterval(() => this.sendStatus(!this.inTransaction && this.streamingXid === undefined), this.options.statusIntervalMs);
    this.statusTimer.unref();
  }

  async *events(): AsyncGenerator<readonly SourceEvent[]> {
    for (;;) {
      const items = await this.queue.shiftMany(EVENTS_PER_YIELD);
      if (items === undefined) return;
      if (!items.some((item) => item.kind === 'spooled')) {
        yield items as SourceEvent[];
        continue;
      }
      let run: SourceEvent[] = [];
      // Indexed: across a yield, for…of over an array makes an iterator result per item.
      for (let i = 0; i < items.length; i++) {
        const item = items[i] as SourceEvent | SpooledCommit;
        if (item.kind !== 'spooled') {
          run.push(item);
          continue;
        }
        if (run.length > 0) yield run;
        run = [];
        for (const event of this.replay(item)) {
          run.push(event);
          if (run.length >= EVENTS_PER_YIELD) {
            yield run;
            run = [];
          }
        }
      }
      if (run.length > 0) yield run;
    }
  }

  acknowledge(position: Position): void {
    const lsn = lsnOf(position);
    if (lsn <= this.flushed) return;
    this.flushed = lsn;
    this.sendStatus();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.statusTimer);
    this.sendStatus();
    this.queue.end();
    await this.conn.close();
    this.spool.close();
  }

  private sendStatus(replyRequested = false): void {
    if (this.closed && replyRequested) return;
    try {
      this.conn.sendStatus(this.received > this.flushed ? this.received : this.flushed, this.flushed, replyRequested);
    } catch {
      // The connection is gone; the stream's own error reports it.
    }
  }

  private readonly messages: ServerMessages = {
    xlog: (bytes, start, end) => this.onXLogData(bytes, start, end),
    keepalive: (message) => this.onKeepalive(message),
    fail: (err) => this.queue.fail(err),
  };

  private onKeepalive(message: Keepalive): void {
    if (message.walEnd > this.received) this.received = message.walEnd;
    // Between transactions, everything before walEnd has been sent: once the
    // target has applied what came before, the slot may move past walEnd.
    if (!this.inTransaction && this.streamingXid === undefined) this.queue.push({ kind: 'idle', position: walPosition(message.walEnd), time: message.sendTime });
    if (message.replyRequested) this.sendStatus();
  }

  private onXLogData(bytes: Buffer, start: number, end: number): void {
    if (this.streamingXid !== undefined) {
      // Spooled as it came; decoded once, at commit.
      const xid = this.decoder.peekStreamed(bytes, start, end);
      if (xid !== 'stop') {
        this.spool.append(this.streamingXid, xid ?? this.streamingXid, bytes.subarray(start, end));
        return;
      }
    }
    this.onChange(this.decoder.decode(bytes, start, end));
  }

  private onChange(change: Change): void {
    switch (change.kind) {
      case 'begin':
        this.conn.catchingUp = nowPgTimestamp() - change.commitTime > CATCHING_UP_MICROS;
        this.inTransaction = true;
        // A transaction whose commit record lies before the applied position is on the target already.
        this.skipping = change.finalLsn < this.options.startAfter;
        if (!this.skipping) this.queue.push({ kind: 'begin', xid: change.xid, commitTime: change.commitTime, commitPosition: walPosition(change.finalLsn) });
        return;
      case 'commit':
        // What the server reports as written: received up to here (keepalives say the rest).
        if (change.endLsn > this.received) this.received = change.endLsn;
        this.inTransaction = false;
        if (!this.skipping) this.queue.push({ kind: 'commit', position: walPosition(change.endLsn), commitTime: change.commitTime });
        this.skipping = false;
        return;
      case 'stream-start':
        this.streamingXid = change.xid;
        return;
      case 'stream-stop':
        if (this.streamingXid !== undefined) this.spool.flush(this.streamingXid);
        this.streamingXid = undefined;
        return;
      case 'stream-commit':
        if (change.endLsn > this.received) this.received = change.endLsn;
        if (change.commitLsn < this.options.startAfter) {
          this.keepRelationsOf(change.xid);
        } else {
          this.queue.push({ kind: 'spooled', xid: change.xid, commitLsn: change.commitLsn, position: change.endLsn, commitTime: change.commitTime });
        }
        return;
      case 'stream-abort':
        this.spool.abort(change.xid, change.subXid);
        return;
      case 'origin':
      case 'type':
        return;
      case 'message':
        // Non-transactional messages have no place in the commit order.
        if (!change.transactional) return;
        // The decoder already copied the content out of the socket buffer.
        if (!this.skipping) this.queue.push(change);
        return;
      default:
        // A relation is described once per session, inside the first transaction
        // that touches it: keep the description even when that transaction is skipped.
        if (!this.skipping || change.kind === 'relation') this.queue.push(change);
    }
  }

  /** An already-applied streamed transaction: of its spool, only the relation descriptions are still news. */
  private keepRelationsOf(xid: number): void {
    for (const change of this.spooled(xid)) if (change.kind === 'relation') this.queue.push(change);
  }

  /** The decoded messages of a streamed transaction's spool, which is removed afterwards. */
  private *spooled(xid: number): Generator<Change> {
    // The spool reads into a new buffer each time (transaction-spool.ts).
    const decoder = new PgOutputDecoder(this.protocolVersion, this.binary, true);
    decoder.decode(streamStartMessage(xid));
    for (const payload of this.spool.replay(xid)) yield decoder.decode(payload);
  }

  private *replay(commit: SpooledCommit): Generator<SourceEvent> {
    yield { kind: 'begin', xid: commit.xid, commitTime: commit.commitTime, commitPosition: walPosition(commit.commitLsn) };
    for (const change of this.spooled(commit.xid)) {
      switch (change.kind) {
        case 'relation':
        case 'insert':
        case 'update':
        case 'delete':
        case 'truncate':
          yield change;
          break;
        case 'message':
          if (change.transactional) yield change;
          break;
        default:
          break;
      }
    }
    yield { kind: 'commit', position: walPosition(commit.position), commitTime: commit.commitTime };
  }

  private context() {
    return { group: this.options.group, position: formatLsn(this.flushed) };
  }

  private streamError(err: unknown): FerryError {
    if (err instanceof FerryError) return err;
    const pgErr = err as { code?: string; message?: string };
    const message = pgErr.message ?? String(err);
    if (pgErr.code === '42704') {
      return new FerryError('FERRY_SLOT_MISSING', `replication slot ${this.options.slot} does not exist on the source: ${message}`,
        `the slot was dropped; changes since ${formatLsn(this.flushed)} are lost to this group: run "ferry drop" and "ferry init" again for group ${this.options.group}`,
        { context: this.context(), cause: err });
    }
    if (pgErr.code === '55000' && /invalidated/i.test(`${message} ${(err as { detail?: string }).detail ?? ''}`)) {
      // The source removed WAL the slot still needed (max_slot_wal_keep_size): the changes since are gone for good.
      return new FerryError('FERRY_SLOT_LOST', `replication slot ${this.options.slot} was invalidated by the source (wal_status lost): `
        + `the WAL this group still needed after ${formatLsn(this.flushed)} is gone`,
        `re-initialise only this group: "ferry drop -c <config> --group ${this.options.group}" then "ferry init -c <config>" `
        + '(the other groups keep streaming); to keep it from happening again raise max_slot_wal_keep_size on the source or keep ferry run from stopping for long',
        { context: this.context(), cause: err });
    }
    if (pgErr.code === '55006') {
      // Often our own earlier connection, cut without the source noticing: its walsender ends after wal_sender_timeout.
      return new FerryError('FERRY_SLOT_ACTIVE', `replication slot ${this.options.slot} is in use by another connection: ${message}`,
        'if no other process reads this slot, it is an earlier connection of this ferry that the source has not yet noticed is gone; ' +
        'ferry retries for up to 5 minutes while the source ends it (after wal_sender_timeout); if it persists, find the other reader in pg_stat_replication',
        { context: this.context(), cause: err });
    }
    return new FerryError('FERRY_STREAM', `replication stream failed: ${message}`, undefined, { context: this.context(), cause: err });
  }
}

function streamStartMessage(xid: number): Buffer {
  const buf = Buffer.alloc(6);
  buf[0] = 0x53; // S
  buf.writeUInt32BE(xid, 1);
  buf[5] = 1;
  return buf;
}
