import type { EncodedRow, Tuple } from '../../change/change.js';
import { TupleBytes } from './tuple-bytes.js';

/**
 * Row changes whose rows stay in the bytes pgoutput sent until someone asks
 * for their values: set-based apply reads most of them straight from the
 * bytes (COPY, binary array parameters, comparing rows), so most values never
 * become JavaScript strings.
 */

/** An insert is its own encoded row: one object per inserted row, as a batch holds many. */
export class EncodedInsert extends TupleBytes {
  readonly kind = 'insert';
  readonly xid?: number;
  private decoded?: Tuple;

  constructor(readonly relationId: number, bytes: Buffer, start: number, end: number, count: number, xid: number | undefined) {
    super(bytes, start, end, count);
    if (xid !== undefined) this.xid = xid;
  }

  get encoded(): EncodedRow {
    return this;
  }

  get values(): Tuple {
    this.decoded ??= this.decodeAll();
    return this.decoded;
  }
}

/**
 * Updates and deletes keep their rows as plain TupleBytes rather than being
 * one: code that reads rows then sees one class of object, not several,
 * which keeps it fast.
 */

/** An update without an old row (the key did not change). */
export class EncodedUpdate {
  readonly kind = 'update';
  readonly xid?: number;
  readonly oldIsKeyOnly: boolean = false;
  private decoded?: Tuple;

  constructor(readonly relationId: number, readonly encodedValues: TupleBytes, xid: number | undefined) {
    if (xid !== undefined) this.xid = xid;
  }

  get values(): Tuple {
    this.decoded ??= this.encodedValues.decodeAll();
    return this.decoded;
  }
}

/** An update with its old key ('K') or old row ('O', REPLICA IDENTITY FULL). */
export class EncodedUpdateWithOld extends EncodedUpdate {
  override readonly oldIsKeyOnly: boolean;
  private decodedOld?: Tuple;

  constructor(relationId: number, readonly encodedOld: TupleBytes, oldIsKeyOnly: boolean, encodedValues: TupleBytes, xid: number | undefined) {
    super(relationId, encodedValues, xid);
    this.oldIsKeyOnly = oldIsKeyOnly;
  }

  get old(): Tuple {
    this.decodedOld ??= this.encodedOld.decodeAll();
    return this.decodedOld;
  }
}

/** A delete: the old key ('K') or old row ('O'). */
export class EncodedDelete {
  readonly kind = 'delete';
  readonly xid?: number;
  private decoded?: Tuple;

  constructor(readonly relationId: number, readonly oldIsKeyOnly: boolean, readonly encodedOld: TupleBytes, xid: number | undefined) {
    if (xid !== undefined) this.xid = xid;
  }

  get old(): Tuple {
    this.decoded ??= this.encodedOld.decodeAll();
    return this.decoded;
  }
}
