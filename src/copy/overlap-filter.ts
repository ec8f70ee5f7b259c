import type { Relation, Tuple } from '../change/change.js';
import { FerryError } from '../errors.js';
import { scalarText } from '../pg/binary-format.js';
import { capturedTableOf } from '../change/captured-ddl.js';
import { START, type Position } from '../source/position.js';
import type { SourceEvent } from '../source/source.js';
import type { HeldChange } from '../change/held-change.js';
import type { ChunkPlan } from './chunk-plan.js';

/** A finished chunk of the initial copy and the position of the snapshot it was read under. */
export interface CopiedChunk {
  readonly table: string;
  readonly plan: ChunkPlan;
  readonly snapshotPosition: Position;
}

/**
 * After a resumed copy, some chunks were read under a later snapshot than the
 * slot's start. A change committed before a chunk's snapshot is already in
 * that chunk and must not be applied again; everything else is applied as
 * usual. For an update, the old and the new row are judged separately: a row
 * that moved out of a chunk that already holds the move is only deleted where
 * it was, one that moved into such a chunk only inserted where it is. A
 * change before every chunk of its table was read is skipped without
 * reading its values (those of a row that could not be read are unknown).
 * Once the stream passes the newest snapshot, events pass through untouched.
 */
export async function* skipCopiedChanges(
  events: AsyncIterable<readonly (SourceEvent | HeldChange)[]>, chunks: readonly CopiedChunk[], group: string,
): AsyncGenerator<readonly (SourceEvent | HeldChange)[]> {
  const byTable = new Map<string, CopiedChunk[]>();
  const add = (label: string, c: CopiedChunk) => byTable.set(label, [...(byTable.get(label) ?? []), c]);
  for (const c of chunks) {
    add(c.table, c);
    // A partitioned table's chunks are its partitions, whose changes come under their own names.
    const relation = `${c.plan.schema}.${c.plan.relation}`;
    if (relation !== c.table) add(relation, c);
  }
  const newest = chunks.reduce((max, c) => (c.snapshotPosition > max ? c.snapshotPosition : max), START);
  const relations = new Map<number, Relation>();
  let commitPosition = START;
  let passThrough = false;

  /** A change before every chunk of its table was read is in whichever chunk holds its row: no need to read its key. */
  const beforeEveryChunk = (relation: Relation): boolean => {
    const table = byTable.get(`${relation.schema}.${relation.table}`);
    return table !== undefined && table.every((c) => commitPosition < c.snapshotPosition);
  };

  // Is this row, as of this transaction, already in the copied data?
  const copied = (relationId: number, tuple: Tuple): boolean => {
    const relation = relations.get(relationId);
    if (!relation) return false;
    const table = byTable.get(`${relation.schema}.${relation.table}`);
    if (!table) return false;
    if (beforeEveryChunk(relation)) return true;
    const chunk = table.find((c) => inChunk(c.plan, relation, tuple));
    if (!chunk) return false;
    return commitPosition < chunk.snapshotPosition;
  };

  for await (const run of events) {
    if (passThrough) {
      yield run;
      continue;
    }
    yield [...filter(run)];
  }

  function* filter(run: readonly (SourceEvent | HeldChange)[]): Generator<SourceEvent | HeldChange> {
    for (const event of run) {
      switch (event.kind) {
        case 'begin':
          commitPosition = event.commitPosition;
          if (commitPosition >= newest) passThrough = true;
          yield event;
          break;
        case 'relation':
          relations.set(event.relation.relationId, event.relation);
          yield event;
          break;
        case 'insert':
          if (!copied(event.relationId, event.values)) yield event;
          break;
        case 'delete':
          if (!copied(event.relationId, event.old)) yield event;
          break;
        case 'update': {
          const oldIn = copied(event.relationId, event.old ?? event.values);
          const newIn = copied(event.relationId, event.values);
          if (!oldIn && !newIn) yield event;
          else if (!oldIn) yield { kind: 'delete', relationId: event.relationId, old: event.old ?? event.values, oldIsKeyOnly: event.oldIsKeyOnly || !event.old };
          else if (!newIn) {
            if (event.values.some((v) => v === undefined)) {
              throw new FerryError('FERRY_RESUME_OVERLAP', 'a row moved between copy chunks while a TOASTed column was unchanged; the resumed copy cannot rebuild it',
                'run "ferry drop" and "ferry init" again for this group', { context: { group } });
            }
            yield { kind: 'insert', relationId: event.relationId, values: event.values };
          }
          break;
        }
        case 'unreadable':
          // What it changed is in the copy; a later one needs a copy after it.
          if (!beforeEveryChunk(event.relation)) yield event;
          break;
        case 'message': {
          // A captured definition older than the copy: the copied table (made to match the source before the copy) has it.
          const about = capturedTableOf(event);
          if (!about || !beforeEveryChunk({ relationId: about.oid, schema: about.schema, table: about.name, replicaIdentity: 'default', columns: [] })) yield event;
          break;
        }
        case 'truncate': {
          const affected = event.relationIds.map((id) => relations.get(id)).filter((r): r is Relation => r !== undefined)
            .flatMap((r) => byTable.get(`${r.schema}.${r.table}`) ?? []);
          const holds = affected.filter((c) => commitPosition < c.snapshotPosition).length;
          if (holds === 0) yield event;
          else if (holds !== affected.length) {
            throw new FerryError('FERRY_RESUME_OVERLAP', 'a TRUNCATE happened while the interrupted copy was being resumed',
              'run "ferry drop" and "ferry init" again for this group', { context: { group } });
          }
          break;
        }
        default:
          yield event;
    }
    }
  }
}

function inChunk(plan: ChunkPlan, relation: Relation, tuple: Tuple): boolean {
  if (plan.kind !== 'key') return true;
  const index = relation.columns.findIndex((c) => c.name === plan.column);
  const raw = tuple[index];
  if (raw === undefined || raw === null) return false;
  const value = BigInt(typeof raw === 'string' ? raw : scalarText(relation.columns[index]?.typeOid ?? 0, raw.toBuffer()));
  return (plan.from === null || value >= BigInt(plan.from)) && (plan.to === null || value < BigInt(plan.to));
}
