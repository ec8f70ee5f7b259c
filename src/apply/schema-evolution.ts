import type pg from 'pg';
import type { Relation } from '../change/change.js';
import { targetColumnTypesSql } from '../catalog/catalog-sql.js';
import { FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { qualifiedName, quoteIdent, quoteLiteral } from '../pg/connect.js';
import { sql } from '../target/control-sql.js';
import { diffColumns, type ColumnChange, type LayoutColumn } from './column-diff.js';
import type { Position } from '../source/position.js';

/** A live column of a source table, as its catalog has it now. */
export interface SourceColumn {
  readonly attnum: number;
  readonly name: string;
  readonly notNull: boolean;
  /** For a column added with a constant default: the value existing rows read, as a one-element array literal. */
  readonly missing: string | null;
  readonly isArray: boolean;
  readonly defaultExpr: string | null;
  /** COLLATE clause's collation where it is not the type's own (qualified), else null. */
  readonly collation: string | null;
}

/**
 * Source catalog facts the applier needs to follow a table's columns.
 * Whoever runs the applier provides them (the group runner reads the
 * source), so the apply stage never opens a source connection itself.
 */
export interface SourceSchema {
  columns(relationId: number): Promise<readonly SourceColumn[]>;
  /** SQL names of the types, schema-qualified where they are not built in. */
  typeNames(types: readonly { readonly typeOid: number; readonly typeMod: number }[]): Promise<readonly string[]>;
}

export type SchemaChangePolicy = 'apply' | 'stop';

/** Where ALTER TABLE goes: a table, or the root of the partition tree it is in. */
interface TargetTable {
  readonly quoted: string;
  /** schema.name, as a group names its tables. */
  readonly label: string;
}

interface KnownLayout {
  readonly table_name: string;
  readonly columns: LayoutColumn[];
}

/**
 * Follows the source's table definitions on the target, in stream order:
 * when a description of a table (a pgoutput Relation message, a queue's
 * layout) differs from the one recorded for it, the columns are renamed,
 * dropped, retyped or added on the target inside the apply transaction of
 * the batch that carries it, before its first change is written, and the
 * statements are recorded in `ferry.schema_changes`. The description
 * recorded (`ferry.source_columns`) commits with them, so a crash neither
 * loses nor repeats a change. What the stream cannot tell safely (values
 * existing rows got from a volatile default) stops the group with the fix.
 */
export class SchemaEvolution {
  /** Descriptions known to match the target and the committed record, by source relation. */
  private readonly settled = new Map<number, string>();
  /** Statements that convert existing values: where the values do not convert, the table is copied again. */
  private readonly converting = new Set<string>();
  /** Descriptions followed in the open transaction and not yet recorded (see takeRecords), by source relation. */
  private records = new Map<number, KnownLayout>();

  constructor(
    private readonly client: pg.Client,
    private readonly group: string,
    private readonly policy: SchemaChangePolicy,
    private readonly source: SourceSchema,
    private readonly log: Logger,
    private readonly formatPosition: (position: Position) => string,
  ) {}

  /** The statements that record the descriptions followed since the last call, to send in the same transaction. */
  takeRecords(): { readonly table: string; readonly text: string; readonly values: unknown[] }[] {
    const out = [...this.records].map(([id, r]) => ({ table: r.table_name, text: sql.recordColumns, values: [this.group, id, r.table_name, JSON.stringify(r.columns)] }));
    this.records = new Map();
    return out;
  }

  /** Checks every table again at its next use (after a statement that may have changed any). */
  forget(): void {
    this.settled.clear();
  }

  /**
   * Brings the target table of `relation` in line with it; `position` is
   * where the batch carrying it starts. True when the target was changed.
   * Attribute numbers, defaults and type names come from `source`: the
   * source catalog as it is now, or a definition captured with the DDL
   * (see definition-reconcile.ts), which knows them as they were then.
   */
  async follow(relation: Relation, position: Position, source: SourceSchema = this.source): Promise<boolean> {
    const description = JSON.stringify([relation.schema, relation.table, relation.columns.map((c) => [c.name, c.typeOid, c.typeMod, c.isKey, c.attnum])]);
    if (this.settled.get(relation.relationId) === description) return false;
    const label = `${relation.schema}.${relation.table}`;
    // What this transaction followed already, else what is committed.
    const pending = this.records.get(relation.relationId);
    const known = pending ?? (await this.client.query<KnownLayout>(sql.knownColumns, [this.group, relation.relationId])).rows[0];
    const catalog = await source.columns(relation.relationId);
    const byName = new Map(catalog.map((c) => [c.name, c]));
    // A description that carries attribute numbers (trigger capture) is matched by them; pgoutput's by the catalog's names now.
    const after: LayoutColumn[] = relation.columns.map((c) => ({
      attnum: c.attnum ?? byName.get(c.name)?.attnum ?? null, name: c.name, typeOid: c.typeOid, typeMod: c.typeMod, isKey: c.isKey,
    }));
    // What the catalog says of each described column (its default, the value existing rows read): by number where it is known.
    const byAttnum = new Map(catalog.map((c) => [c.attnum, c]));
    const sourceOf = new Map(after.flatMap((c) => {
      const found = c.attnum !== null ? byAttnum.get(c.attnum) : byName.get(c.name);
      return found ? [[c.name, found] as const] : [];
    }));
    const statements: string[] = [];
    const renamedFrom = known && known.table_name !== label ? known.table_name : undefined;
    if (renamedFrom) statements.push(...await this.tableRename(renamedFrom, relation));
    const table = qualifiedName(relation.schema, relation.table);
    const root = renamedFrom && statements.length > 0 ? { quoted: table, label } : await this.partitionRoot(table);
    if (root === undefined) return false; // No such target table: binding says so, or places a new partition.
    const targetColumns = renamedFrom && statements.length > 0
      ? await this.targetColumns(qualifiedName(...splitLabel(renamedFrom)))
      : await this.targetColumns(root.quoted);
    const changes = diffColumns(known?.columns, after);
    const types = await source.typeNames(changes.flatMap((c) => (c.kind === 'type' || c.kind === 'add' ? [c.column] : [])));
    let typeIndex = 0;
    for (const change of changes) {
      const type = change.kind === 'type' || change.kind === 'add' ? types[typeIndex++] as string : '';
      statements.push(...await this.statementsFor(change, type, root, label, targetColumns, sourceOf, known !== undefined, relation, position));
    }
    if (statements.length > 0) {
      if (this.policy === 'stop') {
        throw new FerryError('FERRY_SCHEMA_CHANGED', `source table ${label} changed (group ${this.group} has schema_changes: stop): ${statements.join('; ')}`,
          `apply the change on the target yourself (${statements.join('; ')}) and set schema_changes: apply for the group, or set schema_changes: apply and run again`,
          { exitCode: 2, context: { group: this.group, table: label, position: this.formatPosition(position) } });
      }
      for (const statement of statements) {
        await this.client.query(statement).catch((err: unknown) => {
          if (this.converting.has(statement) && valuesDoNotConvert(err)) {
            throw this.recopy(root.label, `the target cannot convert the existing values as the source did (${(err as Error).message})`, position);
          }
          throw new FerryError('FERRY_SCHEMA_CHANGE_FAILED', `the schema change "${statement}" failed on the target: ${(err as Error).message}`,
            'make the target able to take it (a view or rule that depends on the column, values the new type cannot hold), or re-copy the table with "ferry resync -c <config> --table ' + label + '"; nothing at or after this position was applied',
            { context: { group: this.group, table: label, position: this.formatPosition(position) }, cause: err });
        });
        await this.client.query(sql.recordSchemaChange, [this.group, this.formatPosition(position), label, statement]);
        this.log.info({ table: label, statement, position: this.formatPosition(position) }, 'applied a schema change of the source');
      }
      if (renamedFrom) await this.client.query(sql.renameGroupTable, [this.group, renamedFrom, label]);
    }
    const unchanged = known !== undefined && known.table_name === label && sameLayout(known.columns, after);
    // Written with the batch's statements (a target that refuses writes then says so about the batch).
    if (!unchanged) this.records.set(relation.relationId, { table_name: label, columns: after });
    // Only what is committed already may be skipped next time: this transaction can still roll back.
    if (unchanged && !pending && statements.length === 0) this.settled.set(relation.relationId, description);
    return statements.length > 0;
  }

  /**
   * A change of `relation` could not be read (see the change model's
   * `unreadable`): the table is copied again, aligned with the stream,
   * before anything of this batch commits (see recopy).
   */
  async copyAgain(relation: Relation, reason: string, position: Position): Promise<never> {
    const label = `${relation.schema}.${relation.table}`;
    if (this.policy === 'stop') {
      throw new FerryError('FERRY_SCHEMA_CHANGED', `changes of source table ${label} cannot be read (${reason}); group ${this.group} has schema_changes: stop`,
        `copy the table again with "ferry resync -c <config> --table ${label}" while the group runs with schema_changes: apply`,
        { exitCode: 2, context: { group: this.group, table: label, position: this.formatPosition(position) } });
    }
    // A partition's rows come under its own name; the group copies its partitioned table.
    const root = (await this.partitionRoot(qualifiedName(relation.schema, relation.table)))?.label ?? label;
    throw this.recopy(root, `changes of ${label} cannot be read (${reason})`, position);
  }

  private async statementsFor(
    change: ColumnChange, type: string, root: TargetTable, label: string, target: Map<string, string>,
    catalog: ReadonlyMap<string, SourceColumn>, recorded: boolean, relation: Relation, position: Position,
  ): Promise<string[]> {
    const column = quoteIdent;
    // `target` follows the statements made, so that a column dropped and another of its name added are both done.
    switch (change.kind) {
      case 'rename': {
        const type = target.get(change.from);
        if (type === undefined || target.has(change.to)) return [];
        target.delete(change.from);
        target.set(change.to, type);
        return [`ALTER TABLE ${root.quoted} RENAME COLUMN ${column(change.from)} TO ${column(change.to)}`];
      }
      case 'drop':
        if (!target.has(change.column.name)) return [];
        if (change.column.isKey) throw this.unsafe(label, `column ${change.column.name}, part of the table's replica identity, was dropped on the source`);
        target.delete(change.column.name);
        return [`ALTER TABLE ${root.quoted} DROP COLUMN ${column(change.column.name)}`];
      case 'type': {
        const now = target.get(change.column.name);
        if (now === undefined || now === type) return [];
        target.set(change.column.name, type);
        // The plain cast is what ALTER … TYPE without USING does on the source; an empty table has nothing to convert.
        const using = await this.isEmpty(root.quoted) ? `NULL::${type}` : `${column(change.column.name)}::${type}`;
        const statement = `ALTER TABLE ${root.quoted} ALTER COLUMN ${column(change.column.name)} TYPE ${type} USING ${using}`;
        this.converting.add(statement);
        return [statement];
      }
      case 'add': {
        const name = change.column.name;
        if (target.has(name)) return [];
        const extra = [...target.keys()].filter((t) => !relation.columns.some((c) => c.name === t));
        if (!recorded && extra.length > 0) {
          throw this.unsafe(label, `the source has column ${name}, which the target lacks, and the target has columns the source does not (${extra.join(', ')}): `
            + 'a column renamed on either side cannot be told from one dropped and another added');
        }
        target.set(name, type);
        return this.addColumn(root.quoted, root.label, name, type, catalog.get(name), position);
      }
    }
  }

  /** ADD COLUMN such that existing target rows read what the source's existing rows read. */
  private async addColumn(root: string, rootLabel: string, name: string, type: string, source: SourceColumn | undefined, position: Position): Promise<string[]> {
    const col = quoteIdent(name);
    if (!source) {
      // Renamed or dropped again since: what existing rows hold comes with the copy.
      if (!await this.isEmpty(root)) throw this.recopy(rootLabel, `column ${name} was added and has been renamed or dropped on the source since`, position);
      return [`ALTER TABLE ${root} ADD COLUMN ${col} ${type}`];
    }
    const typed = source.collation === null ? type : `${type} COLLATE ${source.collation}`;
    const notNull = source.notNull ? ' NOT NULL' : '';
    const then = source.defaultExpr === null ? [] : [`ALTER TABLE ${root} ALTER COLUMN ${col} SET DEFAULT ${source.defaultExpr}`];
    if (source.missing !== null && !source.isArray) {
      const literal = quoteLiteral(source.missing);
      return [`ALTER TABLE ${root} ADD COLUMN ${col} ${typed} DEFAULT (${literal}::${type}[])[1]${notNull}`,
        source.defaultExpr === null ? `ALTER TABLE ${root} ALTER COLUMN ${col} DROP DEFAULT` : then[0] as string];
    }
    if (source.defaultExpr === null) return [`ALTER TABLE ${root} ADD COLUMN ${col} ${typed}${notNull}`];
    // A rewrite of the source table since (ALTER … TYPE) wrote the value into the rows and forgot it; a constant still tells it.
    if (isConstant(source.defaultExpr)) return [`ALTER TABLE ${root} ADD COLUMN ${col} ${typed} DEFAULT ${source.defaultExpr}${notNull}`];
    // A default the source evaluated row by row (volatile), or once but forgot since: the values are only in the source's rows.
    if (!await this.isEmpty(root)) throw this.recopy(rootLabel, `column ${name} was added with the default ${source.defaultExpr}, whose values for the existing rows only the source has`, position);
    return [`ALTER TABLE ${root} ADD COLUMN ${col} ${typed} DEFAULT ${source.defaultExpr}${notNull}`];
  }

  private async isEmpty(table: string): Promise<boolean> {
    return (await this.client.query(`SELECT 1 FROM ${table} LIMIT 1`)).rows.length === 0;
  }

  /**
   * The table's existing rows can only come from a new copy: thrown before
   * anything of the batch is applied (the batch rolls back). The group runner
   * copies the table again aligned with the stream (see resync), which first
   * gives the emptied target table the source's columns.
   */
  private recopy(label: string, why: string, position: Position): FerryError {
    return new FerryError('FERRY_TABLE_RECOPY', `${why} (table ${label}, group ${this.group}): the table is copied again, aligned with the stream`,
      `if copying it fails, run "ferry resync -c <config> --table ${label}"`,
      { context: { group: this.group, table: label, position: this.formatPosition(position) } });
  }

  /** A table renamed (or moved to another schema) on the source: the same on the target, where the new name is free. */
  private async tableRename(from: string, relation: Relation): Promise<string[]> {
    const [fromSchema, fromName] = splitLabel(from);
    const exists = async (schema: string, name: string) =>
      (await this.client.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [qualifiedName(schema, name)])).rows[0]?.ok === true;
    if (!await exists(fromSchema, fromName) || await exists(relation.schema, relation.table)) return [];
    const out: string[] = [];
    if (fromSchema !== relation.schema) out.push(`ALTER TABLE ${qualifiedName(fromSchema, fromName)} SET SCHEMA ${quoteIdent(relation.schema)}`);
    if (fromName !== relation.table) out.push(`ALTER TABLE ${qualifiedName(relation.schema, fromName)} RENAME TO ${quoteIdent(relation.table)}`);
    return out;
  }

  private async partitionRoot(table: string): Promise<TargetTable | undefined> {
    const row = (await this.client.query<{ root: string; label: string }>(sql.targetPartitionRoot, [table])).rows[0];
    return row ? { quoted: row.root, label: row.label } : undefined;
  }

  private async targetColumns(table: string): Promise<Map<string, string>> {
    const rows = (await this.client.query<{ name: string; type: string }>(targetColumnTypesSql, [table])).rows;
    return new Map(rows.map((r) => [r.name, r.type]));
  }

  private unsafe(label: string, what: string): FerryError {
    return new FerryError('FERRY_SCHEMA_UNSAFE', `${what} (table ${label}, group ${this.group})`,
      `make the target table match the source by hand, or re-copy it with "ferry resync -c <config> --table ${label}", then run again`,
      { exitCode: 2, context: { group: this.group, table: label } });
  }

}

/** Field by field: a record read back from jsonb has its keys in another order than one built here. */
function sameLayout(a: readonly LayoutColumn[], b: readonly LayoutColumn[]): boolean {
  return a.length === b.length && a.every((x, i) => {
    const y = b[i] as LayoutColumn;
    return x.attnum === y.attnum && x.name === y.name && x.typeOid === y.typeOid && x.typeMod === y.typeMod && x.isKey === y.isKey;
  });
}

function splitLabel(label: string): [string, string] {
  const dot = label.indexOf('.');
  return [label.slice(0, dot), label.slice(dot + 1)];
}

/** Values the new type cannot take (data exceptions), or a type with no cast from the old one. */
function valuesDoNotConvert(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code.startsWith('22') || code === '42804' || code === '42846';
}

/** A literal, possibly cast (`7`, `'a'::text`, `'2026-01-01'::date`): the same value wherever and whenever it is evaluated. */
function isConstant(expr: string): boolean {
  return /^\(?('(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false)\)?(?:::[a-z_][a-z0-9_ ."]*(?:\(\d+(?:,\s*\d+)?\))?(?:\[\])*)*$/i.test(expr.trim());
}
