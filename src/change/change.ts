/**
 * The change model every source decodes into and everything after the
 * decoder consumes. Values stay in the source's representation, text or
 * PostgreSQL's binary format: the target parses them, so nothing is turned
 * into JavaScript objects only to be serialised again.
 */

/**
 * A value in its type's binary format (see `Relation.binary`). The bytes are
 * kept as a latin1 string, one character per byte: cheaper to make and to
 * compare than a Buffer view per value, and a map key as it is.
 */
export class BinaryValue {
  constructor(readonly latin1: string) {}

  get length(): number {
    return this.latin1.length;
  }

  toBuffer(): Buffer {
    return Buffer.from(this.latin1, 'latin1');
  }

  /** Writes the bytes into `out` at `at`; returns where they end. */
  writeTo(out: Buffer, at: number): number {
    const s = this.latin1;
    if (s.length > SHORT_BYTES) return at + out.write(s, at, 'latin1');
    for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i);
    return at;
  }
}

/** Up to this many bytes, a loop copies faster than a call into the runtime. */
export const SHORT_BYTES = 32;

/**
 * A value as text, or binary; `null` is SQL NULL; `undefined` is an
 * unchanged TOASTed value the target must leave alone.
 */
export type Value = string | BinaryValue | null | undefined;
export type Tuple = Value[];

/**
 * A row still in the bytes the source sent, decoded only where needed, so
 * that rows which only pass through to COPY never become JavaScript strings.
 */
export interface EncodedRow {
  /** Size of the encoded row, for batch limits. */
  readonly byteLength: number;
  /** Upper bound of what `writeCopyText` or `writeCopyBinary` writes. */
  readonly copyBound: number;
  /** The value of column `index`. */
  value(index: number): Value;
  /** Writes `columns` (ascending) as one line of COPY's text format into `out` at `at`; returns where it ended. */
  writeCopyText(columns: readonly number[], out: Buffer, at: number): number;
  /** The same as one tuple of COPY's binary format, for rows whose values are binary. */
  writeCopyBinary(columns: readonly number[], out: Buffer, at: number): number;
  /** Every column is a binary value or NULL (none is text or an unchanged TOASTed value). */
  readonly binaryComplete: boolean;
  /** Some column is an unchanged TOASTed value (not sent). */
  readonly hasUnchanged: boolean;
  /** Every column's value. */
  decodeAll(): Tuple;
  isNull(index: number): boolean;
  /** A hash of column `index` as sent: equal values, equal hashes. */
  hashOf(index: number): number;
  /** Column `index` holds the same value, in the same format, in both rows. */
  sameValue(index: number, other: EncodedRow): boolean;
  /** A bit for each of the first 31 columns whose value differs from `other`'s, as `sameValue`. */
  differences(other: EncodedRow): number;
  /** Every column the same, as `sameValue`. */
  sameRow(other: EncodedRow): boolean;
  /** Adds the length of the binary value of each of `columns` (ascending) to `lengths`, and marks NULLs in `nulls`, both by position in `columns`. */
  measureColumns(columns: readonly number[], lengths: Int32Array, nulls: Uint8Array): void;
  /** Writes each of `columns` (ascending) as an element of a binary array into `outs` at `at`, both by position in `columns`; moves `at` on. */
  writeArrayElements(columns: readonly number[], outs: readonly Buffer[], at: Int32Array): void;
}

/** Log sequence number as a 64-bit unsigned integer. */
export type Lsn = bigint;

export type ReplicaIdentity = 'default' | 'nothing' | 'full' | 'index';

export interface Column {
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
  /** Part of the replica identity (key) used to find the row on the target. */
  readonly isKey: boolean;
  /** The source's attribute number, where the description carries it (trigger capture); else the catalog tells it. */
  readonly attnum?: number;
}

export interface Relation {
  /** Source-side id; pgoutput uses the table's OID. */
  readonly relationId: number;
  readonly schema: string;
  readonly table: string;
  readonly replicaIdentity: ReplicaIdentity;
  readonly columns: readonly Column[];
  /** Row values arrive in each type's binary format (pgoutput's `binary` option), as BinaryValues. */
  readonly binary?: boolean;
}

/** Microseconds since 2000-01-01 00:00 UTC (PostgreSQL's epoch). */
export type PgTimestamp = bigint;

export type Change =
  | { readonly kind: 'begin'; readonly finalLsn: Lsn; readonly commitTime: PgTimestamp; readonly xid: number }
  | { readonly kind: 'commit'; readonly commitLsn: Lsn; readonly endLsn: Lsn; readonly commitTime: PgTimestamp }
  | { readonly kind: 'relation'; readonly xid?: number; readonly relation: Relation }
  | { readonly kind: 'type'; readonly xid?: number; readonly typeOid: number; readonly schema: string; readonly name: string }
  | {
      readonly kind: 'insert';
      readonly xid?: number;
      readonly relationId: number;
      readonly values: Tuple;
      /** The same row undecoded, where the source keeps it so (`values` then decodes on first use). */
      readonly encoded?: EncodedRow;
    }
  | {
      readonly kind: 'update';
      readonly xid?: number;
      readonly relationId: number;
      /** Old key ('K': only key columns are meaningful) or old row ('O': identity FULL); absent when the key did not change. */
      readonly old?: Tuple;
      readonly oldIsKeyOnly: boolean;
      readonly values: Tuple;
      /** Both rows undecoded, where the source keeps them so (`old` and `values` then decode on first use). */
      readonly encodedOld?: EncodedRow;
      readonly encodedValues?: EncodedRow;
    }
  | {
      readonly kind: 'delete';
      readonly xid?: number;
      readonly relationId: number;
      readonly old: Tuple;
      readonly oldIsKeyOnly: boolean;
      /** The old row undecoded, where the source keeps it so. */
      readonly encodedOld?: EncodedRow;
    }
  | {
      readonly kind: 'truncate';
      readonly xid?: number;
      readonly relationIds: readonly number[];
      readonly cascade: boolean;
      readonly restartIdentity: boolean;
    }
  | {
      readonly kind: 'message';
      readonly xid?: number;
      readonly transactional: boolean;
      readonly lsn: Lsn;
      readonly prefix: string;
      readonly content: Buffer;
    }
  /**
   * A change of a table whose values could not be read (trigger capture: a
   * queued row whose columns cannot be told). Nothing of it is written: the
   * table is copied again, aligned with the stream (`relation` is the table
   * as its catalog has it now).
   */
  | { readonly kind: 'unreadable'; readonly xid?: number; readonly relation: Relation; readonly reason: string }
  | { readonly kind: 'origin'; readonly lsn: Lsn; readonly name: string }
  | { readonly kind: 'stream-start'; readonly xid: number; readonly firstSegment: boolean }
  | { readonly kind: 'stream-stop' }
  | {
      readonly kind: 'stream-commit';
      readonly xid: number;
      readonly commitLsn: Lsn;
      readonly endLsn: Lsn;
      readonly commitTime: PgTimestamp;
    }
  | { readonly kind: 'stream-abort'; readonly xid: number; readonly subXid: number };

export type ChangeKind = Change['kind'];
