import type pg from 'pg';
import type { Relation, ReplicaIdentity } from '../change/change.js';
import type { CapturedDdl, TableDefinition } from '../change/captured-ddl.js';
import { withQualifiedNames } from '../catalog/qualified-names.js';
import { FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { qualifiedName } from '../pg/connect.js';
import { sql } from '../target/control-sql.js';
import { definitionStatements, type TargetDefinition } from './definition-diff.js';
import type { SchemaChangePolicy, SchemaEvolution, SourceSchema } from './schema-evolution.js';
import type { Position } from '../source/position.js';

const IDENTITY: Record<string, ReplicaIdentity> = { d: 'default', n: 'nothing', f: 'full', i: 'index' };

/**
 * Brings a target table in line with a definition captured by the source's
 * event trigger (`source.ddl: capture`), inside the apply transaction, at
 * the message's place in the stream: columns through SchemaEvolution (with
 * the attribute numbers, defaults and type names the message carries, as
 * they were when the DDL ran), then defaults, NOT NULL, indexes and
 * constraints (see definition-diff.ts). Each statement is recorded in
 * `ferry.schema_changes` and the definition in `ferry.source_definitions`,
 * in that same transaction: with the batch's rows, they commit once or not
 * at all. A statement the target refuses stops the group; nothing is guessed.
 */
export class DefinitionReconciler {
  constructor(
    private readonly client: pg.Client,
    private readonly group: string,
    private readonly policy: SchemaChangePolicy,
    private readonly schema: SchemaEvolution,
    private readonly log: Logger,
    private readonly formatPosition: (position: Position) => string,
  ) {}

  async reconcile(ddl: CapturedDdl, position: Position): Promise<void> {
    const def = ddl.definition;
    const label = `${def.schema}.${def.name}`;
    const at = this.formatPosition(position);
    this.log.debug({ table: label, tag: ddl.tag, query: ddl.query, position: at }, 'DDL captured on the source');
    await this.schema.follow(relationOf(def), position, definitionSchema(def, label));
    // Written now rather than with the batch: later Relation messages of the same layout then find them and change nothing.
    for (const record of this.schema.takeRecords()) await this.client.query(record.text, record.values);
    const target = await this.targetDefinition(qualifiedName(def.schema, def.name));
    if (!target) {
      this.log.warn({ table: label, tag: ddl.tag, position: at }, 'DDL captured for a table the target does not have; left to the changes that follow');
      return;
    }
    const previous = (await this.client.query<{ definition: TableDefinition }>(sql.knownDefinition, [this.group, def.oid])).rows[0]?.definition;
    const statements = definitionStatements(previous, def, target, ddl.dropped);
    if (statements.length > 0 && this.policy === 'stop') {
      throw new FerryError('FERRY_SCHEMA_CHANGED', `source table ${label} changed (${ddl.tag}; group ${this.group} has schema_changes: stop): ${statements.join('; ')}`,
        `apply the change on the target yourself (${statements.join('; ')}) and set schema_changes: apply for the group, or set schema_changes: apply and run again`,
        { exitCode: 2, context: { group: this.group, table: label, position: at } });
    }
    for (const statement of statements) {
      await this.client.query(statement).catch((err: unknown) => {
        throw new FerryError('FERRY_DDL_CAPTURE_APPLY', `the captured schema change "${statement}" (from ${ddl.tag} on the source) failed on the target: ${(err as Error).message}`,
          `make the target able to take it (rows that break the new constraint, a name taken by a target-only object) or run an equivalent statement on the target yourself, then run again; nothing at or after this position was applied`,
          { exitCode: 2, context: { group: this.group, table: label, position: at }, cause: err });
      });
      await this.client.query(sql.recordSchemaChange, [this.group, at, label, statement]);
      this.log.info({ table: label, statement, tag: ddl.tag, position: at }, 'applied a schema change captured on the source');
    }
    await this.client.query(sql.recordDefinition, [this.group, def.oid, label, JSON.stringify(def)]);
  }

  private async targetDefinition(table: string): Promise<TargetDefinition | undefined> {
    const row = await withQualifiedNames(this.client, async () => (await this.client.query<{
      columns: { name: string; notNull: boolean; default: string | null }[]; indexes: string[]; constraints: string[];
    }>(sql.targetDefinition, [table])).rows[0]);
    if (!row) return undefined;
    return {
      columns: new Map(row.columns.map((c) => [c.name, { notNull: c.notNull, default: c.default }])),
      indexes: new Set(row.indexes),
      constraints: new Set(row.constraints),
    };
  }
}

/** The table as a Relation message would describe it, with the attribute numbers the definition carries. */
function relationOf(def: TableDefinition): Relation {
  return {
    relationId: def.oid, schema: def.schema, table: def.name, replicaIdentity: IDENTITY[def.replicaIdentity] ?? 'default',
    columns: def.columns.map((c) => ({ name: c.name, typeOid: c.typeOid, typeMod: c.typeMod, isKey: c.isKey, attnum: c.attnum })),
  };
}

/** The source catalog as the definition saw it, for SchemaEvolution. */
function definitionSchema(def: TableDefinition, label: string): SourceSchema {
  return {
    columns: () => Promise.resolve(def.columns.map((c) => ({
      attnum: c.attnum, name: c.name, notNull: c.notNull, missing: c.missing, isArray: c.isArray, defaultExpr: c.default, collation: c.collation ?? null,
    }))),
    typeNames: (types) => Promise.resolve(types.map((t) => {
      const column = def.columns.find((c) => c.typeOid === t.typeOid && c.typeMod === t.typeMod);
      if (!column) throw new FerryError('FERRY_DDL_CAPTURE_TYPE', `a captured definition of ${label} lacks the type ${t.typeOid} it uses`, undefined, { context: { table: label } });
      return column.type;
    })),
  };
}
