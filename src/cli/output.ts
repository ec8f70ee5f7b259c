import type { GroupStatus } from '../observe/status.js';

/** A plain-text table for terminals; `--json` output bypasses this. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatStatus(groups: readonly GroupStatus[]): string {
  const rows = groups.map((g) => [
    g.group,
    g.state,
    g.appliedPosition ?? '-',
    g.sourcePosition ?? '-',
    g.lagBytes === null ? '-' : formatBytes(g.lagBytes),
    g.lagSeconds === null ? '-' : `${g.lagSeconds.toFixed(1)}s`,
    String(g.rowsApplied),
    `${g.batches.setBased}/${g.batches.inOrder}`,
    g.slot ? `${g.slot.name}${g.slot.exists ? (g.slot.active ? ' (active)' : ' (inactive)') : ' (missing)'}` : '-',
  ]);
  const table = formatTable(['group', 'state', 'applied', 'source', 'lag', 'lag time', 'rows applied', 'batches set/in order', 'slot'], rows);
  const copying = groups.filter((g) => g.state === 'copying' && g.copy).map((g) => {
    const c = g.copy as NonNullable<GroupStatus['copy']>;
    const pct = c.estimatedBytes > 0 ? ` (~${Math.min(100, Math.round((100 * c.bytes) / c.estimatedBytes))}%)` : '';
    return `${g.group}: copying, ${c.chunksDone}/${c.chunks} chunks, ${c.rows} rows, ${formatBytes(c.bytes)} of ~${formatBytes(c.estimatedBytes)}${pct}`;
  });
  const parted = groups.filter((g) => g.batchInParts).map((g) => {
    const b = g.batchInParts as NonNullable<GroupStatus['batchInParts']>;
    const pct = b.events > 0 ? ` (${Math.min(100, Math.floor((100 * b.eventsApplied) / b.events))}%)` : '';
    return `${g.group}: applying the batch up to tick ${b.toTick} in parts, ${b.eventsApplied} of ${b.events} events${pct}`;
  });
  const held = groups.filter((g) => g.heldChanges > 0)
    .map((g) => `${g.group}: ${g.heldChanges} change(s) of tables joining the group held, applied once their copy is done`);
  // A slot past `reserved` is on its way to being lost: say so where people look.
  const slots = groups.filter((g) => g.slot?.walStatus && g.slot.walStatus !== 'reserved').map((g) => {
    const slot = g.slot as NonNullable<GroupStatus['slot']>;
    return `${g.group}: slot ${slot.name} wal_status ${slot.walStatus}, ${formatBytes(slot.retainedBytes ?? 0)} retained`
      + `${slot.safeWalSize === null ? '' : `, ${formatBytes(Math.max(0, slot.safeWalSize))} more before it is at risk`}`;
  });
  const ddlState = (g: GroupStatus) => (g.ddlCapture === null ? 'unknown (the source role may not read it)' : g.ddlCapture ? 'on' : 'off');
  const told = groups.filter((g) => g.ddlCapture !== undefined);
  // One line when every group is the same, as is usual.
  const ddl = told.length > 1 && told.every((g) => g.ddlCapture === told[0]?.ddlCapture)
    ? [`DDL capture ${ddlState(told[0] as GroupStatus)} for every group`]
    : told.map((g) => `${g.group}: DDL capture ${ddlState(g)}`);
  const errors = groups.filter((g) => g.lastError).map((g) => `${g.group}: last error at ${g.lastErrorAt}: ${g.lastError}`);
  return [table, ...(copying.length > 0 ? ['', ...copying] : []), ...(parted.length > 0 ? ['', ...parted] : []), ...(held.length > 0 ? ['', ...held] : []),
    ...(slots.length > 0 ? ['', ...slots] : []), ...(ddl.length > 0 ? ['', ...ddl] : []), ...(errors.length > 0 ? ['', ...errors] : [])].join('\n');
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
