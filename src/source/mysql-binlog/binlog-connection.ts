import mysql from 'mysql2/promise';
import { FerryError } from '../../errors.js';
import { formatMariaDbGtidList, type FilePosition, type MariaDbGtid, type MySqlGtidSet } from './binlog-position.js';
import { PacketReader, type PacketSource } from './packet-reader.js';

/**
 * A replication client connection to MySQL or MariaDB: mysql2 does the
 * handshake, authentication, TLS and the setup queries; then this class
 * sends the dump command itself and reads the event stream off the socket
 * (PacketReader). mysql2's `binlogDump()` only sends COM_BINLOG_DUMP (no
 * GTID start for MySQL), parses a few event types into objects of its own,
 * and keeps reading into memory while paused; we need neither its parsing
 * nor its buffering.
 *
 * `pause()`/`resume()` stop and restart reading the socket, so a reader
 * that falls behind holds the server back by TCP flow control instead of
 * growing our memory.
 */
export type Flavor = 'mysql' | 'mariadb';

export type DumpStart =
  | { readonly kind: 'file'; readonly position: FilePosition }
  /** MariaDB: the last GTID applied in each domain (`@slave_connect_state`). */
  | { readonly kind: 'mariadb-gtid'; readonly gtids: readonly MariaDbGtid[] }
  /** MySQL: the executed GTID set; the server sends every transaction not in it. */
  | { readonly kind: 'mysql-gtid'; readonly executed: MySqlGtidSet };

export interface DumpOptions {
  /** The replica's server id: unique among the source's replicas, not 0. */
  readonly serverId: number;
  /** Heartbeat period when idle; 0 for none. */
  readonly heartbeatSeconds?: number;
  /** End the dump at the current end of the binlog instead of waiting for more (BINLOG_DUMP_NON_BLOCK). */
  readonly nonBlocking?: boolean;
}

export interface DumpHandlers {
  /** One binlog event at `[start, end)` of `bytes` (the protocol's OK byte already removed). */
  event(bytes: Buffer, start: number, end: number): void;
  /** The dump ended (non-blocking dump at the end of the binlog) or failed; may be called again after. */
  end(err?: Error): void;
}

const COM_BINLOG_DUMP = 0x12;
const COM_BINLOG_DUMP_GTID = 0x1e;
const BINLOG_DUMP_NON_BLOCK = 0x01;
const BINLOG_SEND_ANNOTATE_ROWS_EVENT = 0x02;
const BINLOG_THROUGH_GTID = 0x04;
/** MariaDB: the replica understands GTID events (and everything before them), so the server sends them as they are. */
const MARIA_SLAVE_CAPABILITY_GTID = 4;
const OK = 0x00;
const ERR = 0xff;
const EOF = 0xfe;

interface DriverConnection {
  readonly stream: PacketSource & { pause(): void; resume(): void; write(b: Buffer): boolean; on(event: 'close', listener: () => void): unknown };
  on(event: 'error', listener: (err: Error) => void): unknown;
  destroy(): void;
}

export class BinlogConnection {
  private reader: PacketReader | undefined;
  private heldByConsumer = false;

  private constructor(
    private readonly client: mysql.Connection,
    readonly flavor: Flavor,
    readonly serverVersion: string,
    /** `@@global.binlog_checksum` as announced to the server: events arrive with it. */
    readonly checksum: 'CRC32' | 'OFF',
  ) {}

  static async open(url: string): Promise<BinlogConnection> {
    const client = await mysql.createConnection(connectionOptions(url));
    try {
      const [rows] = await client.query('SELECT VERSION() AS version, @@global.binlog_checksum AS checksum');
      const row = (rows as { version: string; checksum: string }[])[0];
      const version = row?.version ?? '';
      const checksum = row?.checksum?.toUpperCase() === 'CRC32' ? 'CRC32' : 'OFF';
      return new BinlogConnection(client, /mariadb/i.test(version) ? 'mariadb' : 'mysql', version, checksum);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  /** Runs a query on this connection before the dump starts (a dump connection runs nothing else). */
  async query<T>(sql: string): Promise<T> {
    const [rows] = await this.client.query(sql);
    return rows as T;
  }

  /**
   * Starts the dump. Session variables tell the server what this client
   * understands: checksums (a server that checksums refuses a replica that
   * does not say it can verify them), MariaDB's GTID events and annotated
   * rows, the heartbeat period, and for MariaDB the GTID position.
   */
  async dump(start: DumpStart, options: DumpOptions, handlers: DumpHandlers): Promise<void> {
    if (!Number.isInteger(options.serverId) || options.serverId <= 0 || options.serverId > 0xffffffff) {
      throw new FerryError('FERRY_BINLOG_SERVER_ID', `replica server id ${options.serverId} is not between 1 and 4294967295`);
    }
    const setup = [
      `SET @master_binlog_checksum = @@global.binlog_checksum`,
      `SET @source_binlog_checksum = @@global.binlog_checksum`,
      `SET @master_heartbeat_period = ${Math.round((options.heartbeatSeconds ?? 0) * 1e9)}`,
    ];
    if (this.flavor === 'mariadb') {
      setup.push(`SET @mariadb_slave_capability = ${MARIA_SLAVE_CAPABILITY_GTID}`);
      if (start.kind === 'mariadb-gtid') {
        setup.push(`SET @slave_connect_state = '${formatMariaDbGtidList(start.gtids)}'`,
          'SET @slave_gtid_strict_mode = 1', 'SET @slave_gtid_ignore_duplicates = 0');
      }
    } else if (start.kind === 'mariadb-gtid') {
      throw new FerryError('FERRY_BINLOG_POSITION', 'a MariaDB GTID position was given for a MySQL source');
    }
    if (this.flavor === 'mariadb' && start.kind === 'mysql-gtid') {
      throw new FerryError('FERRY_BINLOG_POSITION', 'a MySQL GTID set was given for a MariaDB source');
    }
    for (const sql of setup) await this.client.query(sql);

    const driver = this.driver();
    driver.on('error', (err) => handlers.end(err));
    // A server that goes away mid-dump may close the socket without an error packet.
    driver.stream.on('close', () => handlers.end(new FerryError('FERRY_BINLOG_CONNECTION', 'the binlog connection to the source closed')));
    // Idle now (every query above was awaited): the socket's reads can be taken over.
    this.reader = new PacketReader(driver.stream, (bytes, from, to) => {
      const first = bytes[from];
      if (first === OK) handlers.event(bytes, from + 1, to);
      else if (first === EOF && to - from < 9) handlers.end();
      else if (first === ERR) handlers.end(serverError(bytes, from, to));
      else handlers.end(new FerryError('FERRY_BINLOG_PROTOCOL', `unexpected packet 0x${(first ?? 0).toString(16)} in the binlog stream`));
    });
    driver.stream.write(packet(this.dumpCommand(start, options)));
  }

  private dumpCommand(start: DumpStart, options: DumpOptions): Buffer {
    let flags = options.nonBlocking ? BINLOG_DUMP_NON_BLOCK : 0;
    if (start.kind === 'mysql-gtid') {
      const data = start.executed.encode();
      const out = Buffer.alloc(1 + 2 + 4 + 4 + 0 + 8 + 4 + data.length);
      let at = out.writeUInt8(COM_BINLOG_DUMP_GTID, 0);
      at = out.writeUInt16LE(flags | BINLOG_THROUGH_GTID, at);
      at = out.writeUInt32LE(options.serverId, at);
      at = out.writeUInt32LE(0, at); // no file name: the GTID set says where
      at = out.writeBigUInt64LE(4n, at);
      at = out.writeUInt32LE(data.length, at);
      data.copy(out, at);
      return out;
    }
    if (this.flavor === 'mariadb') flags |= BINLOG_SEND_ANNOTATE_ROWS_EVENT;
    // COM_BINLOG_DUMP's position is 32 bits: a file/offset start past 4 GiB needs a GTID start.
    const position = start.kind === 'file' ? start.position : { file: '', offset: 4 };
    if (position.offset > 0xffffffff) {
      throw new FerryError('FERRY_BINLOG_POSITION', `binlog offset ${position.offset} is past 4 GiB, where COM_BINLOG_DUMP cannot start`,
        'resume from a GTID position');
    }
    const file = Buffer.from(position.file, 'utf8');
    const out = Buffer.alloc(1 + 4 + 2 + 4 + file.length);
    let at = out.writeUInt8(COM_BINLOG_DUMP, 0);
    at = out.writeUInt32LE(position.offset, at);
    at = out.writeUInt16LE(flags, at);
    at = out.writeUInt32LE(options.serverId, at);
    file.copy(out, at);
    return out;
  }

  pause(): void {
    this.heldByConsumer = true;
    this.driver().stream.pause();
  }

  resume(): void {
    if (!this.heldByConsumer) return;
    this.heldByConsumer = false;
    this.driver().stream.resume();
  }

  get paused(): boolean {
    return this.heldByConsumer;
  }

  /** Ends the connection; a dump in progress cannot be ended politely (the server only notices the closed socket). */
  close(): void {
    this.reader?.stop();
    this.driver().destroy();
  }

  private driver(): DriverConnection {
    return (this.client as unknown as { connection: DriverConnection }).connection;
  }
}

/** One client packet with sequence id 0 (a new command). */
function packet(payload: Buffer): Buffer {
  const out = Buffer.alloc(4 + payload.length);
  out.writeUIntLE(payload.length, 0, 3);
  out.writeUInt8(0, 3);
  payload.copy(out, 4);
  return out;
}

function serverError(bytes: Buffer, from: number, to: number): FerryError {
  const code = to - from >= 3 ? bytes.readUInt16LE(from + 1) : 0;
  let at = from + 3;
  if (bytes[at] === 0x23) at += 6; // '#' and the SQLSTATE
  const message = bytes.toString('utf8', at, to);
  // The server's error number travels as the cause's `errno`, as mysql2 reports it for queries: transient.ts reads it there.
  return new FerryError('FERRY_BINLOG_SERVER', `the source ended the binlog stream with error ${code}: ${message}`, undefined,
    { cause: Object.assign(new Error(message), { errno: code }) });
}

/** `mysql://` or `mariadb://user:password@host:port/database?ssl=true` as mysql2's options. */
export function connectionOptions(url: string): mysql.ConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Everything between the scheme and the last '@' may be the password, whatever characters it has.
    throw new FerryError('FERRY_CONFIG', `not a URL: ${url.replace(/\/\/.*@/, '//***@')}`);
  }
  if (parsed.protocol !== 'mysql:' && parsed.protocol !== 'mariadb:') {
    throw new FerryError('FERRY_CONFIG', `a binlog source URL starts with mysql:// or mariadb://, not ${parsed.protocol}//`);
  }
  const ssl = parsed.searchParams.get('ssl');
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 3306,
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    ...(parsed.pathname.length > 1 ? { database: decodeURIComponent(parsed.pathname.slice(1)) } : {}),
    ...(ssl === 'true' || ssl === 'required' ? { ssl: {} } : {}),
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
  };
}
