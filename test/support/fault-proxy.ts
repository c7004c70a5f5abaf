/**
 * A reverse proxy in front of a real test registry that injects failures (status codes, dropped
 * connections) and redirects blob downloads to another loopback host, like registries backed by
 * object storage do.
 */
import { createServer, request as httpRequest, Agent, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestRegistry } from './registries.js';
import { startBlobHost, type BlobHost } from './blob-host.js';

/** Which requests a fault applies to. */
export interface RequestMatch { method?: string; path: RegExp }

/** One request the proxy saw; `status` is 0 while in flight and for dropped connections. */
export interface ProxyLogEntry { method: string; path: string; authorization: boolean; status: number }

/** A running fault proxy. */
export interface FaultProxy {
  readonly host: string;
  readonly url: string;
  /** every request seen: method, path (with query), and whether it had an Authorization header */
  readonly log: ProxyLogEntry[];
  /** answer the next `times` requests matching with `status` (and headers, e.g. Retry-After) instead of forwarding */
  failNext(match: RequestMatch, status: number, times: number, headers?: Record<string, string>): void;
  /** redirect blob GETs (307) to a second listener on 127.0.0.2 that serves the bytes and records Authorization */
  redirectBlobs(enabled: boolean): void;
  readonly redirected: { path: string; authorization: boolean }[];
  /** drop the connection (socket destroy) for the next `times` matching requests */
  resetNext(match: RequestMatch, times: number): void;
  stop(): Promise<void>;
}

interface Fault { match: RequestMatch; remaining: number; status?: number; headers?: Record<string, string> }

const BLOB_GET = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})(\?.*)?$/;

function matches(match: RequestMatch, method: string, path: string): boolean {
  return (match.method === undefined || match.method.toUpperCase() === method) && match.path.test(path);
}

function take(faults: Fault[], method: string, path: string): Fault | undefined {
  const fault = faults.find((f) => f.remaining > 0 && matches(f.match, method, path));
  if (fault !== undefined) fault.remaining -= 1;
  return fault;
}

/** Copies raw response headers, pointing absolute Locations at the registry back at the proxy. */
function rewriteHeaders(raw: string[], registryUrl: string, proxyUrl: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    let value = raw[i + 1] ?? '';
    if (name.toLowerCase() === 'location' && value.startsWith(registryUrl)) value = proxyUrl + value.slice(registryUrl.length);
    out.push(name, value);
  }
  return out;
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** Starts a proxy on 127.0.0.1 forwarding to `target`. */
export async function startFaultProxy(target: TestRegistry): Promise<FaultProxy> {
  const log: ProxyLogEntry[] = [];
  const failures: Fault[] = [];
  const resets: Fault[] = [];
  const agent = new Agent({ keepAlive: true });
  const registry = new URL(target.url);
  let redirect = false;
  let proxyUrl = '';
  const blobHost: BlobHost = await startBlobHost(target.dataDir);

  const forward = (req: IncomingMessage, res: ServerResponse, entry: ProxyLogEntry): void => {
    const headers = { ...req.headers, host: registry.host };
    const upstream = httpRequest(
      { host: registry.hostname, port: registry.port, method: req.method, path: req.url, headers, agent },
      (answer) => {
        entry.status = answer.statusCode ?? 0;
        res.writeHead(entry.status, rewriteHeaders(answer.rawHeaders, target.url, proxyUrl));
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) {
        entry.status = 502;
        res.writeHead(502).end();
      } else res.destroy();
    });
    // A client that gives up mid-request must not leave a half-finished upload hanging at the registry.
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const entry: ProxyLogEntry = { method, path, authorization: req.headers.authorization !== undefined, status: 0 };
    log.push(entry);
    if (take(resets, method, path) !== undefined) {
      req.socket.destroy();
      return;
    }
    const failure = take(failures, method, path);
    if (failure !== undefined) {
      // Read the whole body first: answering mid-upload makes some clients see EPIPE instead of the status.
      req.resume();
      req.once('end', () => {
        entry.status = failure.status ?? 500;
        const body = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected failure', detail: null }] });
        res.writeHead(entry.status, { 'content-type': 'application/json', ...failure.headers }).end(body);
      });
      return;
    }
    const blob = method === 'GET' && redirect ? BLOB_GET.exec(path) : null;
    if (blob !== null) {
      entry.status = 307;
      req.resume();
      res.writeHead(307, { location: `${blobHost.url}/blobs/${blob[2]}?repository=${encodeURIComponent(blob[1] ?? '')}`, 'content-length': '0' }).end();
      return;
    }
    forward(req, res, entry);
  };

  const server = createServer(handle);
  const port = await listen(server, '127.0.0.1');
  proxyUrl = `http://127.0.0.1:${port}`;

  return {
    host: `127.0.0.1:${port}`,
    url: proxyUrl,
    log,
    redirected: blobHost.requests,
    failNext: (match, status, times, headers) => {
      failures.push({ match, status, remaining: times, headers });
    },
    resetNext: (match, times) => {
      resets.push({ match, remaining: times });
    },
    redirectBlobs: (enabled) => {
      redirect = enabled;
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
      await blobHost.stop();
    },
  };
}
