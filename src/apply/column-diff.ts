/**
 * What changed between two descriptions of one source table. Columns are
 * matched by their source attribute number where the source catalog could
 * tell it, so a renamed column is renamed, not dropped and added again.
 */

/** A column as a description of the stream had it. */
export interface LayoutColumn {
  /** pg_attribute.attnum on the source; null where the catalog no longer has a column of this name. */
  readonly attnum: number | null;
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
  readonly isKey: boolean;
}

export type ColumnChange =
  | { readonly kind: 'rename'; readonly from: string; readonly to: string }
  | { readonly kind: 'add'; readonly column: LayoutColumn }
  | { readonly kind: 'drop'; readonly column: LayoutColumn }
  | { readonly kind: 'type'; readonly column: LayoutColumn };

/**
 * Changes from `before` to `after`, in the order they apply: renames first
 * (so a name freed by one can be taken by another change), then drops, type
 * changes and additions. Without `before` (a table first seen since this
 * record was kept) every column is a candidate addition; the caller keeps
 * those the target lacks.
 */
export function diffColumns(before: readonly LayoutColumn[] | undefined, after: readonly LayoutColumn[]): ColumnChange[] {
  if (!before) return after.map((column) => ({ kind: 'add', column }));
  const matched = new Map<LayoutColumn, LayoutColumn>();
  const unmatchedOld = new Set(before);
  // By attribute number: the same column, whatever its name is now.
  for (const column of after) {
    if (column.attnum === null) continue;
    const old = before.find((o) => o.attnum === column.attnum && unmatchedOld.has(o));
    if (old) { matched.set(column, old); unmatchedOld.delete(old); }
  }
  // By name, where a number is unknown on either side.
  for (const column of after) {
    if (matched.has(column)) continue;
    const old = before.find((o) => o.name === column.name && unmatchedOld.has(o) && (o.attnum === null || column.attnum === null));
    if (old) { matched.set(column, old); unmatchedOld.delete(old); }
  }
  // The catalog had moved on when one side was described (renamed again since): the same place and type is the same column.
  after.forEach((column, index) => {
    if (matched.has(column)) return;
    const old = before[index];
    if (old && unmatchedOld.has(old) && (old.attnum === null || column.attnum === null) && old.typeOid === column.typeOid
      && !after.some((c) => c.name === old.name)) {
      matched.set(column, old);
      unmatchedOld.delete(old);
    }
  });
  const renames: ColumnChange[] = [];
  const types: ColumnChange[] = [];
  const adds: ColumnChange[] = [];
  for (const column of after) {
    const old = matched.get(column);
    if (!old) { adds.push({ kind: 'add', column }); continue; }
    if (old.name !== column.name) renames.push({ kind: 'rename', from: old.name, to: column.name });
    if (old.typeOid !== column.typeOid || old.typeMod !== column.typeMod) types.push({ kind: 'type', column });
  }
  const drops: ColumnChange[] = [...unmatchedOld].map((column) => ({ kind: 'drop', column }));
  return [...renames, ...drops, ...types, ...adds];
}
