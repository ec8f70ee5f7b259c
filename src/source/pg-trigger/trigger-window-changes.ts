import type { Relation, Tuple } from '../../change/change.js';
import { ExitCode, FerryError } from '../../errors.js';
import type { SourceEvent } from '../source.js';
import { TableChanges } from '../../verify/table-changes.js';
import type { VerifyTable } from '../../verify/verify-tables.js';

interface Folded {
  readonly table: VerifyTable;
  readonly changes: TableChanges;
  /** For each compared column, its place in the relation's tuples. */
  readonly columns: readonly number[];
}

/** A table a TRUNCATE emptied that is not compared itself (a partition of one, say), with the compared tables the same statement emptied. */
export interface OtherTruncate {
  readonly relationId: number;
  readonly alongside: ReadonlySet<string>;
}

/**
 * Folds the decoded events of a trigger queue window (the changes a target
 * holds beyond the source snapshot, in event id order) per compared table
 * into their net effect, as pg-wal/window-changes.ts does for changes decoded from
 * the WAL. Every event handed in is folded: which transactions belong to the
 * window was decided when the queue was read.
 */
export class TriggerWindowChanges {
  private readonly byLabel: ReadonlyMap<string, VerifyTable>;
  private readonly relations = new Map<number, Folded | null>();
  readonly otherTruncates: OtherTruncate[] = [];

  constructor(tables: readonly VerifyTable[], private readonly out: Map<string, TableChanges>) {
    this.byLabel = new Map(tables.map((t) => [t.label, t]));
  }

  add(events: readonly SourceEvent[]): void {
    // The queue holds text values only.
    const project = (f: Folded, tuple: Tuple) => f.columns.map((i) => tuple[i] as string | null | undefined);
    for (const event of events) {
      switch (event.kind) {
        case 'relation':
          this.relations.set(event.relation.relationId, this.describe(event.relation));
          break;
        case 'insert': {
          const f = this.relations.get(event.relationId);
          if (f) f.changes.insert(project(f, event.values));
          break;
        }
        case 'update': {
          const f = this.relations.get(event.relationId);
          if (f) f.changes.update(event.old && project(f, event.old), project(f, event.values));
          break;
        }
        case 'delete': {
          const f = this.relations.get(event.relationId);
          if (f) f.changes.delete(project(f, event.old));
          break;
        }
        case 'unreadable': {
          const table = this.byLabel.get(`${event.relation.schema}.${event.relation.table}`);
          if (table) {
            throw new FerryError('FERRY_VERIFY_UNRESOLVED', `changes of ${table.label} queued on the source cannot be read (${event.reason})`,
              'they were queued while its columns changed: run "ferry verify" again once "ferry run" has applied them',
              { exitCode: ExitCode.usage, context: { group: table.group, table: table.label } });
          }
          break;
        }
        case 'truncate': {
          const folded = event.relationIds.map((id) => this.relations.get(id));
          const alongside = new Set(folded.filter((f) => f).map((f) => (f as Folded).table.label));
          event.relationIds.forEach((id, i) => {
            const f = folded[i];
            if (f) f.changes.truncate();
            else this.otherTruncates.push({ relationId: id, alongside });
          });
          break;
        }
        default:
          break;
      }
    }
  }

  /** Where each compared column is in the relation's tuples; null for a table not compared. */
  private describe(relation: Relation): Folded | null {
    const table = this.byLabel.get(`${relation.schema}.${relation.table}`);
    if (!table) return null;
    const columns = table.columns.map((c) => relation.columns.findIndex((rc) => rc.name === c));
    const missing = table.columns.filter((_, i) => columns[i] === -1);
    if (missing.length > 0) {
      // Rows queued before a column was added lack it: they cannot be compared with the snapshot's rows.
      throw new FerryError('FERRY_VERIFY_UNRESOLVED', `changes of ${table.label} queued on the source do not carry column(s) ${missing.join(', ')}`,
        'they were queued before the column was added: run "ferry verify" again',
        { exitCode: ExitCode.usage, context: { group: table.group, table: table.label } });
    }
    let changes = this.out.get(table.label);
    if (!changes) {
      changes = new TableChanges(table.label, table.key ? table.key.map((k) => table.columns.indexOf(k)) : null);
      this.out.set(table.label, changes);
    }
    return { table, changes, columns };
  }
}
