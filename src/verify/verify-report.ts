import type { GroupPoint } from './common-point.js';

/** Rows of one kind of difference: how many, and the first few by key (or, keyless, by text). */
export interface DiffList {
  count: number;
  /** Keyed tables: key column → value text. */
  readonly keys: Record<string, string>[];
  /** Keyless tables: the row's text and how many copies of it. */
  readonly rows: { readonly row: string; readonly count: number }[];
}

export interface TableReport {
  readonly table: string;
  readonly group: string;
  /** Columns that identify a row; null: compared as a multiset of whole rows. */
  readonly key: readonly string[] | null;
  readonly columns: readonly string[];
  readonly skippedColumns: readonly string[];
  readonly equal: boolean;
  /** Rows on each side at the common point. */
  readonly sourceRows: number;
  readonly targetRows: number;
  /** On the source, not on the target. */
  readonly missing: DiffList;
  /** On the target, not on the source. */
  readonly extra: DiffList;
  /** Same key, other values (keyed tables only). */
  readonly differing: DiffList;
  /** Buckets of rows whose count and hash sum were compared. */
  readonly chunks: number;
  /** Buckets read row by row: they differed, or changes made meanwhile touched them. */
  readonly chunksDrilled: number;
  /** Rows read from both servers to find the differing ones (bucket totals not counted). */
  readonly rowsFetched: number;
  /** Source changes made while verify ran that were taken into account. */
  readonly changesReconciled: number;
  /**
   * Keys that differ but that the source changed while verify ran, between
   * the two sides' points (MySQL sources: see mysql-verify-point.ts): not
   * compared, and not a difference.
   */
  readonly notCompared?: DiffList;
}

export interface VerifyReport {
  readonly equal: boolean;
  /** `snapshot`: nothing was applying the groups; else the capture's window they were compared at while applied (`slot` with WAL capture, `tick` with trigger capture). */
  readonly method: string;
  readonly sourcePosition: string;
  readonly groups: readonly GroupPoint[];
  readonly tables: readonly TableReport[];
  readonly seconds: number;
}

export function emptyDiff(): DiffList {
  return { count: 0, keys: [], rows: [] };
}
