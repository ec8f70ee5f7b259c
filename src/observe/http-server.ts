import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';
import type { Monitor } from './monitor.js';
import { dashboardAsset } from './dashboard-assets.js';
import { FerryError } from '../errors.js';

/** Scrapes and page loads within this long of each other share one reading of the status. */
const FRESH_MS = 1_000;

export interface ObserveServer {
  /** http://host:port/ as a browser would reach it. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `ferry run --listen HOST:PORT`: /metrics (Prometheus), /status (the JSON of
 * `ferry status --json`), /healthz (200 or 503 with the reasons) and the
 * dashboard at /. Read-only: nothing served here can change what Ferry does.
 */
export async function startObserveServer(listen: string, monitor: Monitor, log: Logger): Promise<ObserveServer> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    handle(req, res, monitor).catch((err: unknown) => {
      log.debug({ err: (err as Error).message, path: req.url }, 'observe endpoint failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  // Keep-alive connections of a scraper must not hold the run open at shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new FerryError('FERRY_LISTEN', `cannot listen on ${listen}: ${err.code ?? err.message}`,
      'choose another observe.listen / --listen address, or stop what uses it', { exitCode: 2 })));
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shown === '0.0.0.0' ? '127.0.0.1' : shown === '[::]' ? '[::1]' : shown}:${address.port}/`;
  log.info({ url, listen }, 'serving /metrics, /status, /healthz and the dashboard');
  return { url, close: () => closeServer(server) };
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen);
  const port = Number(m?.[2]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new FerryError('FERRY_CONFIG', `--listen ${listen} is not HOST:PORT`, 'e.g. --listen 127.0.0.1:9187', { exitCode: 2 });
  }
  return { host: m[1] as string, port };
}

async function handle(req: IncomingMessage, res: ServerResponse, monitor: Monitor): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'text/plain; charset=utf-8', 'only GET\n', { allow: 'GET, HEAD' });
    return;
  }
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  switch (path) {
    case '/metrics': {
      await monitor.current(FRESH_MS);
      send(res, 200, monitor.metrics.registry.contentType, await monitor.metrics.registry.metrics());
      return;
    }
    case '/status': {
      const snapshot = await monitor.current(FRESH_MS);
      if (!snapshot.status) send(res, 503, 'application/json', `${JSON.stringify({ error: snapshot.error }, null, 2)}\n`);
      else send(res, 200, 'application/json', `${JSON.stringify(snapshot.status, null, 2)}\n`);
      return;
    }
    case '/healthz': {
      const h = monitor.health(await monitor.current(FRESH_MS));
      send(res, h.healthy ? 200 : 503, 'application/json', `${JSON.stringify(h, null, 2)}\n`);
      return;
    }
    case '/api/dashboard': {
      const snapshot = await monitor.current(FRESH_MS);
      send(res, 200, 'application/json', JSON.stringify({
        at: snapshot.at.toISOString(), status: snapshot.status ?? null, error: snapshot.error ?? null, health: monitor.health(snapshot),
        history: monitor.history.list(), notices: monitor.recentNotices(), limits: monitor.limits(),
      }));
      return;
    }
    default: {
      const asset = await dashboardAsset(path);
      if (!asset) send(res, 404, 'text/plain; charset=utf-8', 'not found: try /, /metrics, /status or /healthz\n');
      else send(res, 200, asset.type, asset.body, { 'cache-control': 'no-cache' });
    }
  }
}

function send(res: ServerResponse, code: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
