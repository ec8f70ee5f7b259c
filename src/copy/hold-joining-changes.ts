import type { Relation } from '../change/change.js';
import type { HeldChange } from '../change/held-change.js';
import { FerryError } from '../errors.js';
import { START } from '../source/position.js';
import type { SourceEvent } from '../source/source.js';
import { capturedTableOf } from '../change/captured-ddl.js';

/** What the hold needs to know about the tables joining the group, from the target. */
export interface JoiningTables {
  /**
   * The joining table (as the group names it) whose copy is still running
   * and so holds `relation`'s changes; undefined when they apply as usual.
   * Throws FERRY_TABLE_JOINED when the stream must start again first.
   */
  holding(relation: Relation): Promise<string | undefined>;
  /** Of `tables`, those whose copy is finished. */
  copied(tables: readonly string[]): Promise<readonly string[]>;
}

/** How often a stream holding changes asks whether the copy has finished. */
const COPY_POLL_MS = 1_000;

/**
 * A table that joins a streaming group (`ferry init` after it was added, or
 * `ferry resync`) is copied while the group keeps streaming its other
 * tables. Until the copy is done, the joining table's changes are not
 * applied but passed on as `held` events, which the applier stores in the
 * same target transaction as the batch. Once the copy is done this stream
 * ends (FERRY_TABLE_JOINED), and the group starts again by applying what was
 * held and the copy does not already have (see replay-held-changes.ts).
 */
export async function* holdJoiningChanges(
  events: AsyncIterable<readonly SourceEvent[]>, joining: JoiningTables, group: string,
): AsyncGenerator<readonly (SourceEvent | HeldChange)[]> {
  // Source relation → the joining table holding its changes, or undefined.
  const holders = new Map<number, string | undefined>();
  /** Some table's changes are held: kept up to date with `holders`, which changes only at relation events. */
  let holding = false;
  const hold = (relationId: number, table: string | undefined) => {
    holders.set(relationId, table);
    holding = [...holders.values()].some((t) => t !== undefined);
  };
  let position = START;
  let checkedAt = Date.now();

  const checkCopied = async () => {
    const held = [...new Set([...holders.values()].filter((t): t is string => t !== undefined))];
    if (held.length === 0 || Date.now() - checkedAt < COPY_POLL_MS) return;
    checkedAt = Date.now();
    const done = await joining.copied(held);
    if (done.length > 0) {
      throw new FerryError('FERRY_TABLE_JOINED', `table ${done.join(', ')} is copied into group ${group}; the changes held meanwhile are applied next`,
        undefined, { context: { group, table: done.join(', ') } });
    }
  };

  const it = events[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<readonly SourceEvent[]>> | undefined;
  for (;;) {
    pending ??= it.next();
    if (holding) {
      // A quiet stream still notices the copy finishing.
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<'tick'>((resolve) => { timer = setTimeout(() => resolve('tick'), COPY_POLL_MS); });
      const first = await Promise.race([pending, tick]);
      clearTimeout(timer);
      if (first === 'tick') {
        await checkCopied();
        continue;
      }
    }
    const result = await pending;
    pending = undefined;
    if (result.done) return;
    const run = result.value;
    // Nothing held and no news of a table: every event applies as it is.
    if (!holding && !run.some((e) => e.kind === 'relation' || (e.kind === 'message' && capturedTableOf(e)))) {
      // Nothing to hold, but a later run may continue this transaction: keep its position.
      for (let i = run.length - 1; i >= 0; i--) {
        const event = run[i] as SourceEvent;
        if (event.kind === 'begin') { position = event.commitPosition; break; }
      }
      yield run;
      continue;
    }
    const out: (SourceEvent | HeldChange)[] = [];
    for (const event of run) {
      switch (event.kind) {
        case 'begin':
          position = event.commitPosition;
          await checkCopied();
          out.push(event);
          break;
        case 'idle':
          await checkCopied();
          out.push(event);
          break;
        case 'relation': {
          const table = await joining.holding(event.relation);
          hold(event.relation.relationId, table);
          // The applier learns the description either way; it binds a table only when a change names it.
          out.push(event);
          if (table !== undefined) out.push({ kind: 'held', table, position, change: event });
          break;
        }
        case 'insert': case 'update': case 'delete': {
          const table = holders.get(event.relationId);
          out.push(table === undefined ? event : { kind: 'held', table, position, change: event });
          break;
        }
        case 'unreadable': {
          // Announced just before: held with its table's changes, if they are.
          const table = holders.get(event.relation.relationId);
          out.push(table === undefined ? event : { kind: 'held', table, position, change: event });
          break;
        }
        case 'message': {
          // A table's captured definition goes with its changes: a copy of the table already has it.
          const about = capturedTableOf(event);
          const table = about && (holders.has(about.oid) ? holders.get(about.oid)
            : await joining.holding({ relationId: about.oid, schema: about.schema, table: about.name, replicaIdentity: 'default', columns: [] }));
          out.push(table === undefined ? event : { kind: 'held', table, position, change: event });
          break;
        }
        case 'truncate': {
          const applied = event.relationIds.filter((id) => holders.get(id) === undefined);
          if (applied.length > 0) out.push(applied.length === event.relationIds.length ? event : { ...event, relationIds: applied });
          const byTable = new Map<string, number[]>();
          for (const id of event.relationIds) {
            const table = holders.get(id);
            if (table !== undefined) byTable.set(table, [...(byTable.get(table) ?? []), id]);
          }
          for (const [table, ids] of byTable) out.push({ kind: 'held', table, position, change: { ...event, relationIds: ids } });
          break;
        }
        default:
          out.push(event);
      }
    }
    yield out;
  }
}
