import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a server, for fault tests: it forwards
 * bytes both ways until told to cut every connection, or to refuse new ones
 * for a while. Ferry is pointed at the proxy's port instead of the server's.
 */
export interface TcpProxy {
  readonly port: number;
  /** Connections accepted so far (refused ones included), with their time. */
  readonly accepted: readonly number[];
  /** Connections open right now. */
  readonly open: number;
  /**
   * Cuts every open connection. `silently`: only Ferry's side is closed and the
   * server's side stays open but silent, as after a network partition the
   * server did not notice (its backend and walsender live on).
   */
  cut(options?: { silently?: boolean }): number;
  /** New connections are closed at once until `ms` have passed. */
  refuse(ms: number): void;
  close(): Promise<void>;
}

interface Link {
  readonly client: Socket;
  readonly server: Socket;
}

export async function startProxy(upstreamPort: number): Promise<TcpProxy> {
  const links = new Set<Link>();
  // Server sides left open by silent cuts; closed with the proxy.
  const orphans = new Set<Socket>();
  const accepted: number[] = [];
  let refuseUntil = 0;

  const server: Server = createServer((client) => {
    accepted.push(Date.now());
    client.on('error', () => undefined);
    if (Date.now() < refuseUntil) {
      client.destroy();
      return;
    }
    const upstream = connect(upstreamPort, '127.0.0.1');
    upstream.on('error', () => undefined);
    const link = { client, server: upstream };
    links.add(link);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      if (!links.delete(link)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    accepted,
    get open() { return links.size; },
    cut(options = {}) {
      const n = links.size;
      for (const link of [...links]) {
        links.delete(link);
        if (options.silently) {
          link.client.unpipe(link.server);
          link.server.unpipe(link.client);
          // Stop reading, so the server's writes pile up unanswered as over a dead network.
          link.server.pause();
          orphans.add(link.server);
        } else {
          link.server.destroy();
        }
        link.client.destroy();
      }
      return n;
    },
    refuse(ms) {
      refuseUntil = Date.now() + ms;
    },
    async close() {
      for (const link of links) { link.client.destroy(); link.server.destroy(); }
      for (const socket of orphans) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
