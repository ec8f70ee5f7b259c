import { ExitCode, FerryError } from '../errors.js';
import { recordText } from './row-text.js';

/** Column texts in the order of the compared columns; `undefined` is an unchanged TOASTed value. */
export type Columns = readonly (string | null | undefined)[];

/** Where one key ended up after the changes: its columns, or gone (`values` null). */
export interface KeyState {
  readonly key: readonly string[];
  readonly values: Columns | null;
  /** Unchanged TOASTed columns (`undefined`) keep the values of this key's row in the source snapshot. */
  readonly inheritFrom: readonly string[] | null;
}

/** Identity of a key in maps: its column texts, unambiguously joined. */
export function keyId(key: readonly (string | null)[]): string {
  return JSON.stringify(key);
}

/**
 * The net effect on one table of the source changes made between the source
 * snapshot and the target's position: per key its final row or its absence,
 * or, for a keyless table, how many more or fewer copies of each row text.
 * Applied on top of the snapshot's rows, it gives the source's rows at the
 * target's position.
 */
export class TableChanges {
  /** The table was truncated: none of the snapshot's rows is left. */
  truncated = false;
  /** Row changes folded in. */
  changes = 0;
  readonly keyed = new Map<string, KeyState>();
  /** Keyless tables: row text → copies added (negative: removed). */
  readonly multiset = new Map<string, number>();

  constructor(private readonly label: string, private readonly keyColumns: readonly number[] | null) {}

  insert(values: Columns): void {
    this.changes++;
    if (this.keyColumns === null) {
      this.count(this.fullRow(values), 1);
      return;
    }
    const key = this.keyOf(values);
    this.keyed.set(keyId(key), { key, values, inheritFrom: null });
  }

  update(old: Columns | undefined, values: Columns): void {
    this.changes++;
    if (this.keyColumns === null) {
      const before = this.fullRow(this.need(old, 'the old row of an update'));
      // An unchanged TOASTed value is the old row's (which FULL identity logs whole).
      this.count(before, -1);
      this.count(this.fullRow(values.map((v, i) => (v === undefined ? before[i] : v))), 1);
      return;
    }
    const key = this.keyOf(values);
    const oldKey = old ? this.keyOf(old) : key;
    const previous = this.keyed.get(keyId(oldKey));
    if (keyId(oldKey) !== keyId(key)) this.keyed.set(keyId(oldKey), { key: oldKey, values: null, inheritFrom: null });
    const merged = values.map((v, i) => (v === undefined && previous?.values ? previous.values[i] : v));
    const unresolved = merged.some((v) => v === undefined);
    this.keyed.set(keyId(key), {
      key, values: merged, inheritFrom: unresolved ? (previous ? previous.inheritFrom : oldKey) : null,
    });
  }

  delete(old: Columns): void {
    this.changes++;
    if (this.keyColumns === null) {
      this.count(this.fullRow(old), -1);
      return;
    }
    const key = this.keyOf(old);
    this.keyed.set(keyId(key), { key, values: null, inheritFrom: null });
  }

  truncate(): void {
    this.changes++;
    this.truncated = true;
    this.keyed.clear();
    this.multiset.clear();
  }

  private count(row: readonly (string | null)[], delta: number): void {
    const text = recordText(row);
    const n = (this.multiset.get(text) ?? 0) + delta;
    if (n === 0) this.multiset.delete(text);
    else this.multiset.set(text, n);
  }

  private keyOf(values: Columns): string[] {
    return (this.keyColumns ?? []).map((i) => {
      const v = values[i];
      // A TOASTed key value left unchanged: the change names no key we can read.
      if (typeof v !== 'string') throw this.unresolved('a change whose key value is not in the WAL (an unchanged large key value)');
      return v;
    });
  }

  private fullRow(values: Columns): (string | null)[] {
    return values.map((v) => {
      if (v === undefined) throw this.unresolved('a change of a keyless table without its whole old row');
      return v;
    });
  }

  private need<T>(value: T | undefined, what: string): T {
    if (value === undefined) throw this.unresolved(`a change without ${what}`);
    return value;
  }

  private unresolved(what: string): FerryError {
    return new FerryError('FERRY_VERIFY_UNRESOLVED', `${what} was made while ${this.label} was compared; it cannot be matched to a row`,
      'run "ferry verify" again, or when the table is not being written', { exitCode: ExitCode.usage, context: { table: this.label } });
  }
}
