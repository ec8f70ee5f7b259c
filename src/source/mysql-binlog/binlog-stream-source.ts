import mysql from 'mysql2/promise';
import type pg from 'pg';
import { mysqlConfig, type FerryConfig, type GroupConfig } from '../../config/schema.js';
import { FerryError } from '../../errors.js';
import { connect } from '../../pg/connect.js';
import { readGroup } from '../../target/control-schema.js';
import type { CaptureStatus, StreamSource } from '../capture.js';
import type { Position } from '../position.js';
import type { ChangeStream, SourceEvent } from '../source.js';
import { BinlogChanges } from './binlog-changes.js';
import { connectionOptions } from './binlog-connection.js';
import { BinlogStream } from './binlog-stream.js';
import { binlogBaseName, binlogPosition, filePositionOf, formatBinlogPosition } from './binlog-stream-position.js';
import { binlogEnd, binlogFiles, bytesBetween } from './binlog-files.js';
import { groupTables } from './mysql-tables.js';
import { binlogRetentionSeconds } from './mysql-prerequisites.js';
import { relationIdOf, targetLabel, type GroupTable } from './group-table.js';
import { targetColumnNames } from './target-tables.js';
import { readMySqlTable } from './mysql-catalog.js';
import { targetTable } from './target-table.js';
import { replicaServerId } from './replica-server-id.js';

/** Seconds between the source's heartbeats while no change arrives: how fresh an idle group's position and lag are. */
const HEARTBEAT_SECONDS = 1;
/** Source events handed on at most per array: the batcher cuts batches, this only bounds one hand-over. */
const MAX_EVENTS_PER_ARRAY = 4096;

/**
 * `capture: binlog`, a MySQL or MariaDB source: each group reads the
 * binlog from its own position with a dump connection of its own (a
 * replica server id per group) and keeps only its tables' rows. Nothing is
 * created on the source: the position lives on the target, and the binlog's
 * retention is what keeps the changes a stopped group has not read.
 */
export const binlogStreamSource: StreamSource = {
  name: 'binlog',
  formatPosition: formatBinlogPosition,

  async openStream({ config, group, startAfter, target }): Promise<ChangeStream> {
    const row = await readGroup(target, group.name);
    const recorded = new Set(row?.tables ?? []);
    const mysqlOptions = mysqlConfig(config);
    const { tables, baseName } = await onSource(config, async (control) => {
      const first = (await binlogFiles(control))[0];
      if (!first) throw new FerryError('FERRY_MYSQL_LOG_BIN', 'the source has no binary log', 'turn log_bin on (docs/mysql.md)');
      return {
        tables: (await groupTables(control, group.tables, mysqlOptions.typeMap, mysqlOptions.schemas)).filter((t) => recorded.has(targetLabel(t))),
        baseName: binlogBaseName(first.file),
      };
    });
    const start = filePositionOf(startAfter, baseName);
    const byName = new Map(tables.map((t) => [`${t.source.database}.${t.source.name}`, t]));
    const catalog = new SchemaLookups(config);
    const changes = new BinlogChanges(byName, mysqlOptions.typeMap, group.name, {
      reload: (database, table) => catalog.table(database, table),
      targetColumns: (table) => catalog.targetColumns(table),
    });
    let closed = false;
    const applied = new Applied(startAfter);
    const binlog = await BinlogStream.open(config.source.url, { kind: 'file', position: start }, {
      serverId: replicaServerId(config, group), heartbeatSeconds: HEARTBEAT_SECONDS,
    });
    return {
      details: { from: `${start.file}:${start.offset}`, server: binlog.flavor },
      events: () => sourceEvents(binlog, changes, group, startAfter, () => closed, applied),
      // The binlog keeps nothing for a replica: the position stored on the target is all there is.
      acknowledge: (position) => applied.acknowledge(position),
      close: async () => {
        closed = true;
        binlog.close();
        await catalog.close();
      },
    };
  },

  openCatalog: () => undefined,

  readStatus: (config, groups) => onSource(config, async (control) => {
    const end = await binlogEnd(control);
    const [clock] = await control.query('SELECT UTC_TIMESTAMP(6) AS now');
    const files = await binlogFiles(control);
    const retention = await retentionSeconds(control);
    const out = new Map<string, CaptureStatus>();
    const endPosition = binlogPosition(end);
    for (const { config: g, row } of groups) {
      const applied = row?.position ?? null;
      const needed = applied === null ? null : filePositionOf(applied, binlogBaseName(end.file));
      out.set(g.name, {
        appliedPosition: applied === null ? null : formatBinlogPosition(applied),
        sourcePosition: formatBinlogPosition(endPosition),
        lagBytes: needed === null ? null : bytesBetween(files, needed, end),
        slot: null,
        ...(needed === null ? {} : { binlog: { neededFile: needed.file, purged: !files.some((f) => f.file === needed.file), retentionSeconds: retention } }),
        behind: applied === null ? null : applied < endPosition,
      });
    }
    const now = new Date(`${(clock as { now: string }[])[0]?.now ?? ''}Z`);
    return { now: Number.isNaN(now.getTime()) ? new Date() : now, groups: out };
  }),

  mark: (config, groups) => onSource(config, async (control) => {
    // Everything committed so far ends at or before the binlog's end; each group's stream passes it with its next change or heartbeat.
    const end = await binlogEnd(control);
    const position = binlogPosition(end);
    return { positions: new Map(groups.map((g) => [g.name, position])), shown: `${end.file}:${end.offset}` };
  }),
};

/** Runs `body` on a connection of its own to the source, closed after. */
async function onSource<T>(config: FerryConfig, body: (control: mysql.Connection) => Promise<T>): Promise<T> {
  const control = await mysql.createConnection(connectionOptions(config.source.url));
  try {
    return await body(control);
  } finally {
    await control.end().catch(() => undefined);
  }
}

/**
 * The dump's events as source events, in arrays of whatever has been
 * decoded: an array is handed on when the dump has nothing more waiting.
 */
async function* sourceEvents(
  binlog: BinlogStream, changes: BinlogChanges, group: GroupConfig, startAfter: Position, closed: () => boolean, applied: Applied,
): AsyncGenerator<readonly SourceEvent[]> {
  let out: SourceEvent[] = [];
  // The end of the last whole transaction handed on, and how many of `out`'s events it closes.
  let lastCommit = startAfter;
  let whole = 0;
  try {
    for await (const event of binlog) {
      const events = await changes.pushSettled(event);
      for (let i = 0; i < events.length; i++) {
        const e = events[i] as SourceEvent;
        // A dump from a transaction's end shows nothing at or before it, but a heartbeat may name the start itself.
        if (e.kind === 'idle' && e.position <= startAfter) continue;
        out.push(e);
        if (e.kind === 'commit') lastCommit = e.position;
        if (e.kind === 'commit' || e.kind === 'idle') whole = out.length;
      }
      if (out.length > 0 && (binlog.waiting === 0 || out.length >= MAX_EVENTS_PER_ARRAY)) {
        yield out;
        out = [];
        whole = 0;
      }
    }
  } catch (err) {
    // What the stream cannot go on from (a schema change, a value the target cannot take, an event it cannot read):
    // first the whole transactions before it are applied, so that the group stops right at it.
    if (whole > 0) yield out.slice(0, whole);
    await applied.reach(lastCommit, APPLIED_BEFORE_STOP_MS);
    throw purged(err, group) ?? err;
  }
  if (out.length > 0) yield out;
  // A dump never ends by itself: the server went away (a restart ends dumps with an end-of-file packet).
  if (!closed()) throw new FerryError('FERRY_STREAM_ENDED', `group ${group.name}: the source ended the binlog stream`, undefined, { context: { group: group.name } });
}

/** How long a stream that must stop waits for what it delivered before to be applied. */
const APPLIED_BEFORE_STOP_MS = 30_000;

/** Where the target has applied the stream to, as `acknowledge` tells it. */
class Applied {
  private position: Position;
  private wake: (() => void) | undefined;

  constructor(start: Position) {
    this.position = start;
  }

  acknowledge(position: Position): void {
    if (position > this.position) this.position = position;
    this.wake?.();
  }

  /** Resolves once the target has applied up to `position`, or after `ms` all the same. */
  async reach(position: Position, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.position < position && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.wake = () => { clearTimeout(timer); resolve(); };
      });
      this.wake = undefined;
    }
  }
}

/** The server no longer has the binlog file the group must read next (error 1236): the standby cannot catch up. */
function purged(err: unknown, group: GroupConfig): FerryError | undefined {
  // Error 1236 also says "a replica with the same server id connected" or "position past the end": only a missing file is a purge.
  if (!(err instanceof FerryError) || !/error 1236/.test(err.message) || !/purged|could not find first log file/i.test(err.message)) return undefined;
  return new FerryError('FERRY_BINLOG_PURGED', `group ${group.name}: ${err.message}`,
    'the binlog the group needs next was purged on the source: raise binlog_expire_logs_seconds (MySQL) or expire_logs_days / binlog_expire_logs_seconds (MariaDB), then "ferry drop" and "ferry init" the group again',
    { exitCode: 2, context: { group: group.name }, cause: err });
}

/**
 * What a schema change in the binlog makes the stream look up (see
 * BinlogChanges' reload): the table's catalog now, and the target table's
 * columns, each on a connection of its own opened on first use. The
 * target's is not the group's apply session, which the applier uses
 * meanwhile.
 */
class SchemaLookups {
  private source: Promise<mysql.Connection> | undefined;
  private target: Promise<pg.Client> | undefined;

  constructor(private readonly config: FerryConfig) {}

  async table(database: string, name: string): Promise<GroupTable> {
    this.source ??= mysql.createConnection(connectionOptions(this.config.source.url));
    const options = mysqlConfig(this.config);
    const table = await readMySqlTable(await this.source, database, name);
    return { source: table, target: targetTable(table, options.typeMap, options.schemas), relationId: relationIdOf(database, name) };
  }

  async targetColumns(table: GroupTable): Promise<readonly string[] | undefined> {
    this.target ??= connect(this.config.target.url, { role: 'target', applicationName: 'ferry:binlog-schema' });
    return targetColumnNames(await this.target, table);
  }

  async close(): Promise<void> {
    const [source, target] = [this.source, this.target];
    this.source = undefined;
    this.target = undefined;
    await (await source?.catch(() => undefined))?.end().catch(() => undefined);
    await (await target?.catch(() => undefined))?.end().catch(() => undefined);
  }
}

/** How long the source keeps binlogs (`binlog_expire_logs_seconds`, MariaDB's `expire_logs_days` the same in days); null: until purged by hand. */
async function retentionSeconds(control: mysql.Connection): Promise<number | null> {
  const [rows] = await control.query("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('binlog_expire_logs_seconds', 'expire_logs_days')");
  const seconds = binlogRetentionSeconds(new Map((rows as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name.toLowerCase(), String(r.Value)])));
  return seconds > 0 ? seconds : null;
}
