/**
 * Which columns a queued row holds. A row is queued as its composite text:
 * the table's live columns in attribute-number order, dropped ones left out,
 * so the text alone does not say which columns its fields are. PostgreSQL
 * never changes a column's attnum, gives an added column a higher attnum
 * than any before, and keeps a dropped column's attnum; ALTER TABLE locks the
 * table, so a table's queued rows go through its layouts in stream order.
 * From the layout of an earlier row (the anchor) and the catalog of now
 * (dropped columns included), the layouts a later row can have are few, and
 * its number of fields usually names one. Where it does not, the row is
 * unreadable: guessing could put a value into the wrong column.
 */

/** A column of the source table as its catalog has it now (pg_attribute, dropped ones included). */
export interface CatalogAttribute {
  readonly attnum: number;
  /** The name now; meaningless for a dropped column. */
  readonly name: string;
  /** 0 for a dropped column: PostgreSQL forgets its type. */
  readonly typeOid: number;
  readonly typeMod: number;
  readonly dropped: boolean;
  readonly generated: boolean;
}

/** A field of a queued row: the column it holds. */
export interface RowField {
  readonly attnum: number;
  readonly name: string;
  /** 0 for a column added and dropped again since the anchor: its value is dropped with it. */
  readonly typeOid: number;
  readonly typeMod: number;
  /** Computed on the target: never written there. */
  readonly generated: boolean;
}

export type Layout = readonly RowField[];

export type LayoutDecision =
  | { readonly layout: Layout }
  | { readonly unreadable: string };

/** Whether the text of a value of one type reads as the same value in another (see textReadsAs). */
export type TextReads = (from: { typeOid: number; typeMod: number }, to: { typeOid: number; typeMod: number }) => boolean;

/** Beyond this many columns whose presence in a row is unknown, the layouts are not enumerated. */
const MAX_OPTIONAL = 8;

/**
 * The layout of a row with `fields` values queued after a row of layout
 * `anchor` (or after the target's last recorded layout), given the table's
 * catalog now. Columns of the anchor that are live now are in every later
 * row; columns of the anchor dropped since may or may not be (in an
 * unknown order); columns added since come in attnum order, and those
 * dropped again may or may not be there. Every combination that gives
 * `fields` values must be the same set of columns, else the row is
 * unreadable. A column whose type changed since the anchor in a way that
 * its old text may read differently in the new type makes the row
 * unreadable too: nothing tells old text from new.
 */
export function inferLayout(anchor: Layout, catalog: readonly CatalogAttribute[], fields: number, textReads: TextReads): LayoutDecision {
  const now = new Map(catalog.map((a) => [a.attnum, a]));
  const maxAnchor = anchor.reduce((m, f) => Math.max(m, f.attnum), 0);
  const always: RowField[] = [];
  const droppedSince: RowField[] = [];
  const retyped = new Set<number>();
  for (const field of anchor) {
    const attr = now.get(field.attnum);
    if (!attr || attr.dropped) {
      droppedSince.push(field);
      continue;
    }
    if (field.typeOid !== 0 && (attr.typeOid !== field.typeOid || attr.typeMod !== field.typeMod) && !textReads(field, attr)) retyped.add(attr.attnum);
    always.push(fieldOf(attr));
  }
  // Added since the anchor, in the order they were added; those dropped again are optional.
  const added = catalog.filter((a) => a.attnum > maxAnchor).sort((a, b) => a.attnum - b.attnum);
  const transient = added.filter((a) => a.dropped).length;
  if (droppedSince.length + transient > MAX_OPTIONAL) {
    return { unreadable: `${droppedSince.length + transient} columns were dropped since the last layout known, too many to tell the rows' layouts apart` };
  }
  const candidates = new Map<string, RowField[]>();
  const consider = (columns: RowField[]) => {
    if (columns.length !== fields) return;
    const sorted = [...columns].sort((a, b) => a.attnum - b.attnum);
    candidates.set(sorted.map((c) => c.attnum).join(','), sorted);
  };
  for (let keptMask = 0; keptMask < 1 << droppedSince.length; keptMask++) {
    const kept = droppedSince.filter((_, i) => keptMask & (1 << i));
    const base = [...always, ...kept];
    // `prefix` columns added so far; of those dropped again, any may still be there.
    for (let prefix = 0; prefix <= added.length; prefix++) {
      const sofar = added.slice(0, prefix);
      const live = sofar.filter((a) => !a.dropped).map(fieldOf);
      const gone = sofar.filter((a) => a.dropped);
      for (let goneMask = 0; goneMask < 1 << gone.length; goneMask++) {
        consider([...base, ...live, ...gone.filter((_, i) => goneMask & (1 << i)).map(fieldOf)]);
      }
    }
  }
  if (candidates.size === 0) {
    return { unreadable: `a queued row has ${fields} values, which no layout the table can have had since the last one known gives` };
  }
  if (candidates.size > 1) {
    return { unreadable: `a queued row has ${fields} values, which ${candidates.size} layouts the table can have had give (columns dropped and added while its changes were queued)` };
  }
  const layout = [...candidates.values()][0] as RowField[];
  const doubtful = layout.filter((f) => retyped.has(f.attnum)).map((f) => f.name);
  if (doubtful.length > 0) {
    return { unreadable: `the type of column ${doubtful.join(', ')} changed while its changes were queued, and a value queued before may read differently in the new type` };
  }
  return { layout };
}

/**
 * The layout the target last recorded, as a queued row holds it: the
 * recorded columns (the stream's descriptions leave generated columns out,
 * a row does not) and the generated columns of the table then, which are
 * those live now below the highest recorded attnum. Without a record, the
 * catalog's layout now.
 */
export function anchorOf(known: readonly { attnum: number | null; name: string; typeOid: number; typeMod: number }[] | undefined,
  catalog: readonly CatalogAttribute[]): Layout {
  if (!known || known.length === 0 || known.some((c) => c.attnum === null)) return catalogLayout(catalog);
  const max = Math.max(...known.map((c) => c.attnum as number));
  const recorded = known.map((c) => ({ attnum: c.attnum as number, name: c.name, typeOid: c.typeOid, typeMod: c.typeMod, generated: false }));
  const generated = catalog.filter((a) => a.generated && !a.dropped && a.attnum < max && !recorded.some((r) => r.attnum === a.attnum)).map(fieldOf);
  return [...recorded, ...generated].sort((a, b) => a.attnum - b.attnum);
}

/** The layout of the catalog now: every live column. */
export function catalogLayout(catalog: readonly CatalogAttribute[]): Layout {
  return catalog.filter((a) => !a.dropped).sort((a, b) => a.attnum - b.attnum).map(fieldOf);
}

function fieldOf(attr: CatalogAttribute): RowField {
  return attr.dropped
    ? { attnum: attr.attnum, name: '', typeOid: 0, typeMod: -1, generated: false }
    : { attnum: attr.attnum, name: attr.name, typeOid: attr.typeOid, typeMod: attr.typeMod, generated: attr.generated };
}

const INT2 = 21;
const INT4 = 23;
const INT8 = 20;
const NUMERIC = 1700;
const TEXT = 25;
const VARCHAR = 1043;
const BPCHAR = 1042;
const UUID = 2950;
/** Types whose type modifier only rounds, on input as in a cast: timestamp, timestamptz, time, timetz, interval, numeric. */
const ROUNDED = new Set([1114, 1184, 1083, 1266, 1186, NUMERIC]);
/** Types whose text output does not depend on settings, and reads as text the same. */
const PLAIN_TEXT = new Set([INT2, INT4, INT8, NUMERIC, TEXT, VARCHAR, UUID]);

/**
 * Whether a value's text in type `from` reads, in type `to`, as the value
 * `ALTER COLUMN … TYPE to` gives it: then a row queued before the change
 * is written right into the changed column. Integer and numeric widening,
 * a longer or unlimited varchar, text; not char(n) to text (the cast drops
 * trailing blanks, the text keeps them), not a shorter varchar (the cast
 * truncates, input fails).
 */
export const textReadsAs: TextReads = (from, to) => {
  if (from.typeOid === to.typeOid) {
    if (ROUNDED.has(from.typeOid)) return true;
    if (from.typeOid === VARCHAR || from.typeOid === BPCHAR) return to.typeMod === -1 || (from.typeMod !== -1 && to.typeMod >= from.typeMod);
    return from.typeMod === to.typeMod;
  }
  if (to.typeOid === TEXT || to.typeOid === VARCHAR && to.typeMod === -1) return PLAIN_TEXT.has(from.typeOid);
  if (from.typeOid === INT2) return to.typeOid === INT4 || to.typeOid === INT8 || to.typeOid === NUMERIC && to.typeMod === -1;
  if (from.typeOid === INT4) return to.typeOid === INT8 || to.typeOid === NUMERIC && to.typeMod === -1;
  if (from.typeOid === INT8) return to.typeOid === NUMERIC && to.typeMod === -1;
  return false;
};
