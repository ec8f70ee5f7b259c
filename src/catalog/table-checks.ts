import { qualifiedName } from '../pg/connect.js';
import { tableLabel, type SourceTable } from './source-tables.js';

/**
 * Problems that make a table impossible to replicate exactly, each with the
 * statement that fixes it. Updates and deletes need a way to find the row on
 * the target: a primary key, a unique index chosen as replica identity, or
 * the whole old row (FULL).
 */
export function identityProblems(table: SourceTable): string[] {
  const name = qualifiedName(table.schema, table.name);
  const label = tableLabel(table);
  if (table.replicaIdentity === 'n') {
    return [`table ${label} has REPLICA IDENTITY NOTHING, so its updates and deletes cannot be replicated: ` +
      `run ALTER TABLE ${name} REPLICA IDENTITY FULL; (or REPLICA IDENTITY DEFAULT after adding a primary key)`];
  }
  if (table.replicaIdentity === 'd' && !table.hasPrimaryKey) {
    return [`table ${label} has no primary key and REPLICA IDENTITY DEFAULT, so its updates and deletes cannot be replicated: ` +
      `run ALTER TABLE ${name} REPLICA IDENTITY FULL; (or add a primary key: ALTER TABLE ${name} ADD PRIMARY KEY (...);)`];
  }
  if (table.replicaIdentity === 'i' && !table.identityIndex) {
    return [`table ${label} has REPLICA IDENTITY USING INDEX but the index is gone: run ALTER TABLE ${name} REPLICA IDENTITY FULL;`];
  }
  return [];
}
