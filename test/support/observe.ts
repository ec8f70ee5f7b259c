import { createServer } from 'node:net';
import { pino } from 'pino';
import type { Logger } from '../../src/observe/logger.js';

/** A port free right now on 127.0.0.1, for an `observe.listen` the test knows in advance. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Fetched { readonly status: number; readonly type: string; readonly body: string }

/** Every response a test fetched, so that a test can check none of them holds a secret. */
export async function get(url: string, seen?: Fetched[]): Promise<Fetched> {
  const res = await fetch(url);
  const fetched = { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
  seen?.push(fetched);
  return fetched;
}

/**
 * The value of one sample in Prometheus text format, e.g.
 * metric(text, 'ferry_rows_applied_total', { group: 'g', op: 'insert' }); labels not named may be anything.
 * Undefined when no sample matches.
 */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** A logger whose records a test can read. */
export function capturingLogger(): { log: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug', base: undefined }, { write: (line: string) => { records.push(JSON.parse(line) as Record<string, unknown>); } });
  return { log, records };
}
