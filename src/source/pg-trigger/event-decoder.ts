import type { Relation, Tuple } from '../../change/change.js';
import { CAPTURED_DDL_PREFIX, decodeCapturedDdl } from '../../change/captured-ddl.js';
import { FerryError } from '../../errors.js';
import type { SourceEvent } from '../source.js';
import { parseRecord } from './record-text.js';
import type { RelationLayouts, RowShape } from './relation-layouts.js';

/** A queued event as the batch cursor returns it: txid, table oid, op, new row text, old row text (and what else the cursor adds). */
export type EventRow = [txid: string, rel: string, op: string, newRow: string | null, oldRow: string | null, ...more: (string | null)[]];

/**
 * Turns queued events into the shared change model: rows parsed from their
 * composite text in the layout they were queued in (see RelationLayouts), a
 * relation description sent before its first use (and again when it
 * changes), the TRUNCATEs of one statement merged.
 */
export class EventDecoder {
  private readonly announced = new Map<number, Relation>();
  private truncating: { txid: string; relationIds: number[] } | undefined;

  constructor(private readonly layouts: RelationLayouts, private readonly group: string) {}

  async decode(rows: readonly EventRow[], out: SourceEvent[]): Promise<void> {
    for (const [txid, rel, op, newRow, oldRow] of rows) {
      const oid = Number(rel);
      if (op === 'T') {
        await this.addTruncate(txid, oid, out);
        continue;
      }
      this.flushTruncate(out);
      switch (op) {
        case 'I': {
          const row = await this.parse(oid, newRow, out);
          if (row) out.push({ kind: 'insert', relationId: row.shape.relation.relationId, values: row.values });
          break;
        }
        case 'U': {
          if (oldRow === null) throw this.corrupt(`an update of table ${oid} has no old row`);
          const row = await this.parse(oid, newRow, out);
          if (!row) break;
          const { shape, values } = row;
          const full = shape.relation.replicaIdentity === 'full';
          // Most updates keep their key: then only the old row's leading fields are read, to see that.
          if (!full && !keyChanged(shape, parseRecord(oldRow, shape.keyFields), values)) {
            out.push({ kind: 'update', relationId: shape.relation.relationId, oldIsKeyOnly: false, values });
            break;
          }
          // One statement wrote both rows: they have one layout.
          const oldFields = parseRecord(oldRow);
          if (oldFields.length !== row.fields) {
            throw new FerryError('FERRY_TRIGGER_LAYOUT', `the trigger queue is inconsistent: an update of table ${oid} has ${oldFields.length} old values and ${row.fields} new ones`,
              `run "ferry drop" and "ferry init" again for group ${this.group}`, { context: { group: this.group } });
          }
          out.push({ kind: 'update', relationId: shape.relation.relationId, old: pickValues(shape, oldFields), oldIsKeyOnly: !full, values });
          break;
        }
        case 'D': {
          const row = await this.parse(oid, oldRow, out);
          if (row) out.push({ kind: 'delete', relationId: row.shape.relation.relationId, old: row.values, oldIsKeyOnly: row.shape.relation.replicaIdentity !== 'full' });
          break;
        }
        case 'M': {
          // A message (see stream-message.ts): the prefix travels as the old row, the content as the new.
          const message = { kind: 'message', transactional: true, lsn: 0n, prefix: oldRow ?? '', content: Buffer.from(newRow ?? '') } as const;
          out.push(message);
          // A captured definition marks exactly where the table's rows change layout.
          const definition = message.prefix === CAPTURED_DDL_PREFIX ? decodeCapturedDdl(message.content)?.definition : undefined;
          if (definition) await this.layouts.pin(definition.oid, definition.columns);
          break;
        }
        default:
          throw this.corrupt(`unknown event type '${op}'`);
      }
    }
  }

  /** End of a batch: a TRUNCATE still being gathered goes out. */
  finish(out: SourceEvent[]): void {
    this.flushTruncate(out);
  }

  /**
   * A row's values in the columns of its relation, which is announced
   * first. A row whose columns cannot be told goes out as `unreadable`
   * instead (undefined is returned): its values are never guessed.
   */
  private async parse(oid: number, text: string | null, out: SourceEvent[]): Promise<{ shape: RowShape; values: Tuple; fields: number } | undefined> {
    if (text === null) throw this.corrupt(`an event of table ${oid} has no row`);
    const fields = parseRecord(text);
    const shape = await this.layouts.shape(oid, fields.length);
    this.announce(shape.relation, out);
    if ('unreadable' in shape) {
      out.push({ kind: 'unreadable', relation: shape.relation, reason: shape.unreadable });
      return undefined;
    }
    return { shape, values: pickValues(shape, fields), fields: fields.length };
  }

  private async addTruncate(txid: string, oid: number, out: SourceEvent[]): Promise<void> {
    if (this.truncating && this.truncating.txid !== txid) this.flushTruncate(out);
    const relation = await this.layouts.own(oid);
    this.announce(relation, out);
    if (!this.truncating) this.truncating = { txid, relationIds: [] };
    if (!this.truncating.relationIds.includes(oid)) this.truncating.relationIds.push(oid);
  }

  /** One TRUNCATE statement fires once per table: replayed as one TRUNCATE of them all. */
  private flushTruncate(out: SourceEvent[]): void {
    if (!this.truncating) return;
    out.push({ kind: 'truncate', relationIds: this.truncating.relationIds, cascade: false, restartIdentity: false });
    this.truncating = undefined;
  }

  private announce(relation: Relation, out: SourceEvent[]): void {
    if (this.announced.get(relation.relationId) === relation) return;
    this.announced.set(relation.relationId, relation);
    out.push({ kind: 'relation', relation });
  }

  private corrupt(what: string): FerryError {
    return new FerryError('FERRY_TRIGGER_EVENT', `the trigger queue is inconsistent: ${what}`,
      `run "ferry drop" and "ferry init" again for group ${this.group}`, { context: { group: this.group } });
  }
}

function pickValues(shape: RowShape, fields: readonly (string | null)[]): Tuple {
  const values: Tuple = new Array(shape.pick.length);
  for (let i = 0; i < shape.pick.length; i++) values[i] = fields[shape.pick[i] as number] ?? null;
  return values;
}

/** Whether the old row's fields (`oldFields`, in queued order) hold another key than the new row's values. */
function keyChanged(shape: RowShape, oldFields: readonly (string | null)[], values: Tuple): boolean {
  const columns = shape.relation.columns;
  for (let i = 0; i < columns.length; i++) {
    if ((columns[i] as Relation['columns'][number]).isKey && oldFields[shape.pick[i] as number] !== values[i]) return true;
  }
  return false;
}
