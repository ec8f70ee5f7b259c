import type { StreamSource } from '../capture.js';
import { formatBinlogPosition } from './binlog-stream-position.js';

/**
 * `capture: binlog` as run, status and wait use it (binlog-stream-source.ts),
 * loaded on first use: its driver (mysql2) is a tenth of a second of every
 * start, which a PostgreSQL source need not pay.
 */
export const binlogSource: StreamSource = {
  name: 'binlog',
  formatPosition: formatBinlogPosition,
  openCatalog: () => undefined,
  openStream: async (start) => (await load()).openStream(start),
  readStatus: async (config, groups) => (await load()).readStatus(config, groups),
  mark: async (config, groups, label) => (await load()).mark(config, groups, label),
};

async function load(): Promise<StreamSource> {
  return (await import('./binlog-stream-source.js')).binlogStreamSource;
}
