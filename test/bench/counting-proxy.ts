/**
 * A pass-through HTTP proxy in front of one registry that counts every request by kind. Both tools
 * talk to the registry only through it, so their requests are counted the same way.
 */
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { classify, emptyCounts, type KindCounts } from './request-kinds.js';
import { traceRequest, traceStart, tracing } from './trace.js';

/** A running counting proxy. */
export interface CountingProxy {
  /** "127.0.0.1:PORT": the address the tools are given instead of the registry's. */
  readonly host: string;
  readonly url: string;
  /** Counts since the last {@link CountingProxy.take}. */
  readonly counts: KindCounts;
  /** TCP connections accepted since the last {@link CountingProxy.take}: how well keep-alive is used. */
  readonly connections: number;
  /** Body bytes through the proxy (uploads and downloads) since the last {@link CountingProxy.take}. */
  readonly bytes: number;
  /** 401 answers (auth challenges) since the last {@link CountingProxy.take}. */
  readonly challenges: number;
  /** Returns the counts so far and starts again from zero (connections, bytes and challenges too). */
  take(): KindCounts;
  stop(): Promise<void>;
}

/**
 * Starts a proxy for the registry at `targetUrl`. The client's `Host` header is passed on unchanged:
 * distribution builds its absolute upload `Location` URLs from it, so uploads stay on the proxy
 * instead of going around it to the registry.
 */
export async function startCountingProxy(targetUrl: string): Promise<CountingProxy> {
  const target = new URL(targetUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  let counts = emptyCounts();
  let connections = 0;
  let bytes = 0;
  let challenges = 0;

  /** BENCH_DELAY_MS: each answer waits this long before it goes back, as from a registry far away. */
  const delayMs = Number(process.env.BENCH_DELAY_MS ?? 0);
  /** The number of each connection, for BENCH_TRACE. */
  const numbers = new WeakMap<object, number>();
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    counts[classify(req.method ?? 'GET', req.url ?? '/')] += 1;
    if (tracing) {
      const start = traceStart();
      res.once('finish', () => traceRequest(start, port, numbers.get(req.socket) ?? 0, req.method ?? '', req.url ?? '', res.statusCode));
    }
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        if (up.statusCode === 401) challenges += 1;
        const answer = (): void => {
          res.writeHead(up.statusCode ?? 502, up.rawHeaders);
          up.on('data', (chunk: Buffer) => void (bytes += chunk.length));
          up.pipe(res);
        };
        if (delayMs > 0) setTimeout(answer, delayMs);
        else answer();
      },
    );
    upstream.on('error', () => res.destroy());
    req.on('error', () => upstream.destroy());
    req.on('data', (chunk: Buffer) => void (bytes += chunk.length));
    req.pipe(upstream);
  };

  const server = createServer({ keepAliveTimeout: 30_000 }, forward);
  server.on('connection', (socket) => {
    connections += 1;
    if (tracing) numbers.set(socket, connections);
  });
  // A client that tries HTTPS first (skopeo with --tls-verify=false) sends a TLS hello to this plain
  // port; count the refused handshake so the probe is visible, then let Node answer 400 and close.
  server.on('clientError', (error: Error & { rawPacket?: Buffer }, socket) => {
    // 0x16 opens a TLS handshake record; other client errors are resets of idle keep-alive sockets.
    if (error.rawPacket?.[0] === 0x16) counts.tlsProbe += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    get counts() {
      return counts;
    },
    get connections() {
      return connections;
    },
    get bytes() {
      return bytes;
    },
    get challenges() {
      return challenges;
    },
    take() {
      const taken = counts;
      counts = emptyCounts();
      connections = 0;
      bytes = 0;
      challenges = 0;
      return taken;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
