import type pg from 'pg';
import type { SourcePartitions } from '../apply/partition-placement.js';
import type { SourceSchema } from '../apply/schema-evolution.js';
import type { SourceTable } from '../catalog/source-tables.js';
import type { CaptureMode, FerryConfig, GroupConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import type { GroupStatus } from '../observe/status.js';
import type { GroupRow } from '../target/control-schema.js';
import type { CommonPoint, VerifyWindow } from '../verify/common-point.js';
import { triggerCapture } from './pg-trigger/trigger-capture.js';
import { walCapture } from './pg-wal/wal-capture.js';
import { binlogSource } from './mysql-binlog/binlog-source.js';
import { pgStreamSource } from './pg-stream-source.js';
import { FerryError } from '../errors.js';
import type { Position } from './position.js';
import type { ChangeStream } from './source.js';

/**
 * What `ferry run`, `status` and `wait` ask of a group's capture method,
 * whatever database it reads: the change stream, how its positions read,
 * the source's side of the status, and a marker to wait for. Each method
 * opens its own source connections. Reached through `streamSourceOf`.
 */
export interface StreamSource {
  /** As the configuration (`source.capture`) and the target's `ferry.groups.capture` name it. */
  readonly name: CaptureMode;

  /** How a position reads for people, in status, logs and errors (`0/16B3F08`, `tick 42`, `000012:4567`). */
  formatPosition(position: Position): string;

  /** The group's changes from just after `startAfter`, the position stored on the target, in commit order. */
  openStream(start: StreamStart): Promise<ChangeStream>;

  /**
   * The source catalog the applier follows schema changes with (see
   * SchemaEvolution), connected on first use; undefined where the stream
   * itself stops at a schema change it cannot carry (binlog).
   */
  openCatalog(config: FerryConfig, group: GroupConfig): ApplyCatalog | undefined;

  /** What `ferry status` shows of each group beside the target's own record, read at one moment of the source's clock. */
  readStatus(config: FerryConfig, groups: readonly { readonly config: GroupConfig; readonly row: GroupRow | undefined }[]): Promise<CaptureStatusReport>;

  /**
   * Writes a marker that each group's stream carries after everything the
   * source committed before it: `ferry wait` (and a switchover's drain)
   * waits until every group's position is at or past it.
   */
  mark(config: FerryConfig, groups: readonly GroupConfig[], label: string): Promise<Marker>;
}

export interface ApplyCatalog extends SourceSchema, SourcePartitions {
  close(): Promise<void>;
}

/**
 * A capture method of a PostgreSQL source (`wal`, `trigger`): everything
 * the commands ask of the source side of a group over its whole life, from
 * the prerequisites to its removal, on connections the commands open.
 * Commands reach it through `captureOf` and never ask which method it is; a
 * position means something only to the method that made it. Each method
 * lives in its own folder under `source/`.
 */
export interface Capture {
  readonly name: PgCaptureMode;

  /** How a position reads for people, in status, logs and errors (`0/16B3F08`, `tick 42`). */
  formatPosition(position: Position): string;

  /**
   * What keeps the source from capturing `tables` for these groups, each
   * with its fix (`fresh`: groups that have nothing on the source yet), and
   * what is worth a warning all the same. Changes nothing.
   */
  prerequisites(source: pg.Client, tables: readonly SourceTable[], fresh: readonly GroupConfig[]): Promise<Prerequisites>;
  /** Creates or upgrades what the method's groups share on the source; before any group is set up. */
  prepareSource(source: pg.Client): Promise<void>;
  /** Whether the group's capture exists on the source: an interrupted copy then resumes with it. */
  isSetUp(source: pg.Client, group: GroupConfig): Promise<boolean>;
  /**
   * Sets up the group's capture of `tables`, replacing whatever an
   * interrupted attempt left, and returns the snapshot to copy them under:
   * the group's stream starts right after its position.
   */
  setUp(on: SourceSide, tables: readonly SourceTable[]): Promise<CopySnapshot>;
  /** A new snapshot aligned with the group's stream: for a copy that resumes, or tables that join. */
  copySnapshot(on: SourceSide): Promise<CopySnapshot>;
  /** From its return on, every change of `tables` reaches the group's stream, and no transaction writing them straddles that moment. */
  addTables(on: SourceSide, tables: readonly SourceTable[]): Promise<void>;
  /** The group's stream carries no later change of these tables (qualified, quoted). */
  removeTables(on: SourceSide, tables: readonly string[]): Promise<void>;
  /** What the target records of the group's source objects (`ferry.groups.slot_name`, `publication_name`); null where the method has none. */
  sourceObjects(group: GroupConfig): { readonly slot: string | null; readonly publication: string | null };
  /** Removes the group's capture from the source (`ferry drop`, a switchover's retired groups); safe to repeat. */
  removeGroup(source: pg.Client, group: GroupConfig, log: Logger): Promise<void>;
  /** After groups were removed: what the method's groups share on the source goes once none is left. */
  removeShared(source: pg.Client, log: Logger): Promise<void>;

  /** The group's changes from just after `startAfter`, the position stored on the target, in commit order. */
  openStream(start: StreamStart): Promise<ChangeStream>;

  /**
   * Writes a marker that each group's stream carries after everything the
   * source committed before it: `ferry wait` (and a switchover's drain)
   * waits until every group's position is at or past it.
   */
  writeMarker(source: pg.Client, groups: readonly GroupConfig[], label: string): Promise<Marker>;

  /** What `ferry status` shows of each group beside the target's own record, read at one moment of the source's clock. */
  status(source: pg.Client, groups: readonly { readonly config: GroupConfig; readonly row: GroupRow | undefined }[]): Promise<CaptureStatusReport>;

  /** Where the source stands in the snapshot of `source`'s open transaction, for a verify report (`0/16B3F08`, `txid snapshot …`). */
  sourcePoint(source: pg.Client): Promise<string>;
  /**
   * `ferry verify` while groups are applied: a source snapshot, a target
   * snapshot taken once every running group has applied past it, and the
   * changes committed between the two per table (see docs/verify.md).
   */
  verifyWindow(window: VerifyWindow): Promise<CommonPoint>;

  /** Records a message in `group`'s stream, inside the client's open transaction, at its place among that transaction's changes. */
  recordMessage(client: pg.Client, group: string, prefix: string, content: string): Promise<void>;
  /**
   * The same as a PL/pgSQL statement, for functions Ferry installs in the
   * source (DDL capture): it records `ferry_content` under `ferry_prefix` in
   * the stream of group `ferry_group` (text variables the function declares).
   */
  readonly recordMessageSql: string;
  /** Whether messages reach the stream from a source of this version (server_version_num). */
  carriesMessages(version: number): boolean;
}

/** A group's side of the source, for the setup steps. */
export interface SourceSide {
  readonly url: string;
  readonly source: pg.Client;
  readonly group: GroupConfig;
  /** The source's server_version_num. */
  readonly serverVersion: number;
  readonly log: Logger;
}

/** Where and how a group's stream starts (see Capture.openStream). */
export interface StreamStart {
  readonly config: FerryConfig;
  readonly group: GroupConfig;
  readonly startAfter: Position;
  /** The group's apply session, which holds the group: what the target last recorded of the source's tables is read with it. */
  readonly target: pg.Client;
  /** Values may come in their types' binary format where the method and the columns allow it (apply.binary_transfer, until the target refuses one). */
  readonly binary: boolean;
  readonly log: Logger;
}

/** A snapshot of the source to copy under, and the position it lines up with. Lives until `close`. */
export interface CopySnapshot {
  /** For `SET TRANSACTION SNAPSHOT` in each copy connection. */
  readonly snapshotName: string;
  /** The snapshot shows every transaction up to here and none after: the stream delivers exactly the others. */
  readonly position: Position;
  close(): Promise<void>;
}

/** Where a marker lies in each group's stream. */
export interface Marker {
  /** Per group; a group whose stream cannot carry it (nothing set up on the source) is missing. */
  readonly positions: ReadonlyMap<string, Position>;
  /** For people: `0/16B3F08`, `tick 42 (main), tick 7 (audit)`. */
  readonly shown: string;
}

/** A group's status as its capture method sees it; the lag in seconds follows from `behind`. */
export type CaptureStatus = Pick<GroupStatus, 'appliedPosition' | 'sourcePosition' | 'lagBytes' | 'slot' | 'queue' | 'batchInParts' | 'binlog'>
  & Partial<Pick<GroupStatus, 'ddlCapture'>> & {
  /** The source has changes the target lacks (the lag counts from the target's caught-up time); null: cannot tell. */
  readonly behind: boolean | null;
};

export interface CaptureStatusReport {
  /** The source's clock when the positions were read. */
  readonly now: Date;
  readonly groups: ReadonlyMap<string, CaptureStatus>;
}

export interface Prerequisites {
  readonly problems: readonly string[];
  readonly warnings: readonly { readonly code: string; readonly message: string }[];
}

export type PgCaptureMode = Exclude<CaptureMode, 'binlog'>;

/** Made on first use: the methods' modules import this one, so their values may not be there yet while it loads. */
let registry: Readonly<Record<PgCaptureMode, Capture>> | undefined;
let streamSources: Readonly<Record<CaptureMode, StreamSource>> | undefined;

/** The capture method of a PostgreSQL source; a MySQL source's commands never ask for one (see source-database.ts). */
export function captureOf(mode: CaptureMode): Capture {
  if (mode === 'binlog') {
    throw new FerryError('FERRY_SOURCE_UNSUPPORTED', 'this needs a PostgreSQL source; the configured source is MySQL or MariaDB (capture binlog)',
      'see docs/mysql.md for what a MySQL source supports', { exitCode: 2 });
  }
  return allCaptures()[mode];
}

/** Every capture method of PostgreSQL sources by name: code installed in the source serves groups of any of them. */
export function allCaptures(): Readonly<Record<PgCaptureMode, Capture>> {
  return registry ??= { wal: walCapture, trigger: triggerCapture };
}

/** What run, status and wait use of a capture method, for every method. */
export function streamSourceOf(mode: CaptureMode): StreamSource {
  streamSources ??= { wal: pgStreamSource(walCapture), trigger: pgStreamSource(triggerCapture), binlog: binlogSource };
  return streamSources[mode];
}
