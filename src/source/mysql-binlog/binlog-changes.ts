import type { Column, PgTimestamp, Relation, ReplicaIdentity, Tuple } from '../../change/change.js';
import { FerryError } from '../../errors.js';
import type { Position } from '../position.js';
import type { SourceEvent } from '../source.js';
import type { BinlogEvent } from './binlog-decoder.js';
import type { FilePosition } from './binlog-position.js';
import { binlogPosition, formatBinlogPosition } from './binlog-stream-position.js';
import { TransactionAssembler, type BinlogTransaction, type TransactionChange } from './binlog-transactions.js';
import { statementEffect, type TableName } from './ddl-statement.js';
import { targetLabel, type GroupTable } from './group-table.js';
import { mapRow } from './map-row.js';
import { rowKeyColumns } from './mysql-catalog.js';
import type { RowImage } from './rows-event.js';
import type { TableMap } from './table-map.js';
import { tableMapDifferences } from './table-map-check.js';
import type { TypeMapOptions } from './type-map.js';

/** How BinlogChanges reports idleness and follows schema changes. */
export interface BinlogChangesOptions {
  /**
   * Transactions of other tables give an `idle` at most this often (ms);
   * 0: after each one. Heartbeats always give one. Default 1000.
   */
  readonly idleIntervalMs?: number;
  /** The clock for `idleIntervalMs` (ms). */
  readonly now?: () => number;
  /** Re-reads a group table's catalog (and its target description) now. */
  readonly reload?: (database: string, table: string) => Promise<GroupTable>;
  /** The column names the target table has now, or undefined when it does not exist. */
  readonly targetColumns?: (table: GroupTable) => Promise<readonly string[] | undefined>;
}

/** A schema change or a TABLE_MAP that differs from the catalog: `settle` it, then push the same event again. */
export class ReloadNeeded {
  constructor(
    readonly database: string,
    readonly table: string,
    /** What the binlog says: the statement, or the table map's columns. */
    readonly cause:
      | {
          readonly kind: 'statement'; readonly sql: string; /** `ALTER TABLE`, `DROP TABLE` … */ readonly verb: string;
          /** The table's rows may have been replaced too (ddl-statement.ts): no reload settles that. */
          readonly replacesRows: boolean;
        }
      | { readonly kind: 'table-map'; readonly map: TableMap },
    readonly position: FilePosition,
  ) {}
}

/** PostgreSQL's epoch, 2000-01-01 00:00 UTC, in seconds after Unix's. */
const PG_EPOCH_SECONDS = 946_684_800n;
const SHOWN_SQL = 200;
const TWO_32 = 2 ** 32;
const DEFAULT_IDLE_INTERVAL_MS = 1000;

export interface TableDescription {
  readonly relation: Relation;
  /** Indexes of the identity columns (every column for REPLICA IDENTITY FULL). */
  readonly identity: readonly number[];
}

/**
 * Turns a binlog's decoded events into the change model the rest of Ferry
 * consumes, for one group: whole transactions of the group's tables as
 * begin, relation (before a table's first change in this stream, and again
 * when its description changes), insert/update/delete/truncate, commit;
 * transactions of other tables as `idle` (the group's position moves on
 * while only other tables are busy); heartbeats between transactions as
 * `idle`.
 *
 * A schema change of a group table stops the stream with
 * FERRY_SCHEMA_CHANGED, unless the caller can show the change was followed
 * (only a change in place: ALTER TABLE, CREATE/DROP INDEX; never one after
 * which the table may hold other rows: DROP, RENAME, CREATE, dropped or
 * exchanged partitions):
 * with `reload` (and `targetColumns`), `push` answers such an event with a
 * `ReloadNeeded` instead of events, leaving the event unconsumed; the caller
 * awaits `settle(needed)` (which re-reads the table's catalog, compares it
 * with the binlog and the target, and either takes the new description or
 * throws) and pushes the same event again. `pushSettled` does both.
 * Every TABLE_MAP of a group table is compared with the catalog the rows
 * are mapped by, so rows are never mapped by a description they do not
 * have, also after a restart from before a schema change.
 */
export class BinlogChanges {
  private readonly assembler = new TransactionAssembler();
  /** Group tables by lower-cased `database.table`: names in statements may be spelled in another case. */
  private readonly tables = new Map<string, GroupTable>();
  /**
   * The same by their exact names, for what names a table exactly (a
   * TABLE_MAP; a TRUNCATE, which must not empty another table): on a server
   * with lower_case_table_names = 0, `Orders` and `orders` are two tables.
   */
  private readonly exact = new Map<string, GroupTable>();
  /** Table maps found to agree with the description they were checked against. */
  private readonly matched = new WeakMap<TableMap, GroupTable>();
  private readonly described = new Map<number, TableDescription>();
  /** Tables whose description was sent in this stream (again after a change). */
  private readonly sent = new Set<number>();
  private file = '';
  /** Where the stream is in `file` (after the last event with a position). */
  private offset = 0;
  /** The furthest position given as a commit or idle: idle never goes back. */
  private last: Position | undefined;
  private lastIdleAt = Number.NEGATIVE_INFINITY;
  /** The event being settled and the tables settled for it: pushed again, it passes for them. */
  private settled: { readonly event: BinlogEvent; readonly tables: Set<string> } | undefined;
  private readonly idleIntervalMs: number;
  private readonly now: () => number;

  constructor(
    tables: ReadonlyMap<string, GroupTable>,
    private readonly options: TypeMapOptions,
    private readonly group: string,
    private readonly changes: BinlogChangesOptions = {},
  ) {
    for (const table of tables.values()) this.keep(table);
    this.idleIntervalMs = changes.idleIntervalMs ?? DEFAULT_IDLE_INTERVAL_MS;
    this.now = changes.now ?? Date.now;
  }

  /** The binlog file the stream is in (from its rotations). */
  get currentFile(): string {
    return this.file;
  }

  /** True between a transaction's first event and its last. */
  get inTransaction(): boolean {
    return this.assembler.inTransaction;
  }

  /**
   * The events `event` completes, in order. A schema change of a group table
   * or a TABLE_MAP that differs from its catalog throws FERRY_SCHEMA_CHANGED,
   * or, when the options can reload, returns a ReloadNeeded and leaves the
   * event unconsumed.
   */
  push(event: BinlogEvent): readonly SourceEvent[] | ReloadNeeded {
    const needed = this.check(event, this.settled?.event === event ? this.settled.tables : new Set());
    if (needed) {
      if (!this.changes.reload || (needed.cause.kind === 'statement' && needed.cause.replacesRows)) throw this.schemaChanged(needed);
      return needed;
    }
    this.settled = undefined;
    if (event.next.file !== '' && event.type !== 'heartbeat') {
      this.file = event.next.file;
      this.offset = event.next.offset;
    }
    if (event.type === 'heartbeat') return this.heartbeat(event);
    const t = this.assembler.push(event);
    return t ? this.transaction(t) : [];
  }

  /** `push`, settling what it needs first. */
  async pushSettled(event: BinlogEvent): Promise<readonly SourceEvent[]> {
    for (;;) {
      const out = this.push(event);
      if (!(out instanceof ReloadNeeded)) return out;
      await this.settle(out, event);
    }
  }

  /**
   * Re-reads the table of `needed`: when its catalog agrees with the binlog
   * (the table map, or for a statement the catalog as it is now) and the
   * target table has every column it has, the table is described anew
   * before its next change and `event` (pushed again) passes; otherwise
   * FERRY_SCHEMA_CHANGED.
   */
  async settle(needed: ReloadNeeded, event: BinlogEvent): Promise<void> {
    const { reload, targetColumns } = this.changes;
    if (!reload || (needed.cause.kind === 'statement' && needed.cause.replacesRows)) throw this.schemaChanged(needed);
    const key = keyOf(needed.database, needed.table);
    const current = this.tables.get(key);
    if (!current) throw this.schemaChanged(needed);
    let fresh: GroupTable;
    try {
      fresh = await reload(current.source.database, current.source.name);
    } catch (err) {
      if (err instanceof FerryError && err.code === 'FERRY_MYSQL_NO_TABLE') throw this.schemaChanged(needed, ['the table no longer exists on the source']);
      throw err;
    }
    if (needed.cause.kind === 'table-map') {
      const differences = tableMapDifferences(needed.cause.map, fresh.source);
      if (differences.length > 0) {
        // Rows from before columns were added at the end (the stream restarted behind an ADD COLUMN): the catalog's first columns describe them.
        // Only by names: without them (binlog_row_metadata below FULL) a column added in the middle would shift values into its neighbours.
        const named = needed.cause.map.columns.every((c) => c.name !== undefined);
        const before = named ? leadingColumns(fresh, needed.cause.map.columns.length) : undefined;
        if (!before || tableMapDifferences(needed.cause.map, before.source).length > 0) throw this.schemaChanged(needed, differences);
        fresh = before;
      }
    }
    const same = sameDescription(current, fresh);
    if (!same) {
      const names = await targetColumns?.(fresh);
      const missing = names === undefined ? undefined : fresh.target.columns.map((c) => c.name).filter((n) => !names.includes(n));
      if (missing === undefined || missing.length > 0) {
        const label = targetLabel(fresh);
        throw this.schemaChanged(needed, [missing === undefined
          ? `the target table ${label} ${names === undefined && targetColumns ? 'does not exist' : 'was not checked'}`
          : `the target table ${label} lacks column(s) ${missing.join(', ')}`]);
      }
      this.keep(fresh);
      this.described.delete(fresh.relationId);
      this.sent.delete(fresh.relationId);
    }
    if (this.settled?.event !== event) this.settled = { event, tables: new Set() };
    this.settled.tables.add(key);
  }

  /** The first schema change or differing TABLE_MAP of a group table that `event` (or an event inside it) holds. */
  private check(event: BinlogEvent, settled: ReadonlySet<string>): ReloadNeeded | undefined {
    switch (event.type) {
      case 'table-map': {
        const table = this.exact.get(exactKey(event.table.schema, event.table.table));
        if (!table || settled.has(keyOf(table.source.database, table.source.name))) return undefined;
        // The decoder gives the same map for the same bytes: checked once against each description of the table.
        if (this.matched.get(event.table) === table) return undefined;
        if (tableMapDifferences(event.table, table.source).length > 0) {
          return new ReloadNeeded(table.source.database, table.source.name, { kind: 'table-map', map: event.table }, event.position);
        }
        this.matched.set(event.table, table);
        return undefined;
      }
      case 'query': {
        if (event.role !== 'statement') return undefined;
        const effect = statementEffect(event.query.sql, event.query.database, event.query.sqlMode);
        if (effect.kind === 'dml') {
          this.checkStatementRows(effect.tables, event.query.sql, event.position);
          return undefined;
        }
        if (effect.kind !== 'schema') return undefined;
        const named = [
          ...effect.tables.map((t) => this.tables.get(keyOf(t.database, t.table))),
          ...[...this.tables.values()].filter((t) => effect.databases.some((d) => d.toLowerCase() === t.source.database.toLowerCase())),
        ].find((t) => t !== undefined && !settled.has(keyOf(t.source.database, t.source.name)));
        return named ? new ReloadNeeded(named.source.database, named.source.name, { kind: 'statement', sql: event.query.sql, verb: effect.verb, replacesRows: effect.replacesRows }, event.position) : undefined;
      }
      case 'transaction-payload':
        for (const inner of event.events) {
          const needed = this.check(inner, settled);
          if (needed) return needed;
        }
        return undefined;
      default:
        return undefined;
    }
  }

  /** Rows written by a statement logged as text never reach the stream as rows: a group table's would be lost. */
  private checkStatementRows(names: readonly TableName[], sql: string, at: FilePosition): void {
    const table = names.map((n) => this.tables.get(keyOf(n.database, n.table))).find((t) => t !== undefined);
    if (!table) return;
    const where = formatBinlogPosition(binlogPosition(at));
    const text = sql.trim().replace(/\s+/g, ' ');
    throw new FerryError('FERRY_BINLOG_STATEMENT',
      `group ${this.group}, table ${label(table)}, binlog position ${where}: rows were changed by a statement the binlog holds as text, not as rows `
      + `(the writing session used binlog_format STATEMENT or MIXED): ${text.length > SHOWN_SQL ? `${text.slice(0, SHOWN_SQL)}…` : text}`,
      `keep binlog_format=ROW for every session that writes ${label(table)}, then re-copy it with "ferry resync -c <config> --table ${label(table)}"`,
      { context: { group: this.group, table: label(table), position: where } });
  }

  private heartbeat(event: Extract<BinlogEvent, { type: 'heartbeat' }>): SourceEvent[] {
    // Inside a transaction the server is between two of its events: nothing is done up to there.
    if (event.offset === undefined || event.offset === 0 || this.assembler.inTransaction || event.file === '') return [];
    // The heartbeat's offset is 32 bits: past 4 GiB of a file, its high bits are where the stream is.
    let offset = event.offset;
    if (event.file === this.file && this.offset >= TWO_32) {
      offset += Math.floor(this.offset / TWO_32) * TWO_32;
      if (offset < this.offset) offset += TWO_32;
    }
    const idle = this.idle({ file: event.file, offset });
    return idle ? [idle] : [];
  }

  private idle(at: FilePosition): SourceEvent | undefined {
    const position = binlogPosition(at);
    if (this.last !== undefined && position <= this.last) return undefined;
    this.last = position;
    this.lastIdleAt = this.now();
    return { kind: 'idle', position };
  }

  private transaction(t: BinlogTransaction): SourceEvent[] {
    const out: SourceEvent[] = [];
    for (const change of t.changes) this.change(t, change, out);
    if (out.length === 0) {
      if (this.now() - this.lastIdleAt < this.idleIntervalMs) return out;
      const idle = this.idle(t.end);
      return idle ? [idle] : [];
    }
    const commitTime = pgTimestampOfSeconds(t.timestamp);
    const position = binlogPosition(t.end);
    this.last = position;
    this.lastIdleAt = this.now();
    const xidSource = t.mariaDbGtid?.seq ?? t.mysqlGtid?.gno ?? t.xid ?? 0n;
    return [
      { kind: 'begin', xid: Number(BigInt.asUintN(32, xidSource)), commitTime, commitPosition: binlogPosition(t.begin) },
      ...out,
      { kind: 'commit', position, commitTime },
    ];
  }

  private keep(table: GroupTable): void {
    this.tables.set(keyOf(table.source.database, table.source.name), table);
    this.exact.set(exactKey(table.source.database, table.source.name), table);
  }

  private change(t: BinlogTransaction, change: TransactionChange, out: SourceEvent[]): void {
    if (change.kind === 'statement') {
      const effect = statementEffect(change.query.sql, change.query.database, change.query.sqlMode);
      if (effect.kind !== 'truncate') return;
      const table = this.exact.get(exactKey(effect.table.database, effect.table.table));
      if (!table) return;
      this.describe(table, out);
      out.push({ kind: 'truncate', relationIds: [table.relationId], cascade: false, restartIdentity: false });
      return;
    }
    const table = this.exact.get(exactKey(change.table.schema, change.table.table));
    if (!table) return;
    const described = this.describe(table, out);
    const { relationId } = table;
    const full = described.relation.replicaIdentity === 'full';
    for (const row of change.rows.rows) {
      switch (change.rows.kind) {
        case 'insert':
          out.push({ kind: 'insert', relationId, values: this.map(table, row.after, t, change.position) });
          break;
        case 'delete':
          out.push({ kind: 'delete', relationId, old: this.map(table, row.before, t, change.position), oldIsKeyOnly: !full });
          break;
        case 'update': {
          const values = this.map(table, row.after, t, change.position);
          const old = this.map(table, row.before, t, change.position);
          // The old key only when the key changed (as pgoutput sends it); the whole old row to find a row without one.
          const keyChanged = full || described.identity.some((i) => values[i] !== undefined && values[i] !== old[i]);
          out.push(keyChanged
            ? { kind: 'update', relationId, old, oldIsKeyOnly: !full, values }
            : { kind: 'update', relationId, oldIsKeyOnly: false, values });
          break;
        }
      }
    }
  }

  private map(table: GroupTable, image: RowImage | undefined, t: BinlogTransaction, at: FilePosition): Tuple {
    if (!image) throw this.error('FERRY_BINLOG_ROWS', table, `a row event of ${label(table)} lacks a row image`, at);
    try {
      return mapRow(table.source, table.target, image, this.options);
    } catch (err) {
      if (err instanceof FerryError) {
        throw new FerryError(err.code, `${err.message} (group ${this.group}, binlog position ${formatBinlogPosition(binlogPosition(at))}, transaction ${t.gtid ?? formatBinlogPosition(binlogPosition(t.begin))})`,
          err.hint, { exitCode: err.exitCode, context: { ...err.context, group: this.group, table: label(table), position: formatBinlogPosition(binlogPosition(at)) }, cause: err });
      }
      throw err;
    }
  }

  /** The table's description, sent before its first change in this stream and after it changed. */
  private describe(table: GroupTable, out: SourceEvent[]): TableDescription {
    let described = this.described.get(table.relationId);
    if (!described) {
      described = describeTable(table);
      this.described.set(table.relationId, described);
    }
    if (!this.sent.has(table.relationId)) {
      this.sent.add(table.relationId);
      out.push({ kind: 'relation', relation: described.relation });
    }
    return described;
  }

  private schemaChanged(needed: ReloadNeeded, details: readonly string[] = []): FerryError {
    const table = this.tables.get(keyOf(needed.database, needed.table));
    const where = formatBinlogPosition(binlogPosition(needed.position));
    const name = `${needed.database}.${needed.table}`;
    const target = table ? targetLabel(table) : name;
    let what: string;
    let differences = details;
    let fix = `change the target table ${target} the same way (an equivalent PostgreSQL ALTER TABLE), then run \`ferry run\` again: `
      + 'the stream then finds the target matching and goes on';
    if (needed.cause.kind === 'statement') {
      const sql = needed.cause.sql.trim().replace(/\s+/g, ' ');
      what = `a schema change of ${name}: ${sql.length > SHOWN_SQL ? `${sql.slice(0, SHOWN_SQL)}…` : sql}`;
      if (needed.cause.replacesRows) {
        fix = `the table's rows may no longer be the ones the target holds: if ${name} is gone for good, remove it from group ${this.group}; `
          + `otherwise give the target table ${target} the table's new columns and copy it again ("ferry resync -c <config> --table ${name}")`;
      }
    } else {
      if (differences.length === 0 && table) differences = tableMapDifferences(needed.cause.map, table.source);
      what = `the binlog's description of ${name} differs from the catalog Ferry maps its rows by`;
    }
    return new FerryError('FERRY_SCHEMA_CHANGED',
      `group ${this.group}, table ${name}, binlog position ${where}: ${what}${differences.length > 0 ? ` (${differences.join('; ')})` : ''}`,
      fix,
      { context: { group: this.group, table: name, position: where } });
  }

  private error(code: string, table: GroupTable, message: string, at: FilePosition): FerryError {
    const where = formatBinlogPosition(binlogPosition(at));
    return new FerryError(code, `group ${this.group}, binlog position ${where}: ${message}`, undefined,
      { context: { group: this.group, table: label(table), position: where } });
  }
}

/**
 * The table as it was before columns were added at its end: its first
 * `count` columns, with the keys and indexes over them. Undefined when it
 * has no more columns than that, or a key needs a later column.
 */
function leadingColumns(table: GroupTable, count: number): GroupTable | undefined {
  const { source, target } = table;
  if (count >= source.columns.length) return undefined;
  const kept = new Set(source.columns.slice(0, count).map((c) => c.name));
  const within = (columns: readonly string[]) => columns.every((c) => kept.has(c));
  if (!within(source.primaryKey)) return undefined;
  return {
    relationId: table.relationId,
    source: {
      ...source,
      columns: source.columns.slice(0, count),
      uniqueKeys: source.uniqueKeys.filter((k) => within(k.columns)),
      indexes: source.indexes.filter((k) => within(k.columns)),
    },
    target: { ...target, columns: target.columns.slice(0, count) },
  };
}

function exactKey(database: string, table: string): string {
  return `${database}.${table}`;
}

function keyOf(database: string, table: string): string {
  return `${database}.${table}`.toLowerCase();
}

function label(table: GroupTable): string {
  return `${table.source.database}.${table.source.name}`;
}

/** Seconds since 1970 (a binlog event's timestamp) on PostgreSQL's clock. */
export function pgTimestampOfSeconds(seconds: number): PgTimestamp {
  return (BigInt(Math.trunc(seconds)) - PG_EPOCH_SECONDS) * 1_000_000n;
}

/**
 * A group table as the change model describes it: the target's schema,
 * name and columns (in source order, values as text), the primary key as
 * its identity, else the first unique key over NOT NULL columns, else
 * every column (REPLICA IDENTITY FULL).
 */
export function describeTable(table: GroupTable): TableDescription {
  const { source, target } = table;
  const keyNames = rowKeyColumns(source);
  const replicaIdentity: ReplicaIdentity = source.primaryKey.length > 0 ? 'default' : keyNames.length > 0 ? 'index' : 'full';
  const keys = new Set(keyNames);
  const columns: Column[] = source.columns.map((c, i) => ({
    name: target.columns[i]?.name ?? c.name, typeOid: 0, typeMod: -1, isKey: keys.has(c.name),
  }));
  const identity = replicaIdentity === 'full' ? columns.map((_, i) => i) : columns.flatMap((c, i) => (c.isKey ? [i] : []));
  return {
    relation: { relationId: table.relationId, schema: target.schema, table: target.name, replicaIdentity, columns },
    identity,
  };
}

/** Same columns (names, types), same keys, same target: nothing to describe anew. */
function sameDescription(a: GroupTable, b: GroupTable): boolean {
  const x = describeTable(a).relation;
  const y = describeTable(b).relation;
  return JSON.stringify([x, a.source.columns, a.target.columns]) === JSON.stringify([y, b.source.columns, b.target.columns]);
}
