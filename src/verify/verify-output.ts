import { formatTable } from '../cli/output.js';
import type { DiffList, TableReport, VerifyReport } from './verify-report.js';

/** `verify` for a terminal: a line per table, then the first differing keys of each table, then where and how it compared. */
export function formatVerifyReport(report: VerifyReport): string {
  const table = formatTable(['table', 'group', 'key', 'source rows', 'target rows', 'missing', 'extra', 'differing', 'result'],
    report.tables.map((t) => [
      t.table, t.group, t.key ? t.key.join(', ') : '(whole row)', String(t.sourceRows), String(t.targetRows),
      String(t.missing.count), String(t.extra.count), t.key ? String(t.differing.count) : '-', t.equal ? 'equal' : 'DIFFERENT',
    ]));
  const details = report.tables.flatMap((t) => [
    ...describe(t, t.missing, 'missing on the target'),
    ...describe(t, t.extra, 'extra on the target'),
    ...describe(t, t.differing, 'differing'),
    ...(t.notCompared ? describe(t, t.notCompared, 'changed on the source while verifying, not compared') : []),
    ...(t.skippedColumns.length > 0 ? [`${t.table}: not compared (generated, or on one side only): ${t.skippedColumns.join(', ')}`] : []),
  ]);
  const sum = (f: (t: TableReport) => number) => report.tables.reduce((a, t) => a + f(t), 0);
  const groups = report.groups.map((g) => `group ${g.group} at ${g.position ?? '-'}${g.running ? '' : ', not being applied'}` +
    `${g.caughtUp === false ? ', behind the source snapshot' : ''}`);
  const reconciled = sum((t) => t.changesReconciled);
  const notCompared = sum((t) => t.notCompared?.count ?? 0);
  const differing = report.tables.filter((t) => !t.equal).length;
  return [
    table,
    ...(details.length > 0 ? ['', ...details] : []),
    '',
    `Compared at source position ${report.sourcePosition}, ${report.method === 'snapshot' ? 'nothing replicating' : 'while replicating'} ` +
      `(${groups.join('; ')})${reconciled > 0 ? `; ${reconciled} changes made meanwhile taken into account` : ''}` +
      `${notCompared > 0 ? `; ${notCompared} rows changed on the source meanwhile not compared` : ''}.`,
    `${sum((t) => t.chunks)} chunks compared, ${sum((t) => t.chunksDrilled)} drilled into row by row, ${sum((t) => t.rowsFetched)} rows fetched, ${report.seconds.toFixed(1)} s.`,
    report.equal ? 'Source and target are equal.' : `${differing} of ${report.tables.length} tables differ.`,
  ].join('\n');
}

function describe(t: TableReport, list: DiffList, what: string): string[] {
  if (list.count === 0) return [];
  const shown = list.keys.length > 0
    ? list.keys.map((k) => Object.entries(k).map(([c, v]) => `${c}=${v}`).join(' '))
    : list.rows.map((r) => (r.count > 1 ? `${r.row} (${r.count} copies)` : r.row));
  const listed = list.keys.length > 0 ? list.keys.length : list.rows.reduce((a, r) => a + r.count, 0);
  const more = list.count > listed ? `, … ${list.count - listed} more` : '';
  return [`${t.table}: ${list.count} ${what}: ${shown.join('; ')}${more}`];
}
