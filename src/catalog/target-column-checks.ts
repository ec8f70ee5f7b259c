import { qualifiedName, quoteIdent } from '../pg/connect.js';
import { tableLabel, type SourceTable } from './source-tables.js';
import { losslessInto } from './type-compat.js';
import { domainBases } from './user-types.js';

export interface TargetColumn {
  readonly name: string;
  /** format_type, read under withQualifiedNames like the source's. */
  readonly type: string;
}

/**
 * Why a target table that already exists cannot receive the source table's
 * rows: a column it lacks, or a column whose type cannot hold every source
 * value unchanged (see losslessInto). One line per column, naming group,
 * table, column and both types, with the statement that fixes it.
 */
export function columnProblems(group: string, table: SourceTable, existing: readonly TargetColumn[]): string[] {
  const problems: string[] = [];
  const label = tableLabel(table);
  const name = qualifiedName(table.schema, table.name);
  const there = new Map(existing.map((c) => [c.name, c]));
  const domainBase = domainBases(table.types);
  for (const column of table.columns) {
    const target = there.get(column.name);
    if (!target) {
      problems.push(`group ${group}: target table ${label} has no column ${column.name} (source type ${column.type}): ` +
        `run ALTER TABLE ${name} ADD COLUMN ${quoteIdent(column.name)} ${column.type}; on the target`);
    } else if (!losslessInto(column.type, target.type, domainBase)) {
      problems.push(`group ${group}: column ${column.name} of target table ${label} has type ${target.type}, which cannot hold every value of the source type ${column.type}: ` +
        `run ALTER TABLE ${name} ALTER COLUMN ${quoteIdent(column.name)} TYPE ${column.type}; on the target`);
    }
  }
  return problems;
}
