import type pg from 'pg';
import type { FerryConfig } from '../config/schema.js';
import { connect } from '../pg/connect.js';
import { SourceCatalog } from '../run/source-catalog.js';
import type { Capture, CaptureStatusReport, StreamSource } from './capture.js';
import { ddlCaptureOn } from './ddl-capture/ddl-capture-install.js';

/** A PostgreSQL capture method as run, status and wait use it: each call on a source connection of its own. */
export function pgStreamSource(capture: Capture): StreamSource {
  return {
    name: capture.name,
    formatPosition: (position) => capture.formatPosition(position),
    openStream: (start) => capture.openStream(start),
    openCatalog: (config, group) => new SourceCatalog(config.source.url, group.name),
    readStatus: (config, groups) => onSource(config, 'ferry:status', async (source) => {
      const report = await capture.status(source, groups);
      return withDdlCapture(source, report);
    }),
    mark: (config, groups, label) => onSource(config, 'ferry:wait', (source) => capture.writeMarker(source, groups, label)),
  };
}

async function onSource<T>(config: FerryConfig, applicationName: string, body: (source: pg.Client) => Promise<T>): Promise<T> {
  const source = await connect(config.source.url, { role: 'source', applicationName });
  try {
    return await body(source);
  } finally {
    await source.end().catch(() => undefined);
  }
}

/** Whether each group's DDL is captured on the source; null where the role cannot tell. */
async function withDdlCapture(source: pg.Client, report: CaptureStatusReport): Promise<CaptureStatusReport> {
  const groups = new Map(report.groups);
  for (const [name, status] of groups) {
    const ddlCapture = await ddlCaptureOn(source, name).catch((err: unknown) => {
      if ((err as { code?: string }).code === '42501') return null;
      throw err;
    });
    groups.set(name, { ...status, ddlCapture });
  }
  return { ...report, groups };
}
