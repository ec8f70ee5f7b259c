import type pg from 'pg';
import { builtNamesSql, columnsSql, serverVersionSql } from '../catalog/catalog-sql.js';
import { withQualifiedNames } from '../catalog/qualified-names.js';
import { relationsOf, type RelationObjects, type SourcePartition } from '../catalog/source-relations.js';
import { tableLabel, type SourceTable } from '../catalog/source-tables.js';
import { columnProblems, type TargetColumn } from '../catalog/target-column-checks.js';
import { creationProblems } from '../catalog/target-creation-checks.js';
import { privilegeProblems } from '../catalog/target-privilege-checks.js';
import { typeProblems } from '../catalog/target-type-checks.js';
import { typeExists, type UserType } from '../catalog/user-types.js';
import {
  addConstraintsSql, createIndexSql, createPartitionSql, createSchemaSql, createSequenceSql, createTableSql, createTypeSql,
  foreignKeySql, replicaIdentitySql, sequencesInDefaults, targetTableSql,
} from '../copy/target-table-sql.js';
import type { Logger } from '../observe/logger.js';
import { qualifiedName } from '../pg/connect.js';

async function targetColumns(target: pg.Client, table: SourceTable): Promise<TargetColumn[]> {
  return (await target.query<TargetColumn>(columnsSql, [qualifiedName(table.schema, table.name)])).rows;
}

async function serverVersion(client: pg.Client): Promise<number> {
  return (await client.query<{ version: number }>(serverVersionSql)).rows[0]?.version ?? 0;
}

/** The types that the tables need, each once, in an order that creates dependencies first. */
function typesOf(tables: readonly SourceTable[]): UserType[] {
  const byOid = new Map<number, UserType>();
  for (const table of tables) for (const type of table.types) if (!byOid.has(type.oid)) byOid.set(type.oid, type);
  return [...byOid.values()];
}

/**
 * Why the target cannot receive a group's tables, one line per problem with
 * its fix. A missing table must be creatable from the source catalog (see
 * creationProblems); an existing one must have every source column with a
 * type that holds its values (columnProblems) and no rows (ferry copies into
 * empty tables; when it redoes its own unfinished copy it empties them
 * itself). User-defined types that exist on the target must match the
 * source's (typeProblems). The target role must be allowed to create or
 * write each table (privilegeProblems).
 */
export async function targetTableProblems(target: pg.Client, group: string, tables: readonly SourceTable[], redo: boolean): Promise<string[]> {
  return withQualifiedNames(target, async () => {
    const problems: string[] = [];
    const creating = new Set<number>();
    for (const table of tables) {
      const existing = await targetColumns(target, table);
      const denied = await privilegeProblems(target, group, table, existing.length > 0);
      problems.push(...denied);
      if (existing.length === 0) {
        for (const type of table.types) creating.add(type.oid);
        problems.push(...await creationProblems(target, group, table));
        continue;
      }
      problems.push(...columnProblems(group, table, existing));
      // Looking for rows needs SELECT, which may be what is denied.
      if (!redo && denied.length === 0) {
        const hasRows = (await target.query<{ has_rows: boolean }>(targetTableSql.hasRows(qualifiedName(table.schema, table.name)))).rows[0]?.has_rows;
        if (hasRows) problems.push(`group ${group}: target table ${tableLabel(table)} already has rows; ferry copies into empty tables: empty it (TRUNCATE ${qualifiedName(table.schema, table.name)};) or remove it from the group`);
      }
    }
    problems.push(...await typeProblems(target, await serverVersion(target), group, typesOf(tables), creating));
    return [...new Set(problems)];
  });
}

/**
 * Creates, in one transaction, the missing target tables: first the
 * user-defined types they use that the target lacks (dependencies first) and
 * the schemas, then each table with its columns, primary key, serial
 * sequences and, if partitioned, all its partitions. When redoing an
 * unfinished copy, empties the tables that exist. Returns the tables it
 * created; their other constraints and indexes follow after the copy
 * (buildIndexesAndConstraints).
 */
export async function prepareTargetTables(
  target: pg.Client, tables: readonly SourceTable[], redo: boolean, log: Logger,
  /** Runs in the creating transaction, so the record of what was created commits with it. */
  record: (created: readonly SourceTable[]) => Promise<void> = async () => undefined,
): Promise<SourceTable[]> {
  return withQualifiedNames(target, async () => {
    const options = { virtualColumns: (await serverVersion(target)) >= 180000 };
    const created: SourceTable[] = [];
    const existingNames: string[] = [];
    await target.query('BEGIN');
    try {
      for (const table of tables) {
        if ((await targetColumns(target, table)).length > 0) existingNames.push(qualifiedName(table.schema, table.name));
        else created.push(table);
      }
      for (const type of typesOf(created)) {
        if (type.kind === 'external' || await typeExists(target, type.sql)) continue;
        await target.query(createSchemaSql(type.schema));
        for (const statement of createTypeSql(type)) await target.query(statement);
        log.info({ type: type.sql }, 'created type on the target');
      }
      for (const table of created) {
        await target.query(createSchemaSql(table.schema));
        for (const seq of sequencesInDefaults(table)) await target.query(createSequenceSql(seq));
        await target.query(createTableSql(table, options));
        await createPartitions(target, table, table.partitions);
        log.info({ table: tableLabel(table), partitions: relationsOf(table).length - 1 }, 'created target table');
      }
      if (redo && existingNames.length > 0) await target.query(targetTableSql.truncate(existingNames));
      await record(created);
      await target.query('COMMIT');
    } catch (err) {
      await target.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    return created;
  });
}

async function createPartitions(target: pg.Client, parent: { schema: string; name: string }, partitions: readonly SourcePartition[]): Promise<void> {
  for (const partition of partitions) {
    await target.query(createSchemaSql(partition.schema));
    await target.query(createPartitionSql(partition, parent));
    await createPartitions(target, partition, partition.partitions);
  }
}

/**
 * Finishes the tables init created, once their rows are in: on the table
 * and on each partition, the CHECK, UNIQUE and EXCLUDE constraints (in one
 * ALTER TABLE per relation, so one scan verifies them all), then the other
 * indexes (partial and expression ones included; on a partitioned table they
 * reach every partition), then the replica identity. What already exists by
 * name is skipped, so after a crash this simply carries on.
 *
 * Foreign keys are not created, not even NOT VALID (which only spares the
 * rows already there). Groups are copied and streamed independently and in
 * parallel, so the row a foreign key points to may arrive later than the row
 * that points to it, or belong to a group not initialised yet, or to no
 * group; where the target role may not set session_replication_role =
 * replica, the key's check would then stop the apply. Each one is logged with
 * the statement that adds it, to run after switching over.
 */
export async function buildIndexesAndConstraints(target: pg.Client, created: readonly SourceTable[], log: Logger): Promise<void> {
  await withQualifiedNames(target, async () => {
    for (const table of created) {
      for (const relation of relationsOf(table)) {
        const name = qualifiedName(relation.schema, relation.name);
        const built = await builtNames(target, name);
        // The table's own primary key came with CREATE TABLE; a partition may have one of its own.
        const constraints = relation.constraints.filter((k) => k.kind !== 'f' && !built.has(k.name) && !(relation === table && k.kind === 'p'));
        if (constraints.length > 0) {
          await timed(log, { table: name, constraints: constraints.map((k) => k.name) }, 'added constraints',
            () => target.query(addConstraintsSql(relation, constraints)));
        }
        for (const index of relation.indexes.filter((i) => !built.has(i.name))) {
          await timed(log, { table: name, index: index.name }, 'built index', () => target.query(createIndexSql(index)));
        }
        await setReplicaIdentity(target, relation, log);
        for (const fk of relation.constraints.filter((k) => k.kind === 'f')) {
          log.info({ table: name, constraint: fk.name, statement: foreignKeySql(relation, fk) }, 'foreign key not created on the target (add it after switching over)');
        }
      }
    }
  });
}

async function setReplicaIdentity(target: pg.Client, relation: RelationObjects, log: Logger): Promise<void> {
  const statement = replicaIdentitySql(relation);
  if (!statement) return;
  const name = qualifiedName(relation.schema, relation.name);
  if (relation.replicaIdentity === 'i' && !(await builtNames(target, name)).has(relation.replicaIdentityIndex ?? '')) {
    // A partition's share of its parent's index is named by the target, which may name it differently.
    log.warn({ table: name, index: relation.replicaIdentityIndex }, 'replica identity index not found on the target; replica identity left at default');
    return;
  }
  await target.query(statement);
}

async function builtNames(target: pg.Client, qualified: string): Promise<Set<string>> {
  return new Set((await target.query<{ name: string }>(builtNamesSql, [qualified])).rows.map((r) => r.name));
}

async function timed(log: Logger, fields: Record<string, unknown>, message: string, work: () => Promise<unknown>): Promise<void> {
  const started = Date.now();
  await work();
  log.info({ ...fields, seconds: (Date.now() - started) / 1000 }, message);
}
