/**
 * A forwarding proxy in front of a test registry that injects faults the registry client must
 * survive: error statuses, reset connections, tampered bodies, auth challenges and blob redirects to
 * a second origin (like object storage).
 */
import { createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Fault { match: string; times: number; apply: (req: IncomingMessage, res: ServerResponse) => void }

/** A seen request: method, path and the Authorization it carried. */
export interface SeenRequest { method: string; path: string; authorization: string | undefined }

/** A running proxy. */
export interface ForwardingProxy {
  readonly host: string;
  readonly url: string;
  readonly log: SeenRequest[];
  /** Requests that reached the redirect target. */
  readonly redirected: SeenRequest[];
  failNext(match: string, status: number, times: number, headers?: Record<string, string>): void;
  resetNext(match: string, times: number): void;
  tamperNext(match: string, times: number): void;
  redirectBlobs(on: boolean): void;
  forceAuthChallenge(on: boolean): void;
  /** Serves tag lists in pages of `?n=` with `Link` headers (distribution 2.8 ignores `n`). */
  paginateTags(on: boolean): void;
  /**
   * Answers the OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`, which distribution 2.8
   * lacks) from `entries` by subject digest, an empty index for any other; undefined turns it off.
   */
  serveReferrers(entries: Map<string, unknown[]> | undefined): void;
  reset(): void;
  stop(): Promise<void>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function forward(target: URL, req: IncomingMessage, res: ServerResponse, tamper: boolean): void {
  const headers: OutgoingHttpHeaders = { ...req.headers, host: target.host };
  const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers }, (up) => {
    if (!tamper) {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
      return;
    }
    const chunks: Buffer[] = [];
    up.on('data', (c: Buffer) => chunks.push(c));
    up.on('end', () => {
      const body = Buffer.concat(chunks);
      // Same length, one byte changed: only a digest check can notice.
      if (body.length > 0) body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0x01;
      res.writeHead(up.statusCode ?? 502, up.headers);
      res.end(body);
    });
  });
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
}

/** Starts a proxy for the registry at `targetUrl` plus a second-origin redirect target. */
export async function startForwardingProxy(targetUrl: string): Promise<ForwardingProxy> {
  const target = new URL(targetUrl);
  const faults: Fault[] = [];
  const log: SeenRequest[] = [];
  const redirected: SeenRequest[] = [];
  const tampers: { match: string; times: number }[] = [];
  let redirect = false;
  let challenge = false;
  let paginate = false;
  let referrers: Map<string, unknown[]> | undefined;

  const storage = createServer((req, res) => {
    redirected.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
    forward(target, req, res, false);
  });
  const storagePort = await listen(storage);

  const take = <T extends { match: string; times: number }>(list: T[], path: string): T | undefined => {
    const hit = list.find((f) => f.times > 0 && path.includes(f.match));
    if (hit) hit.times--;
    return hit;
  };

  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    log.push({ method: req.method ?? '', path, authorization: req.headers.authorization });
    const fault = take(faults, path);
    if (fault) return fault.apply(req, res);
    if (challenge && req.headers.authorization === undefined) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="proxy"', 'content-type': 'application/json' });
      return res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    }
    if (redirect && req.method === 'GET' && /\/blobs\/sha256:/.test(path)) {
      // 127.0.0.1 vs localhost would share cookies but not an origin; a different port is a different origin.
      res.writeHead(307, { location: `http://127.0.0.1:${storagePort}${path}?X-Amz-Signature=secret` });
      return res.end();
    }
    const referrersPath = /^\/v2\/.+\/referrers\/(sha256:[0-9a-f]{64})$/.exec(path);
    if (referrers !== undefined && req.method === 'GET' && referrersPath !== null) {
      const manifests = referrers.get(referrersPath[1] ?? '') ?? [];
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' });
      return res.end(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    }
    if (paginate && /\/tags\/list/.test(path)) {
      paginated(req, res).catch((error: unknown) => res.destroy(error instanceof Error ? error : new Error(String(error))));
      return;
    }
    forward(target, req, res, take(tampers, path) !== undefined);
  });

  // Pages as distribution 3 serves them: sorted, after `last`, `n` per page; the first Link is
  // relative and later ones absolute, so both forms are exercised.
  const paginated = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://proxy.invalid');
    const upstream = await fetch(new URL(url.pathname, target));
    const body = (await upstream.json()) as { name: string; tags: string[] };
    const n = Number(url.searchParams.get('n') ?? '100');
    const last = url.searchParams.get('last');
    const rest = body.tags.sort().filter((t) => last === null || t > last);
    const page = rest.slice(0, n);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (rest.length > n) {
      const next = `${url.pathname}?last=${encodeURIComponent(page[page.length - 1] ?? '')}&n=${n}`;
      headers.link = `<${last === null ? next : `http://127.0.0.1:${port}${next}`}>; rel="next"`;
    }
    res.writeHead(200, headers).end(JSON.stringify({ name: body.name, tags: page }));
  };
  const port = await listen(server);

  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    log,
    redirected,
    failNext(match, status, times, headers = {}) {
      faults.push({ match, times, apply: (req, res) => {
        req.resume();
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(`{"errors":[{"code":"UNAVAILABLE","message":"injected ${status}"}]}`);
      } });
    },
    resetNext(match, times) {
      faults.push({ match, times, apply: (req) => req.socket.resetAndDestroy() });
    },
    tamperNext(match, times) {
      tampers.push({ match, times });
    },
    redirectBlobs(on) {
      redirect = on;
    },
    forceAuthChallenge(on) {
      challenge = on;
    },
    paginateTags(on) {
      paginate = on;
    },
    serveReferrers(entries) {
      referrers = entries;
    },
    reset() {
      faults.length = 0;
      tampers.length = 0;
    },
    async stop() {
      server.closeAllConnections();
      storage.closeAllConnections();
      await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => storage.close(r))]);
    },
  };
}
