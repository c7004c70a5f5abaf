/**
 * A forwarding proxy in front of a test registry that injects faults the registry client must
 * survive: error statuses, reset connections, bodies cut short or stalled part way, uploads broken
 * part way (with or without the registry seeing the part sent), tampered bodies, auth challenges,
 * blob redirects to a second origin (like object storage), a registry that is down for a while (a
 * rolling restart), and random faults at a given rate (a soak).
 */
import { createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Fault {
  match: string;
  times: number;
  /** One method, or several; any when absent. */
  method?: string | readonly string[] | undefined;
  /** Only requests for which this holds (default all). */
  when?: (req: IncomingMessage) => boolean;
  apply: (req: IncomingMessage, res: ServerResponse) => void;
}

/** Where an upload request's body starts in the blob: its Content-Range, else 0. */
function chunkStart(req: IncomingMessage): number {
  return Number(/^(\d+)-/.exec(String(req.headers['content-range'] ?? ''))?.[1] ?? 0);
}

/** An upload request whose body is longer than `bytes` (a cut after `bytes` can happen in it), at or after `fromOffset`. */
function uploadLongerThan(bytes: number, options: UploadCutOptions = {}): (req: IncomingMessage) => boolean {
  return (req) =>
    (req.method === 'PATCH' || req.method === 'PUT') &&
    Number(req.headers['content-length'] ?? 0) > bytes &&
    chunkStart(req) >= (options.fromOffset ?? 0);
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
  /** The Content-Range of a chunk of an upload. */
  contentRange?: string | undefined;
}

/** Which uploads a cut applies to. */
export interface UploadCutOptions {
  /** Only a chunk whose Content-Range starts at or after this offset (a monolithic PUT counts as 0). */
  readonly fromOffset?: number;
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
  /**
   * Takes the request head of a PUT or PATCH and then reads nothing more and never answers (a
   * destination that stops reading an upload); with `longerThan`, only a body longer than that.
   */
  stallUploadNext(match: string, times: number, longerThan?: number): void;
  /** Reads a PUT or PATCH body to its end and never answers (a registry that hangs while it commits). */
  swallowUploadNext(match: string, times: number): void;
  resetNext(match: string, times: number): void;
  /** Forwards the response head and `afterBytes` of the body, then resets the connection. */
  cutNext(match: string, times: number, afterBytes: number, method?: string): void;
  /** Forwards the response head and `afterBytes` of the body, then sends nothing more (the connection stays open). */
  stallNext(match: string, times: number, afterBytes: number): void;
  /**
   * Passes the request on whole and lets the registry answer, then resets the client's connection
   * without passing the answer on: the registry acted (stored a manifest, committed a blob or a
   * chunk) and the client never heard of it.
   */
  loseAnswerNext(match: string, times: number, method?: string): void;
  /** Forwards matching requests only once `until` has settled (a registry slow to answer them). */
  holdNext(match: string, times: number, until: Promise<unknown>): void;
  /**
   * Lets `afterBytes` of a PATCH or PUT body through, then resets the connection (an upload broken part
   * way). distribution then gives up the session (the bytes it holds differ from its last answer);
   * with keepUploadSessions on, the registry keeps the part received and the session goes on.
   */
  cutUploadNext(match: string, times: number, afterBytes: number, options?: UploadCutOptions): void;
  /**
   * Takes `afterBytes` of a PATCH or PUT body and resets the connection without passing any of it on,
   * as a front that buffers request bodies does: the registry never sees the request, and its upload
   * session stays where it was.
   */
  dropUploadNext(match: string, times: number, afterBytes: number, options?: UploadCutOptions): void;
  /**
   * The registry forgets an upload session (as one that purged it, or a node without shared storage):
   * the first chunk that starts at or after `fromOffset` and every later request of its session are
   * answered 404 BLOB_UPLOAD_UNKNOWN.
   */
  loseUploadSessionAt(fromOffset: number): void;
  /** The registry forgets every upload session seen so far: each later request of one is answered 404 BLOB_UPLOAD_UNKNOWN. */
  forgetUploadSessions(): void;
  /**
   * Makes distribution keep upload sessions as registries that hold their state themselves do: the
   * state distribution puts in each Location (`_state`, which carries the offset) is remembered per
   * session and put into every later request of it, and an upload cut by cutUploadNext keeps the
   * part the registry received (it is passed on as a complete, shorter chunk).
   */
  keepUploadSessions(on: boolean): void;
  /** Answers 400 PAGINATION_NUMBER_INVALID to a tag list with `n=`, as some distribution versions do. */
  refusePageSize(on: boolean): void;
  /** Closes the listening socket and every connection for `ms`, then listens on the same port again. */
  down(ms: number): Promise<void>;
  /** Random faults from now on (undefined: none). */
  chaos(settings: Chaos | undefined): void;
  /** Faults injected so far by chaos, by kind. */
  readonly injected: Record<string, number>;
  /**
   * The next `times` answers whose path contains `match` come with their body's last byte changed
   * (same length: only a digest check can tell). With `holdTail`, all but the body's last 64 KiB go at
   * once and the rest (with the changed byte) once `holdTail` resolves: a client that streams the body
   * on has then sent on what came before it saw the change.
   */
  tamperNext(match: string, times: number, holdTail?: () => Promise<void>): void;
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

function forward(
  target: URL,
  req: IncomingMessage,
  res: ServerResponse,
  tamper: { holdTail?: (() => Promise<void>) | undefined } | undefined,
  cut?: Cut,
  self?: string,
  onResponse?: (up: IncomingMessage) => void,
): void {
  const headers: OutgoingHttpHeaders = { ...req.headers, host: target.host };
  const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers }, (up) => {
    onResponse?.(up);
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
    if (tamper === undefined) {
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
      if (tamper.holdTail === undefined) return void res.end(body);
      const head = Math.max(0, body.length - 64 * 1024);
      res.write(body.subarray(0, head));
      void tamper.holdTail().then(
        () => res.end(body.subarray(head)),
        () => res.destroy(),
      );
    });
  });
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
}

/**
 * Breaks an upload after `afterBytes` of its body:
 * - `forward`: passes them on, then resets both connections: the registry received part of a request;
 * - `drop`: passes nothing on and resets the client: the registry never sees the request;
 * - `keep`: passes them on as a complete request of that length (Content-Length and Content-Range
 *   rewritten), then resets the client: the registry holds the part, the client never hears of it.
 */
function cutUpload(
  target: URL,
  req: IncomingMessage,
  afterBytes: number,
  mode: 'forward' | 'drop' | 'keep',
  onResponse?: (up: IncomingMessage) => void,
): void {
  const headers: OutgoingHttpHeaders = { ...req.headers, host: target.host };
  if (mode === 'keep') {
    const start = chunkStart(req);
    headers['content-length'] = String(afterBytes);
    if (afterBytes > 0) headers['content-range'] = `${start}-${start + afterBytes - 1}`;
  }
  let seen = 0;
  const breakClient = (): void => void req.socket.resetAndDestroy();
  const upstream =
    mode === 'drop'
      ? undefined
      : request(new URL(req.url ?? '/', target), { method: req.method, headers }, (up) => {
          onResponse?.(up);
          up.resume();
          if (mode === 'keep') up.on('end', breakClient);
        });
  upstream?.on('error', () => undefined);
  req.on('data', (c: Buffer) => {
    if (seen >= afterBytes) return;
    const piece = c.subarray(0, afterBytes - seen);
    seen += piece.length;
    upstream?.write(piece);
    if (seen < afterBytes) return;
    if (mode === 'drop') return breakClient();
    if (mode === 'keep') return void upstream?.end();
    // Give the registry a moment to store what it got, then break both connections.
    setTimeout(() => {
      upstream?.destroy();
      breakClient();
    }, 200);
  });
}

/** The id of an upload session in a path (`/v2/<name>/blobs/uploads/<id>?...`). */
function uploadId(path: string): string | undefined {
  return /\/blobs\/uploads\/([^/?]+)/.exec(path)?.[1];
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
  const tampers: { match: string; times: number; holdTail?: (() => Promise<void>) | undefined }[] = [];
  let redirect = false;
  let challenge = false;
  let paginate = false;
  let referrers: Map<string, unknown[]> | undefined;
  /** loseUploadSessionAt: the offset from which a session is forgotten, and the sessions forgotten. */
  let loseAt: number | undefined;
  const lostSessions = new Set<string>();
  /** keepUploadSessions: the `_state` of each upload session's latest Location. */
  let keepSessions = false;
  const sessionStates = new Map<string, { state: string; offset: number }>();
  const rememberSession = (up: IncomingMessage): void => {
    const location = up.headers.location;
    if (!keepSessions || typeof location !== 'string') return;
    const id = uploadId(location);
    const state = new URL(location, target).searchParams.get('_state');
    const last = Number(/^0-(\d+)$/.exec(String(up.headers.range ?? ''))?.[1] ?? 0);
    if (id !== undefined && state !== null) sessionStates.set(id, { state, offset: last === 0 ? 0 : last + 1 });
  };
  /** keepUploadSessions: a chunk that does not start where the session is, answered 416 as the spec says (distribution 2.8 would append it). */
  const misplacedChunk = (req: IncomingMessage): boolean => {
    const id = uploadId(req.url ?? '');
    const session = id === undefined ? undefined : sessionStates.get(id);
    return keepSessions && req.method === 'PATCH' && session !== undefined && chunkStart(req) !== session.offset;
  };
  /** The request path with the session's latest `_state` (keepUploadSessions). */
  const withSessionState = (path: string): string => {
    const id = uploadId(path);
    const state = id === undefined ? undefined : sessionStates.get(id)?.state;
    if (!keepSessions || state === undefined) return path;
    const url = new URL(path, 'http://proxy.invalid');
    url.searchParams.set('_state', state);
    return `${url.pathname}${url.search}`;
  };

  const storage = createServer((req, res) => {
    redirected.push({
      method: req.method ?? '',
      path: req.url ?? '',
      authorization: req.headers.authorization,
      bytesIn: 0,
      bytesOut: 0,
      at: Date.now(),
    });
    forward(target, req, res, undefined);
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
    if (keepSessions) req.url = withSessionState(req.url ?? '/');
    const path = req.url ?? '/';
    const seen: SeenRequest = {
      method: req.method ?? '',
      path,
      authorization: req.headers.authorization,
      bytesIn: 0,
      bytesOut: 0,
      at: Date.now(),
      range: typeof req.headers.range === 'string' ? req.headers.range : undefined,
      contentRange: typeof req.headers['content-range'] === 'string' ? req.headers['content-range'] : undefined,
    };
    log.push(seen);
    req.on('data', (c: Buffer) => (seen.bytesIn += c.length));
    const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (Buffer.isBuffer(chunk) || typeof chunk === 'string') seen.bytesOut += Buffer.byteLength(chunk);
      return write(chunk, ...rest);
    }) as typeof res.write;
    const fault = take(
      faults.filter(
        (f) =>
          (f.method === undefined || (typeof f.method === 'string' ? f.method === req.method : f.method.includes(req.method ?? ''))) &&
          (f.when === undefined || f.when(req)),
      ),
      path,
    );
    if (fault) return fault.apply(req, res);
    const session = uploadId(path);
    if (session !== undefined && loseAt !== undefined && req.method === 'PATCH' && chunkStart(req) >= loseAt) {
      lostSessions.add(session);
      loseAt = undefined;
    }
    if (session !== undefined && lostSessions.has(session)) {
      req.resume();
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end('{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown to registry"}]}');
    }
    if (misplacedChunk(req)) {
      req.resume();
      res.writeHead(416, { 'content-type': 'application/json' });
      return res.end('{"errors":[{"code":"RANGE_INVALID","message":"invalid content range"}]}');
    }
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
        undefined,
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
    forward(target, req, res, take(tampers, path), undefined, self, rememberSession);
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
    stallUploadNext(match, times, longerThan) {
      faults.push({
        match,
        times,
        method: ['PUT', 'PATCH'],
        ...(longerThan === undefined ? {} : { when: uploadLongerThan(longerThan) }),
        apply: (req) => req.pause(),
      });
    },
    swallowUploadNext(match, times) {
      faults.push({ match, times, method: ['PUT', 'PATCH'], apply: (req) => void req.resume() });
    },
    cutNext(match, times, afterBytes, method) {
      faults.push({ match, times, method, apply: (req, res) => forward(target, req, res, undefined, { afterBytes, then: 'reset' }, self) });
    },
    stallNext(match, times, afterBytes) {
      faults.push({ match, times, apply: (req, res) => forward(target, req, res, undefined, { afterBytes, then: 'stall' }, self) });
    },
    loseAnswerNext(match, times, method) {
      faults.push({
        match,
        times,
        method,
        apply: (req) => {
          const lose = (): void => void req.socket.resetAndDestroy();
          const upstream = request(
            new URL(req.url ?? '/', target),
            { method: req.method, headers: { ...req.headers, host: target.host } },
            (up) => {
              rememberSession(up);
              up.resume();
              up.on('end', lose);
            },
          );
          upstream.on('error', lose);
          req.pipe(upstream);
        },
      });
    },
    holdNext(match, times, until) {
      const release = until.catch(() => undefined);
      faults.push({ match, times, apply: (req, res) => void release.then(() => forward(target, req, res, undefined, undefined, self)) });
    },
    cutUploadNext(match, times, afterBytes, options) {
      const apply = (req: IncomingMessage): void => cutUpload(target, req, afterBytes, keepSessions ? 'keep' : 'forward', rememberSession);
      faults.push({ match, times, when: uploadLongerThan(afterBytes, options), apply });
    },
    dropUploadNext(match, times, afterBytes, options) {
      faults.push({
        match,
        times,
        when: uploadLongerThan(afterBytes, options),
        apply: (req) => cutUpload(target, req, afterBytes, 'drop'),
      });
    },
    loseUploadSessionAt(fromOffset) {
      loseAt = fromOffset;
    },
    forgetUploadSessions() {
      for (const l of log) {
        const id = uploadId(l.path);
        if (id !== undefined) lostSessions.add(id);
      }
    },
    keepUploadSessions(on) {
      keepSessions = on;
      if (!on) sessionStates.clear();
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
    tamperNext(match, times, holdTail) {
      tampers.push({ match, times, holdTail });
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
      loseAt = undefined;
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
