/**
 * A forwarding proxy in front of a test registry that injects faults the registry client must
 * survive: error statuses, reset connections, bodies cut short or stalled part way, tampered bodies,
 * auth challenges, blob redirects to a second origin (like object storage), a registry that is down
 * for a while (a rolling restart), and random faults at a given rate (a soak).
 */
import { createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Fault {
  match: string;
  times: number;
  method?: string | undefined;
  apply: (req: IncomingMessage, res: ServerResponse) => void;
}

/** A seen request: method, path, the Authorization it carried, and the request body bytes that reached the proxy. */
export interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  bytesIn: number;
  /** Response body bytes sent back, and when the request arrived (epoch ms). */
  bytesOut: number;
  at: number;
  range?: string | undefined;
}

/** Random faults: each request meets one with probability `rate` (of the kinds listed). */
export interface Chaos {
  readonly rate: number;
  readonly kinds: readonly ('reset' | '503' | '429' | 'cut')[];
  /** Only requests whose path includes this (default: all). */
  readonly match?: string;
  /** Deterministic pseudo-random sequence. */
  readonly seed?: number;
}

/** A running proxy. */
export interface ForwardingProxy {
  readonly host: string;
  readonly url: string;
  readonly log: SeenRequest[];
  /** Requests that reached the redirect target. */
  readonly redirected: SeenRequest[];
  failNext(match: string, status: number, times: number, headers?: Record<string, string>, body?: string, method?: string): void;
  /** Takes the request head and then reads nothing more and never answers (a destination that stops reading an upload). */
  stallUploadNext(match: string, times: number): void;
  resetNext(match: string, times: number): void;
  /** Forwards the response head and `afterBytes` of the body, then resets the connection. */
  cutNext(match: string, times: number, afterBytes: number, method?: string): void;
  /** Forwards the response head and `afterBytes` of the body, then sends nothing more (the connection stays open). */
  stallNext(match: string, times: number, afterBytes: number): void;
  /** Lets `afterBytes` of a request body through, then resets the connection (an upload broken part way). */
  cutUploadNext(match: string, times: number, afterBytes: number): void;
  /** Answers 400 PAGINATION_NUMBER_INVALID to a tag list with `n=`, as some distribution versions do. */
  refusePageSize(on: boolean): void;
  /** Closes the listening socket and every connection for `ms`, then listens on the same port again. */
  down(ms: number): Promise<void>;
  /** Random faults from now on (undefined: none). */
  chaos(settings: Chaos | undefined): void;
  /** Faults injected so far by chaos, by kind. */
  readonly injected: Record<string, number>;
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

/** Cuts a response body after some bytes: reset the connection, or send nothing more. */
interface Cut {
  afterBytes: number;
  then: 'reset' | 'stall';
  onCut?: () => void;
}

function forward(target: URL, req: IncomingMessage, res: ServerResponse, tamper: boolean, cut?: Cut, self?: string): void {
  const headers: OutgoingHttpHeaders = { ...req.headers, host: target.host };
  const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers }, (up) => {
    // As a reverse proxy does: the registry's absolute Location (an upload session) points back through the proxy.
    if (self !== undefined && typeof up.headers.location === 'string' && up.headers.location.startsWith(target.origin)) {
      up.headers.location = self + up.headers.location.slice(target.origin.length);
    }
    if (cut !== undefined) {
      res.writeHead(up.statusCode ?? 502, up.headers);
      let sent = 0;
      up.on('data', (c: Buffer) => {
        if (sent >= cut.afterBytes) return;
        const piece = c.subarray(0, cut.afterBytes - sent);
        sent += piece.length;
        res.write(piece);
        if (sent >= cut.afterBytes) {
          cut.onCut?.();
          up.destroy();
          if (cut.then === 'reset') res.socket?.resetAndDestroy();
        }
      });
      up.on('end', () => {
        if (sent < cut.afterBytes) res.end();
      });
      return;
    }
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

/**
 * Forwards a request body until `afterBytes` have gone through, then resets the connection: the
 * registry keeps what it received (an upload session's offset grows), the client sees a reset.
 */
function cutUpload(target: URL, req: IncomingMessage, afterBytes: number): void {
  const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers: { ...req.headers, host: target.host } }, (up) =>
    up.resume(),
  );
  upstream.on('error', () => undefined);
  let seen = 0;
  req.on('data', (c: Buffer) => {
    if (seen >= afterBytes) return;
    const piece = c.subarray(0, afterBytes - seen);
    seen += piece.length;
    upstream.write(piece);
    if (seen >= afterBytes) {
      // Give the registry a moment to store what it got, then break both connections.
      setTimeout(() => {
        upstream.destroy();
        req.socket.resetAndDestroy();
      }, 200);
    }
  });
}

/** Options of {@link startForwardingProxy}. */
export interface ProxyOptions {
  /** Rewrites the registry's absolute Location headers to the proxy, so that uploads go through it too. */
  readonly rewriteLocation?: boolean;
}

/** Starts a proxy for the registry at `targetUrl` plus a second-origin redirect target. */
export async function startForwardingProxy(targetUrl: string, options: ProxyOptions = {}): Promise<ForwardingProxy> {
  const target = new URL(targetUrl);
  let self: string | undefined;
  const faults: Fault[] = [];
  const log: SeenRequest[] = [];
  const redirected: SeenRequest[] = [];
  const tampers: { match: string; times: number }[] = [];
  let redirect = false;
  let challenge = false;
  let paginate = false;
  let referrers: Map<string, unknown[]> | undefined;

  const storage = createServer((req, res) => {
    redirected.push({
      method: req.method ?? '',
      path: req.url ?? '',
      authorization: req.headers.authorization,
      bytesIn: 0,
      bytesOut: 0,
      at: Date.now(),
    });
    forward(target, req, res, false);
  });
  const storagePort = await listen(storage);

  let refuseN = false;
  let chaos: Chaos | undefined;
  let random = (): number => Math.random();
  const injected: Record<string, number> = {};
  const sockets = new Set<import('node:net').Socket>();

  const take = <T extends { match: string; times: number }>(list: T[], path: string): T | undefined => {
    const hit = list.find((f) => f.times > 0 && path.includes(f.match));
    if (hit) hit.times--;
    return hit;
  };

  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    const seen: SeenRequest = {
      method: req.method ?? '',
      path,
      authorization: req.headers.authorization,
      bytesIn: 0,
      bytesOut: 0,
      at: Date.now(),
      range: typeof req.headers.range === 'string' ? req.headers.range : undefined,
    };
    log.push(seen);
    req.on('data', (c: Buffer) => (seen.bytesIn += c.length));
    const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (Buffer.isBuffer(chunk) || typeof chunk === 'string') seen.bytesOut += Buffer.byteLength(chunk);
      return write(chunk, ...rest);
    }) as typeof res.write;
    const fault = take(
      faults.filter((f) => f.method === undefined || f.method === req.method),
      path,
    );
    if (fault) return fault.apply(req, res);
    if (chaos !== undefined && (chaos.match === undefined || path.includes(chaos.match)) && random() < chaos.rate) {
      const kind = chaos.kinds[Math.floor(random() * chaos.kinds.length)] ?? 'reset';
      // A cut counts only when the body was long enough to be cut (a HEAD's is empty).
      if (kind !== 'cut') injected[kind] = (injected[kind] ?? 0) + 1;
      if (kind === 'reset') return req.socket.resetAndDestroy();
      if (kind === '503' || kind === '429') {
        req.resume();
        res.writeHead(Number(kind), { 'content-type': 'application/json', ...(kind === '429' ? { 'retry-after': '1' } : {}) });
        return res.end(`{"errors":[{"code":"${kind === '429' ? 'TOOMANYREQUESTS' : 'UNAVAILABLE'}","message":"injected ${kind}"}]}`);
      }
      return forward(
        target,
        req,
        res,
        false,
        { afterBytes: Math.floor(random() * 4096), then: 'reset', onCut: () => void (injected.cut = (injected.cut ?? 0) + 1) },
        self,
      );
    }
    if (refuseN && /\/tags\/list/.test(path) && /[?&]n=/.test(path)) {
      res.writeHead(400, { 'content-type': 'application/json' });
      return res.end('{"errors":[{"code":"PAGINATION_NUMBER_INVALID","message":"invalid number of results requested"}]}');
    }
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
    forward(target, req, res, take(tampers, path) !== undefined, undefined, self);
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
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  if (options.rewriteLocation) self = `http://127.0.0.1:${port}`;

  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    log,
    redirected,
    failNext(
      match,
      status,
      times,
      headers = {},
      body = `{"errors":[{"code":"UNAVAILABLE","message":"injected ${status}"}]}`,
      method = undefined,
    ) {
      faults.push({
        match,
        times,
        method,
        apply: (req, res) => {
          req.resume();
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(body);
        },
      });
    },
    stallUploadNext(match, times) {
      faults.push({ match, times, method: 'PUT', apply: (req) => req.pause() });
      faults.push({ match, times, method: 'PATCH', apply: (req) => req.pause() });
    },
    cutNext(match, times, afterBytes, method) {
      faults.push({ match, times, method, apply: (req, res) => forward(target, req, res, false, { afterBytes, then: 'reset' }, self) });
    },
    stallNext(match, times, afterBytes) {
      faults.push({ match, times, apply: (req, res) => forward(target, req, res, false, { afterBytes, then: 'stall' }, self) });
    },
    cutUploadNext(match, times, afterBytes) {
      faults.push({ match, times, method: 'PATCH', apply: (req) => cutUpload(target, req, afterBytes) });
      faults.push({ match, times, method: 'PUT', apply: (req) => cutUpload(target, req, afterBytes) });
    },
    refusePageSize(on) {
      refuseN = on;
    },
    async down(ms) {
      await new Promise((r) => {
        server.close(r);
        for (const socket of sockets) socket.destroy();
      });
      await new Promise((r) => setTimeout(r, ms));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
    },
    chaos(settings) {
      chaos = settings;
      if (settings?.seed !== undefined) {
        let state = settings.seed >>> 0 || 1;
        random = () => {
          state ^= state << 13;
          state ^= state >>> 17;
          state ^= state << 5;
          return (state >>> 0) / 0x1_0000_0000;
        };
      }
    },
    injected,
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
      chaos = undefined;
      refuseN = false;
    },
    async stop() {
      server.closeAllConnections();
      storage.closeAllConnections();
      await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => storage.close(r))]);
    },
  };
}
