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
    g.slot ? `${g.slot.name}${g.slot.exists ? (g.slot.active ? ' (active)' : ' (inactive)') : ' (missing)'}` : '-',
  ]);
  const table = formatTable(['group', 'state', 'applied', 'source', 'lag', 'lag time', 'rows applied', 'slot'], rows);
  const errors = groups.filter((g) => g.lastError).map((g) => `${g.group}: last error at ${g.lastErrorAt}: ${g.lastError}`);
  return errors.length > 0 ? `${table}\n\n${errors.join('\n')}` : table;
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
