import type { DefinedConstraint, DefinedIndex, TableDefinition } from '../change/captured-ddl.js';
import { qualifiedName, quoteIdent } from '../pg/connect.js';

/** What the target table has now, by name (defaults deparsed with qualified names, as the source's are). */
export interface TargetDefinition {
  readonly columns: ReadonlyMap<string, { readonly notNull: boolean; readonly default: string | null }>;
  readonly indexes: ReadonlySet<string>;
  readonly constraints: ReadonlySet<string>;
}

/**
 * The statements that bring the target table's defaults, NOT NULL, indexes
 * and constraints in line with the source's definition `next` (its columns
 * are followed before, by SchemaEvolution). What the target lacks is
 * created; what the previously recorded definition had and `next` lacks is
 * dropped, or renamed where an index or constraint of the same definition
 * appeared under another name; what changed is dropped and created again.
 * Indexes and constraints the source never had (created on the target
 * alone) are left alone. `dropped` names indexes a DROP INDEX removed,
 * dropped even without a previous record.
 *
 * Order: renames, drops, column defaults and NOT NULL (after a dropped
 * primary key, before an added one), then creations.
 */
export function definitionStatements(
  previous: TableDefinition | undefined, next: TableDefinition, target: TargetDefinition, dropped: readonly string[],
): string[] {
  const table = qualifiedName(next.schema, next.name);
  const index = (name: string) => qualifiedName(next.schema, name);
  const indexes = new Set(target.indexes);
  const constraints = new Set(target.constraints);
  const out: string[] = [];

  const oldConstraints = new Map((previous?.constraints ?? []).map((c) => [c.name, c]));
  const newConstraints = new Map(next.constraints.map((c) => [c.name, c]));
  const oldIndexes = new Map(plainIndexes(previous).map((i) => [i.name, i]));
  const newIndexes = new Map(plainIndexes(next).map((i) => [i.name, i]));
  const oldTable = previous ? qualifiedName(previous.schema, previous.name) : table;

  // Renamed: gone under the old name, new under another with the same definition.
  for (const [name, old] of oldConstraints) {
    if (newConstraints.has(name) || !constraints.has(name)) continue;
    const renamed = next.constraints.find((c) => !oldConstraints.has(c.name) && !constraints.has(c.name) && c.type === old.type && c.definition === old.definition);
    if (!renamed) continue;
    out.push(`ALTER TABLE ${table} RENAME CONSTRAINT ${quoteIdent(name)} TO ${quoteIdent(renamed.name)}`);
    constraints.delete(name);
    constraints.add(renamed.name);
    // A key's index takes the constraint's new name with it.
    if (indexes.delete(name)) indexes.add(renamed.name);
  }
  for (const [name, old] of oldIndexes) {
    if (newIndexes.has(name) || !indexes.has(name)) continue;
    const shape = indexShape(old.definition, oldTable);
    const renamed = [...newIndexes.values()].find((i) => !oldIndexes.has(i.name) && !indexes.has(i.name) && indexShape(i.definition, table) === shape);
    if (!renamed) continue;
    out.push(`ALTER INDEX ${index(name)} RENAME TO ${quoteIdent(renamed.name)}`);
    indexes.delete(name);
    indexes.add(renamed.name);
  }

  // Gone or changed.
  for (const [name, old] of oldConstraints) {
    const now = newConstraints.get(name);
    if (!constraints.has(name) || (now && (now.definition === old.definition || validated(old, now)))) continue;
    out.push(`ALTER TABLE ${table} DROP CONSTRAINT ${quoteIdent(name)}`);
    constraints.delete(name);
    if (old.type !== 'c') indexes.delete(name);
  }
  for (const [name, old] of oldIndexes) {
    const now = newIndexes.get(name);
    if (!indexes.has(name) || (now && indexShape(now.definition, table) === indexShape(old.definition, oldTable))) continue;
    out.push(`DROP INDEX ${index(name)}`);
    indexes.delete(name);
  }
  if (!previous) {
    for (const name of dropped) {
      if (!indexes.has(name) || newIndexes.has(name) || newConstraints.has(name)) continue;
      out.push(`DROP INDEX ${index(name)}`);
      indexes.delete(name);
    }
  }

  for (const column of next.columns) {
    const now = target.columns.get(column.name);
    if (!now) continue;
    const col = quoteIdent(column.name);
    if (column.default !== now.default) {
      out.push(column.default === null ? `ALTER TABLE ${table} ALTER COLUMN ${col} DROP DEFAULT` : `ALTER TABLE ${table} ALTER COLUMN ${col} SET DEFAULT ${column.default}`);
    }
    if (column.notNull !== now.notNull) out.push(`ALTER TABLE ${table} ALTER COLUMN ${col} ${column.notNull ? 'SET' : 'DROP'} NOT NULL`);
  }

  for (const [name, now] of newConstraints) {
    const old = oldConstraints.get(name);
    if (old && constraints.has(name) && validated(old, now)) out.push(`ALTER TABLE ${table} VALIDATE CONSTRAINT ${quoteIdent(name)}`);
  }
  for (const [name, now] of newIndexes) {
    if (indexes.has(name)) continue;
    out.push(creatable(now.definition));
    indexes.add(name);
  }
  for (const [name, now] of newConstraints) {
    if (constraints.has(name)) continue;
    out.push(`ALTER TABLE ${table} ADD CONSTRAINT ${quoteIdent(name)} ${now.definition}`);
    constraints.add(name);
  }
  return out;
}

/** Indexes of their own; those of a key or exclusion constraint come and go with it. */
function plainIndexes(definition: TableDefinition | undefined): DefinedIndex[] {
  return (definition?.indexes ?? []).filter((i) => !i.constraint);
}

/** A NOT VALID constraint validated since. */
function validated(old: DefinedConstraint, now: DefinedConstraint): boolean {
  return old.definition === `${now.definition} NOT VALID`;
}

const INDEX_HEAD = /^CREATE (UNIQUE )?INDEX (?:"(?:[^"]|"")*"|\S+) ON (ONLY )?/;

/** An index definition without its own name and its table's, to tell a renamed index (or one of a renamed table) from a changed one. */
function indexShape(definition: string, table: string): string {
  return definition.replace(INDEX_HEAD, (_, unique: string | undefined) => `CREATE ${unique ?? ''}INDEX ON `).replace(` ON ${table} `, ' ON <table> ');
}

/**
 * pg_get_indexdef writes an index of a partitioned table `ON ONLY`, as
 * pg_dump attaches its partitions' indexes one by one afterwards; on the
 * target it is built for every partition at once.
 */
function creatable(definition: string): string {
  return definition.replace(INDEX_HEAD, (head: string) => head.replace(/ ON ONLY $/, ' ON '));
}
