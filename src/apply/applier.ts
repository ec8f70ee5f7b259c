import type pg from 'pg';
import type { PgTimestamp, Relation, Tuple } from '../change/change.js';
import { FerryError } from '../errors.js';
import { sql } from '../target/control-sql.js';
import type { Logger } from '../observe/logger.js';
import type { Position } from '../source/position.js';
import { pgTimestampToDate } from '../change/pg-timestamp.js';
import type { Batch, BatchChange } from './batch.js';
import { deleteStatement, insertStatement, needsReinsert, truncateStatements, updateStatement, type Statement } from './row-statements.js';
import type { TargetRelation } from './target-relation.js';
import { bindPlaced, type SourcePartitions } from './partition-placement.js';
import { fold, NotCompactable, TableNet, type InsertRow } from './compaction.js';
import { setStatements, type SetStatement } from './set-statements.js';
import { FULL_SET_ROWS, FullNet, fullStatements, settable } from './full-identity.js';
import { copyRows } from './copy-rows.js';
import { displayValue } from '../pg/binary-format.js';
import { isRetryable } from '../run/transient.js';
import { encodeHeld, type HeldChange } from '../change/held-change.js';
import type { SchemaEvolution } from './schema-evolution.js';
import { DDL_PREFIX, decodeDdl, type DdlMessage } from '../change/ddl-message.js';
import { CAPTURED_DDL_PREFIX, decodeCapturedDdl, type CapturedDdl } from '../change/captured-ddl.js';
import type { DefinitionReconciler } from './definition-reconcile.js';

/** A schema change in the stream addressed to this group: a `ferry ddl` statement, or a definition captured by the source's event trigger. */
type StreamDdl = { readonly kind: 'statement'; readonly ddl: DdlMessage } | { readonly kind: 'definition'; readonly ddl: CapturedDdl };

export interface ApplyResult {
  /** Set when the batch committed: everything up to here is on the target. */
  readonly committed?: Position;
  /** How the batch was written, when it wrote anything: for metrics. */
  readonly mode?: 'set_based' | 'in_order';
}

interface Pending {
  readonly promise: Promise<pg.QueryResult>;
  readonly describe: () => string;
  /** 'one': a single row must be touched (row by row); a number: exactly that many (set-based); 'position': the position statement. */
  readonly expect?: 'one' | 'position' | number;
  /** The target table(s) written, for errors and logs. */
  readonly table?: string;
  readonly truncate?: boolean;
}

/** A set-based plan: statements sent pipelined, and inserts written with COPY (which waits for what is in flight). */
type SetStep =
  | { readonly kind: 'send'; readonly send: () => Pending[] }
  | { readonly kind: 'copy'; readonly rel: TargetRelation; readonly rows: readonly InsertRow[] };

/** SQLSTATE of a binary value the target's type cannot read. */
const INVALID_BINARY_REPRESENTATION = '22P03';
/** SQLSTATE of a TRUNCATE of a table that another table's foreign key references. */
const FEATURE_NOT_SUPPORTED = '0A000';

/** A set-based batch touched a different number of rows than it should: replay it in order to find out why. */
class RowCountMismatch extends Error {
  constructor(message: string, readonly table: string | undefined) {
    super(message);
  }
}

/** Why a batch is replayed change by change in source order, and on which table. */
interface InOrderReason {
  readonly reason: string;
  readonly table?: string;
}

/** How the batches of one target transaction were applied. */
interface ApplyCounts {
  setBased: number;
  inOrder: number;
}

/**
 * Writes batches into the target in source order inside one target
 * transaction that spans the batch (or the parts of a large source
 * transaction), and stores the group's position in that same transaction:
 * data and position commit together or not at all.
 */
export class Applier {
  /** Latest description of each source relation; bound to its target table on first use. */
  private readonly described = new Map<number, Relation>();
  private readonly relations = new Map<number, TargetRelation>();
  private readonly statementNames = new Map<string, string>();
  /** Prepared statements made on this connection; names are never reused (the driver remembers each). */
  private prepared = 0;
  private open = false;
  private rowsInTransaction = 0;
  /** Set-based apply reorders writes across tables, which is only safe without foreign-key and trigger checks. */
  private setBased = false;
  /** Batches of the open target transaction, by how they were applied; stored with its position. */
  private readonly counts: ApplyCounts = { setBased: 0, inOrder: 0 };

  constructor(
    private readonly client: pg.Client,
    private readonly group: string,
    private readonly log: Logger,
    /** How errors name a position: as the group's capture shows it. */
    private readonly formatPosition: (position: Position) => string,
    /** Source catalog facts for partitions the target lacks; without them such a relation is a missing table. */
    private readonly partitions?: SourcePartitions,
    /** Follows the source's column changes on the target; without it a column the target lacks is an error. */
    private readonly schema?: SchemaEvolution,
    /** Brings tables in line with definitions captured with their DDL (`source.ddl: capture`); without it such messages are an error. */
    private readonly definitions?: DefinitionReconciler,
  ) {}

  /**
   * Applies with the triggers and foreign keys of a replica, where this role
   * may say so. A lock that another target session holds longer than
   * `lockTimeoutMs` fails the batch, which is then retried, rather than
   * hanging without a word.
   */
  async prepareSession(lockTimeoutMs: number): Promise<void> {
    await this.client.query(`SET lock_timeout = ${Math.trunc(lockTimeoutMs)}`);
    try {
      await this.client.query('SET session_replication_role = replica');
      this.setBased = true;
    } catch (err) {
      this.log.warn({ err: (err as Error).message },
        'cannot set session_replication_role = replica on the target: triggers and foreign keys fire, and changes are applied one by one in source order');
    }
  }

  async apply(batch: Batch, position: Position): Promise<ApplyResult> {
    if (batch.changes.length === 0 && !batch.commit && !batch.held) return {};
    await this.checkReadable(batch, position);
    if (!batch.commit && !this.open && !batch.held && batch.changes.every((c) => c.kind === 'relation' || (c.kind === 'message' && !this.ddlFor(c)))) {
      // Descriptions alone (from a transaction skipped as already applied) need no target transaction.
      for (const c of batch.changes) if (c.kind === 'relation') this.describe(c.relation);
      return {};
    }
    const pending: Pending[] = [];
    if (!this.open) {
      pending.push(this.send({ text: 'BEGIN', values: [] }, () => 'BEGIN'));
      this.open = true;
      this.rowsInTransaction = 0;
      this.counts.setBased = 0;
      this.counts.inOrder = 0;
    }
    if (batch.held) pending.push(this.hold(batch.held));
    const planned = this.setBased ? await this.planSet(batch, pending, position) : undefined;
    const inOrderBefore = this.counts.inOrder;
    if (Array.isArray(planned)) {
      pending.push(this.send({ text: 'SAVEPOINT ferry_batch', values: [] }, () => 'SAVEPOINT'));
      try {
        for (const step of planned) {
          if (step.kind === 'send') {
            pending.push(...step.send());
            continue;
          }
          await this.settle(pending.splice(0), position);
          const copied = await copyRows(this.client, step.rel, step.rows).catch((err: unknown) => {
            const what = `COPY into ${step.rel.label} failed on the target: ${(err as Error).message}`;
            if (!isRetryable(err)) throw new RowCountMismatch(what, step.rel.label);
            throw new FerryError('FERRY_APPLY', what, undefined,
              { context: { group: this.group, table: step.rel.label, position: this.formatPosition(position) }, cause: err });
          });
          if (copied !== step.rows.length) throw new RowCountMismatch(`COPY into ${step.rel.label} wrote ${copied} of ${step.rows.length} rows`, step.rel.label);
        }
        // Released, or the parts of a huge source transaction would nest a savepoint each.
        pending.push(this.send({ text: 'RELEASE SAVEPOINT ferry_batch', values: [] }, () => 'RELEASE SAVEPOINT'));
        await this.settle(pending.splice(0), position);
        this.counts.setBased++;
      } catch (err) {
        // A lost connection, deadlock or lock timeout is retried from the committed position, not replayed here.
        if (isRetryable(err)) throw err;
        // Compaction is exact, but a unique index on other columns can object
        // to the order set-based writes take: replay this batch as it happened.
        // Without the savepoint (a statement before it failed) the batch cannot be replayed here: the first failure is the news.
        await this.client.query('ROLLBACK TO SAVEPOINT ferry_batch').catch(() => { throw err; });
        await this.client.query('RELEASE SAVEPOINT ferry_batch');
        this.reportInOrder(batch, position, {
          reason: (err as Error).message,
          table: err instanceof RowCountMismatch ? err.table : err instanceof FerryError ? err.context.table : undefined,
        });
        await this.applyInOrder(batch, pending, position);
      }
    } else {
      if (planned) this.reportInOrder(batch, position, planned);
      else this.counts.inOrder++;
      await this.applyInOrder(batch, pending, position);
    }
    this.rowsInTransaction += batch.rows;
    const mode = this.counts.inOrder > inOrderBefore ? 'in_order' : 'set_based';
    for (const record of this.schema?.takeRecords() ?? []) {
      pending.push({ promise: this.query(record.text, record.values), describe: () => `recording the columns of ${record.table}`, table: record.table });
    }
    if (!batch.commit) {
      await this.settle(pending, position);
      return { mode };
    }
    const commitTime = batch.commit.commitTime === 0n ? null : pgTimestampToDate(batch.commit.commitTime).toISOString();
    const part = batch.commit.part;
    const advance = this.client.query(sql.advance, [this.group, batch.commit.position, commitTime, this.rowsInTransaction,
      batch.commit.transactions, this.counts.setBased, this.counts.inOrder, part?.events.toString() ?? null, part?.total.toString() ?? null]);
    pending.push({ promise: advance, describe: () => 'storing the position', expect: 'position' });
    pending.push(this.send({ text: 'COMMIT', values: [] }, () => 'COMMIT'));
    try {
      await this.settle(pending, position);
    } finally {
      this.open = false;
    }
    return { committed: batch.commit.position, mode };
  }

  /**
   * A change that could not be read: its table is copied again, before
   * anything of this batch commits (see SchemaEvolution.copyAgain).
   */
  private async checkReadable(batch: Batch, position: Position): Promise<void> {
    const changes = batch.changes;
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i] as BatchChange;
      if (change.kind !== 'unreadable') continue;
      const { relation } = change;
      if (!this.schema) {
        throw new FerryError('FERRY_ROWS_UNREADABLE', `a change of ${relation.schema}.${relation.table} cannot be read (${change.reason}) and this applier cannot copy the table again`,
          `re-copy it with "ferry resync -c <config> --table ${relation.schema}.${relation.table}"`,
          { context: { group: this.group, table: `${relation.schema}.${relation.table}`, position: this.formatPosition(position) } });
      }
      await this.schema.copyAgain(relation, change.reason, position);
    }
  }

  /** A batch that set-based apply could not take is worth knowing about: it is slower, and says something about the table. */
  private reportInOrder(batch: Batch, position: Position, why: InOrderReason): void {
    this.counts.inOrder++;
    this.log.info({ table: why.table, reason: why.reason, rows: batch.rows, position: this.formatPosition(position) }, 'batch applied in source order, change by change');
  }

  private async applyInOrder(batch: Batch, pending: Pending[], position: Position): Promise<void> {
    for (const change of batch.changes) {
      if (change.kind === 'relation') {
        this.describe(change.relation);
        continue;
      }
      const ddl = this.ddlFor(change);
      if (ddl) {
        await this.settle(pending.splice(0), position);
        if (ddl.kind === 'statement') await this.runDdl(ddl.ddl, position);
        else await this.reconcile(ddl.ddl, position);
        continue;
      }
      const unbound = relationIds(change).filter((id) => !this.relations.has(id));
      if (unbound.length > 0) {
        // Binding reads the target catalog: wait for what is in flight first so errors stay in order.
        await this.settle(pending.splice(0), position);
        for (const id of unbound) await this.bind(id, position);
      }
      pending.push(...this.statementsFor(change));
    }
    if (pending.length > 0) await this.settle(pending.splice(0), position);
  }

  /**
   * The batch as set-based statements: per table, the net change of every
   * key (see compaction.ts) in a few statements; TRUNCATE in its place; REPLICA
   * IDENTITY FULL tables in sets of changes that do not depend on each other
   * (see full-identity.ts). When the batch must be replayed in order instead
   * (a table's description changes inside it, or compaction meets a sequence
   * it cannot express), the reason why.
   */
  private async planSet(batch: Batch, pending: Pending[], position: Position): Promise<SetStep[] | InOrderReason> {
    const touched = new Set<number>();
    // Indexed loops here and below: in an async function, for…of over an array makes an iterator result per change.
    const changes = batch.changes;
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i] as BatchChange;
      if (this.ddlFor(change)) return { reason: 'a schema change recorded in the stream (ferry ddl, or captured DDL) is applied at its place in the batch' };
      if (change.kind === 'relation') {
        const { relationId, schema, table } = change.relation;
        if (touched.has(relationId)) return { reason: 'the table was described anew (its columns changed) inside the batch', table: `${schema}.${table}` };
        this.describe(change.relation);
      } else if (change.kind === 'truncate') {
        for (const id of change.relationIds) touched.add(id);
      } else if (change.kind === 'insert' || change.kind === 'update' || change.kind === 'delete') {
        touched.add(change.relationId);
      }
    }
    const unbound = [...touched].filter((id) => !this.relations.has(id));
    if (unbound.length > 0) {
      await this.settle(pending.splice(0), position);
      for (const id of unbound) await this.bind(id, position);
    }
    // Nothing is sent while planning: a plan may still be abandoned.
    const out: SetStep[] = [];
    const nets = new Map<number, TableNet | FullNet>();
    const flush = (only?: number) => {
      const copies: SetStep[] = [];
      for (const [id, net] of nets) {
        if (only !== undefined && id !== only) continue;
        if (net instanceof FullNet) {
          // Built as it is sent: the target starts on one set while the next one's parameters are written.
          out.push({ kind: 'send', send: () => fullStatements(net).map((st) => this.sendSet(st, net.rel.label)) });
          if (net.inserts.length > 0) copies.push({ kind: 'copy', rel: net.rel, rows: net.inserts });
        } else {
          const { statements, inserts } = setStatements(net);
          out.push({ kind: 'send', send: () => statements.map((st) => this.sendSet(st, net.rel.label)) });
          if (inserts.length > 0) copies.push({ kind: 'copy', rel: net.rel, rows: inserts });
        }
        nets.delete(id);
      }
      // Inserts after every table's deletes: a replaced row's old version is gone first.
      out.push(...copies);
    };
    let table: string | undefined;
    try {
      for (let i = 0; i < changes.length; i++) {
        const change = changes[i] as BatchChange;
        // (Unreadable changes were set aside before planning.)
        if (change.kind === 'relation' || change.kind === 'message' || change.kind === 'unreadable') continue;
        if (change.kind === 'truncate') {
          flush();
          out.push({ kind: 'send', send: () => this.statementsFor(change) });
          continue;
        }
        const rel = this.relation(change.relationId);
        table = rel.label;
        if (rel.fullIdentity) {
          let full = nets.get(change.relationId) as FullNet | undefined;
          if (!settable(rel, change)) {
            flush(change.relationId);
            out.push({ kind: 'send', send: () => this.statementsFor(change) });
            continue;
          }
          if (full && (full.size >= FULL_SET_ROWS || !full.accepts(change))) {
            flush(change.relationId);
            full = undefined;
          }
          if (!full) {
            full = new FullNet(rel, change);
            nets.set(change.relationId, full);
          }
          full.add(change);
          continue;
        }
        let net = nets.get(change.relationId) as TableNet | undefined;
        if (!net) {
          net = new TableNet(rel);
          nets.set(change.relationId, net);
        }
        fold(net, change);
      }
    } catch (err) {
      if (err instanceof NotCompactable) return { reason: err.message, table };
      throw err;
    }
    flush();
    return out;
  }

  /** A schema change addressed to this group, if `change` is one. */
  private ddlFor(change: BatchChange): StreamDdl | undefined {
    if (change.kind !== 'message' || (change.prefix !== DDL_PREFIX && change.prefix !== CAPTURED_DDL_PREFIX)) return undefined;
    const ddl = change.prefix === DDL_PREFIX ? decodeDdl(change.content) : decodeCapturedDdl(change.content);
    if (!ddl) {
      throw new FerryError('FERRY_DDL_UNKNOWN', `a ${change.prefix === DDL_PREFIX ? 'ferry ddl' : 'captured DDL'} message in the stream of group ${this.group} has a form this version does not know`,
        'run this group with the ferry version that wrote it (or a newer one)', { context: { group: this.group } });
    }
    if (!ddl.groups.includes(this.group)) return undefined;
    return 'sql' in ddl ? { kind: 'statement', ddl } : { kind: 'definition', ddl };
  }

  /**
   * Brings the target table in line with a definition captured with its DDL
   * (see definition-reconcile.ts), in the open transaction. Tables are bound
   * again after it, and statements prepared anew, as after `ferry ddl`.
   */
  private async reconcile(ddl: CapturedDdl, position: Position): Promise<void> {
    if (!this.definitions) {
      throw new FerryError('FERRY_DDL_CAPTURE_UNEXPECTED', `group ${this.group} met DDL captured on the source but cannot apply it here`, undefined,
        { context: { group: this.group, position: this.formatPosition(position) } });
    }
    await this.definitions.reconcile(ddl, position);
    this.relations.clear();
    this.statementNames.clear();
    this.schema?.forget();
  }

  /**
   * Runs a `ferry ddl` statement in the open transaction, under the search
   * path it was written for, and records it. Tables are bound again after
   * it, and statements prepared anew: it may have changed any of them.
   */
  private async runDdl(ddl: DdlMessage, position: Position): Promise<void> {
    const saved = (await this.client.query<{ path: string }>(`SELECT current_setting('search_path') AS path`)).rows[0]?.path ?? '';
    await this.client.query(`SELECT set_config('search_path', $1, true)`, [ddl.searchPath]);
    try {
      await this.client.query(ddl.sql);
    } catch (err) {
      throw new FerryError('FERRY_DDL_APPLY', `the statement recorded with ferry ddl failed on the target: ${(err as Error).message} (statement: ${ddl.sql})`,
        'make the target able to take it (or run an equivalent statement on the target yourself and mark it done by running ferry ddl with a statement that does nothing on the source); nothing at or after this position was applied',
        { context: { group: this.group, position: this.formatPosition(position) }, cause: err });
    }
    await this.client.query(`SELECT set_config('search_path', $1, true)`, [saved]);
    await this.client.query(sql.recordSchemaChange, [this.group, this.formatPosition(position), '', ddl.sql]);
    this.log.info({ statement: ddl.sql, position: this.formatPosition(position) }, 'ran a statement recorded with ferry ddl');
    this.relations.clear();
    this.statementNames.clear();
    this.schema?.forget();
  }

  /** Stores changes of joining tables, in source order, until their copy is done. */
  private hold(held: readonly HeldChange[]): Pending {
    const tables = [...new Set(held.map((h) => h.table))].join(', ');
    const values = [this.group, held.map((h) => h.table), held.map((h) => h.position), held.map((h) => encodeHeld(h.change))];
    return { promise: this.query(sql.holdChanges, values), describe: () => `holding ${held.length} change(s) of ${tables} while it is copied`, table: tables };
  }

  /**
   * Commits the open transaction (or an empty one) with the held changes of
   * `tables` deleted: after they were applied, and without moving the
   * position, which is already past them.
   */
  async releaseHeld(tables: readonly string[], position: Position): Promise<void> {
    const pending: Pending[] = [];
    if (!this.open) pending.push(this.send({ text: 'BEGIN', values: [] }, () => 'BEGIN'));
    this.open = true;
    pending.push({ promise: this.query(sql.releaseHeld, [this.group, tables]), describe: () => `deleting the held changes of ${tables.join(', ')}` });
    pending.push(this.send({ text: 'COMMIT', values: [] }, () => 'COMMIT'));
    try {
      await this.settle(pending, position);
    } finally {
      this.open = false;
    }
  }

  /** The source was idle up to `position` at its time `time`: a quiet group is caught up, not behind. */
  async recordIdle(position: Position, time: PgTimestamp | undefined): Promise<void> {
    const at = time === undefined || time === 0n ? null : pgTimestampToDate(time).toISOString();
    await this.client.query(sql.recordIdle, [this.group, position, at]);
  }

  /** Abandons an open transaction (after an error or on shutdown mid-transaction). */
  async rollback(): Promise<void> {
    this.schema?.takeRecords();
    if (!this.open) return;
    this.open = false;
    await this.client.query('ROLLBACK').catch(() => undefined);
  }

  get inTransaction(): boolean {
    return this.open;
  }

  private describe(relation: Relation): void {
    this.described.set(relation.relationId, relation);
    this.relations.delete(relation.relationId);
  }

  /**
   * Binding is lazy because pgoutput also describes relations no change will
   * name: with publish_via_partition_root it sends the leaf partition's
   * description next to the root's, and the target may have no such table.
   * A source partition the target lacks is created there, or written through
   * the root (see partition-placement.ts).
   */
  private async bind(id: number, position: Position): Promise<void> {
    const relation = this.described.get(id);
    if (!relation) throw new FerryError('FERRY_APPLY_UNKNOWN_RELATION', `change for relation ${id} arrived before its description`, undefined, { context: { group: this.group } });
    // A statement prepared before a column changed type keeps the old parameter types: prepare anew.
    if (await this.schema?.follow(relation, position)) this.statementNames.clear();
    this.relations.set(id, await bindPlaced(this.client, relation, this.group, this.partitions, this.log));
  }

  private relation(id: number): TargetRelation {
    return this.relations.get(id) as TargetRelation;
  }

  private statementsFor(change: BatchChange): Pending[] {
    switch (change.kind) {
      case 'insert': {
        const rel = this.relation(change.relationId);
        return [this.send(insertStatement(rel, change.values), () => `insert into ${rel.label}`, undefined, rel.label)];
      }
      case 'update': {
        const rel = this.relation(change.relationId);
        const old = change.old;
        if (needsReinsert(rel, old, change.values)) return this.reinsert(rel, old as Tuple, change.values);
        return [this.send(updateStatement(rel, old, change.values),
          () => `update of ${rel.label} row ${describeKey(rel, old ?? change.values)}`, 'one', rel.label)];
      }
      case 'delete': {
        const rel = this.relation(change.relationId);
        return [this.send(deleteStatement(rel, change.old), () => `delete from ${rel.label} row ${describeKey(rel, change.old)}`, 'one', rel.label)];
      }
      case 'truncate': {
        const rels = change.relationIds.map((id) => this.relation(id));
        const labels = rels.map((r) => r.label).join(', ');
        return truncateStatements(rels, change.restartIdentity)
          .map((st) => ({ ...this.send(st, () => `truncate of ${labels}`, undefined, labels), truncate: true }));
      }
      default:
        return [];
    }
  }

  private reinsert(rel: TargetRelation, old: Tuple, values: Tuple): Pending[] {
    if (values.some((v, i) => v === undefined && rel.written.includes(i))) {
      throw new FerryError('FERRY_APPLY_IDENTITY_KEY_CHANGE',
        `the key of ${rel.label} changed while a TOASTed column was unchanged, and the target's key is GENERATED ALWAYS AS IDENTITY`,
        `on the target run ALTER TABLE ${rel.qualifiedName} ALTER COLUMN ... SET GENERATED BY DEFAULT;`, { context: { group: this.group, table: rel.label } });
    }
    return [
      this.send(deleteStatement(rel, old), () => `delete from ${rel.label} row ${describeKey(rel, old)}`, 'one', rel.label),
      this.send(insertStatement(rel, values), () => `insert into ${rel.label}`, undefined, rel.label),
    ];
  }

  private send(statement: Statement, describe: () => string, expect?: 'one', table?: string): Pending {
    const promise = this.query(statement.text, statement.values);
    return { promise, describe, expect: statement.text === 'SELECT 1' ? undefined : expect, table };
  }

  private sendSet(statement: SetStatement, table: string): Pending {
    return { promise: this.query(statement.text, statement.values), describe: () => statement.describe, expect: statement.expectRows, table };
  }

  /** Prepared once per statement text and connection; then only Bind/Execute travel. */
  private query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    let name = this.statementNames.get(text);
    if (!name && values.length > 0) {
      name = `ferry_${this.prepared++}`;
      this.statementNames.set(text, name);
    }
    const promise = name ? this.client.query({ name, text, values }) : this.client.query(text);
    // Rejections are collected in settle(); keep Node from reporting them as unhandled meanwhile.
    promise.catch(() => undefined);
    return promise;
  }

  /** Waits for every statement sent; the first failure (in source order) is the one reported. */
  private async settle(pending: Pending[], position: Position): Promise<void> {
    const results = await Promise.allSettled(pending.map((p) => p.promise));
    for (let i = 0; i < results.length; i++) {
      const result = results[i] as PromiseSettledResult<pg.QueryResult>;
      const item = pending[i] as Pending;
      if (result.status === 'rejected') {
        const err = result.reason as { message?: string; code?: string; detail?: string };
        const context = { group: this.group, table: item.table, position: this.formatPosition(position) };
        if (item.expect === 'position' && err.code === '22012') {
          throw new FerryError('FERRY_POSITION_AHEAD', `the target's position for group ${this.group} is already past this batch; the batch was rolled back`,
            'another ferry process may be applying this group, or the group was re-initialised meanwhile: stop the other process and run again',
            { context: { group: this.group, position: this.formatPosition(position) } });
        }
        if (err.code === INVALID_BINARY_REPRESENTATION) {
          // A target column changed under a binary stream: as text, the same change fails (or not) for what it is.
          throw new FerryError('FERRY_BINARY_INCOMPATIBLE', `${item.describe()} failed on the target: ${err.message ?? String(err)}`,
            'ferry reconnects and reads this group as text', { context, cause: result.reason });
        }
        if (item.truncate && err.code === FEATURE_NOT_SUPPORTED) {
          throw new FerryError('FERRY_APPLY_TRUNCATE_REFERENCED',
            `${item.describe()} failed on the target: ${err.message ?? String(err)}${err.detail ? ` (${err.detail})` : ''}, and that table is not truncated by this group's stream`,
            'the referencing table is not replicated by this group (a target-only table, or another group\'s): drop or change that foreign key on the target, '
            + 'or put both tables in one group, then run again; nothing at or after this position was applied', { context, cause: result.reason });
        }
        throw new FerryError('FERRY_APPLY', `${item.describe()} failed on the target: ${err.message ?? String(err)}${err.detail ? ` (${err.detail})` : ''}`,
          applyHint(err.code), { context, cause: result.reason });
      }
      if (typeof item.expect === 'number' && result.value.rowCount !== item.expect) {
        throw new RowCountMismatch(`${item.describe()} touched ${result.value.rowCount} row(s)`, item.table);
      }
      if (item.expect === 'one' && result.value.rowCount === 0) {
        throw new FerryError('FERRY_APPLY_ROW_MISSING', `${item.describe()}: no such row on the target`,
          'the target has diverged from the source (rows changed or deleted on the target); resynchronise the table (ferry drop + ferry init)',
          { context: { group: this.group, table: item.table, position: this.formatPosition(position) } });
      }
    }
  }
}

function relationIds(change: BatchChange): readonly number[] {
  switch (change.kind) {
    case 'insert': case 'update': case 'delete': return [change.relationId];
    case 'truncate': return change.relationIds;
    default: return [];
  }
}

function describeKey(rel: TargetRelation, tuple: Tuple): string {
  const parts = rel.identity.slice(0, 8).map((i) => `${rel.columnNames[i]}=${displayValue(tuple[i], rel.typeOids[i] ?? 0).slice(0, 60)}`);
  return `(${parts.join(', ')})`;
}

function applyHint(code: string | undefined): string | undefined {
  switch (code) {
    case '23505': return 'a row with this key already exists on the target: the target was written to outside ferry; remove the conflicting row or resynchronise the table';
    case '42501': return 'grant the target role INSERT, UPDATE, DELETE and TRUNCATE on the replicated tables';
    case '42703': case '42P01': return 'the target table differs from the source: make its columns match';
    case '22P02': case '22003': case '22001': case '42804': case '22007': case '22008':
      return "a target column's type cannot hold the source's value: give it the source's type (ALTER TABLE … ALTER COLUMN … TYPE …) and run again";
    case '25006': return 'the target database is read-only (default_transaction_read_only, or a standby): make it writable and run again';
    case '53100': return 'the target is out of disk space: free space or grow the volume; ferry resumes from the last batch it applied';
    case '53200': return 'the target ran out of memory: lower apply.batch_max_rows or give the target more memory';
    case '428C9': return 'a target column is GENERATED ALWAYS AS IDENTITY and the source changed it: on the target run ALTER TABLE ... ALTER COLUMN ... SET GENERATED BY DEFAULT;';
    default: return undefined;
  }
}
