import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Tuple } from '../change/change.js';
import { quoteIdent } from '../pg/connect.js';
import type { TargetRelation } from './target-relation.js';

const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One value in COPY's text format: the source's text, escaped, or \N for NULL. */
function copyValue(value: string | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  return SPECIAL.test(value) ? value.replace(SPECIAL_ALL, (c) => ESCAPES[c] as string) : value;
}

const ROWS_PER_CHUNK = 1000;

/**
 * Inserts rows with COPY, which parses text straight into the table's types:
 * about twice as fast on the target as INSERT … SELECT FROM unnest(…).
 * pg cannot run COPY on a pipelined connection, so pipelining is paused for
 * it; nothing else is in flight on the connection at that moment.
 */
export async function copyRows(client: pg.Client, rel: TargetRelation, rows: readonly Tuple[]): Promise<number> {
  const columns = rel.written.map((i) => quoteIdent(rel.columnNames[i] as string)).join(', ');
  const chunks = function* () {
    for (let start = 0; start < rows.length; start += ROWS_PER_CHUNK) {
      let text = '';
      for (const row of rows.slice(start, start + ROWS_PER_CHUNK)) {
        let line = '';
        for (let n = 0; n < rel.written.length; n++) line += (n === 0 ? '' : '\t') + copyValue(row[rel.written[n] as number]);
        text += `${line}\n`;
      }
      yield Buffer.from(text);
    }
  };
  const pipelined = client as unknown as { pipeline?: boolean };
  const was = pipelined.pipeline;
  pipelined.pipeline = false;
  try {
    const into = client.query(copyFrom(`COPY ${rel.qualifiedName} (${columns}) FROM STDIN`));
    await pipeline(Readable.from(chunks()), into);
    return Number(into.rowCount ?? 0);
  } finally {
    pipelined.pipeline = was;
  }
}
