/**
 * The bottom layer: one HTTP exchange over undici, counted. Connections are pooled per origin by
 * one keep-alive Agent, sized for parallel blob streams. TLS settings can only be chosen per Agent in
 * undici, so registries marked `insecure`, and registries with their own CAs or client certificate,
 * get their own lazily created Agents. With HTTPS_PROXY, HTTP_PROXY or NO_PROXY in the environment,
 * every Agent is undici's EnvHttpProxyAgent, which tunnels through the proxy with CONNECT.
 */
import { rootCertificates, type ConnectionOptions } from 'node:tls';
import { Agent, buildConnector, EnvHttpProxyAgent, type Dispatcher } from 'undici';
import type { TlsMaterial } from '../credentials.js';
import type { AdaptiveLimiter } from './adaptive-limit.js';
import { watchUpload, type WatchedUpload } from './stall.js';
import type { RequestKind, UploadBody } from './types.js';

/** Connections per origin: a copy streams several layers at once, each needing its own socket. */
export const CONNECTIONS_PER_ORIGIN = 32;

/** One HTTP request as sent on the wire. */
export interface HttpRequest {
  readonly kind: RequestKind;
  readonly method: string;
  readonly url: URL;
  readonly headers: Record<string, string>;
  /** A Buffer, or a body streamed once (a Readable or any async iterable of bytes). */
  readonly body?: Buffer | UploadBody | undefined;
  /** Skip TLS certificate verification. */
  readonly insecure: boolean;
  /** Extra CAs and a client certificate for this host (certificates are still verified). */
  readonly tls?: TlsMaterial | undefined;
}

/** The response; `body` must be consumed, dumped or destroyed. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly body: Dispatcher.ResponseData['body'];
  readonly url: URL;
}

/** Where a host:port is really reached; only tests use it (Docker Hub's names on loopback). */
export type ConnectHook = (hostname: string, port: number) => { host: string; port: number } | undefined;

/** Transport settings. */
export interface TransportOptions {
  readonly dispatcher?: Dispatcher | undefined;
  readonly onRequest?: ((kind: RequestKind, status: number) => void) | undefined;
  /** Proxy variables are read from here (default process.env). */
  readonly env?: Record<string, string | undefined> | undefined;
  readonly connectHook?: ConnectHook | undefined;
  /** Requests in flight per host and kind, adapted to how the registry copes (see adaptive-limit.ts). */
  readonly limiter?: AdaptiveLimiter | undefined;
  /** No byte received for this long (headers or body), or none of an upload taken: the request fails (default 30 s). */
  readonly stallTimeoutMs?: number | undefined;
}

/** The default stall timeout (the CLI's `--stall-timeout`). */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/** The proxy settings of an environment, or undefined when none is set. */
export function proxySettings(
  env: Record<string, string | undefined>,
): { httpProxy?: string; httpsProxy?: string; noProxy?: string } | undefined {
  const httpProxy = env.http_proxy || env.HTTP_PROXY;
  const httpsProxy = env.https_proxy || env.HTTPS_PROXY;
  const noProxy = env.no_proxy || env.NO_PROXY;
  if (!httpProxy && !httpsProxy) return undefined;
  // Empty strings, not undefined: EnvHttpProxyAgent would otherwise read process.env itself.
  return { httpProxy: httpProxy ?? '', httpsProxy: httpsProxy ?? httpProxy ?? '', noProxy: noProxy ?? '' };
}

function newAgent(
  tls: ConnectionOptions,
  env: Record<string, string | undefined>,
  hook: ConnectHook | undefined,
  stallMs: number,
): Dispatcher {
  const base = {
    connections: CONNECTIONS_PER_ORIGIN,
    keepAliveTimeout: 30_000,
    // Both are idle timeouts: waiting for the response head, and between two chunks of a body.
    headersTimeout: stallMs,
    bodyTimeout: stallMs,
  };
  const proxy = proxySettings(env);
  if (proxy !== undefined) return new EnvHttpProxyAgent({ ...base, ...proxy, connect: tls, requestTls: tls });
  if (hook === undefined) return new Agent({ ...base, connect: tls });
  const connector = buildConnector(tls);
  return new Agent({
    ...base,
    connect: (options, callback) => {
      const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80);
      const target = hook(options.hostname, port);
      if (target === undefined) return connector(options, callback);
      return connector(
        { ...options, hostname: target.host, port: String(target.port), servername: options.servername ?? options.hostname },
        callback,
      );
    },
  });
}

function tlsOptions(insecure: boolean, material: TlsMaterial | undefined): ConnectionOptions {
  // Nothing is verified, so no trust store is loaded either (`ca: []`: Node's own roots cost ~45 ms of
  // CPU to parse, at the first TLS connection, the https attempt at a plain-http `insecure` registry).
  if (insecure) return { rejectUnauthorized: false, ca: [] };
  if (material === undefined) return {};
  // Extra CAs add to the machine's trust store: a registry behind a private CA may still redirect
  // blob downloads to a public object store.
  return {
    ...(material.ca === undefined ? {} : { ca: [...rootCertificates, ...material.ca] }),
    ...(material.cert === undefined ? {} : { cert: material.cert, key: material.key }),
  };
}

/** Sends single HTTP exchanges; knows nothing of registries, auth or retries. */
export class Transport {
  private readonly given: Dispatcher | undefined;
  private readonly agents = new Map<string | TlsMaterial, Dispatcher>();
  private readonly env: Record<string, string | undefined>;

  public constructor(private readonly options: TransportOptions) {
    this.given = options.dispatcher;
    this.env = options.env ?? process.env;
  }

  private dispatcherFor(insecure: boolean, tls: TlsMaterial | undefined): Dispatcher {
    if (this.given !== undefined) return this.given;
    const key = insecure ? 'insecure' : (tls ?? 'secure');
    let agent = this.agents.get(key);
    if (agent === undefined) {
      agent = newAgent(
        tlsOptions(insecure, tls),
        this.env,
        this.options.connectHook,
        this.options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
      );
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** One exchange. Network failures reject; every outcome is reported to `onRequest` (0 = no response). */
  public async exchange(req: HttpRequest): Promise<HttpResponse> {
    const permit = await this.options.limiter?.acquire(req.url.host, req.kind);
    // undici's timeouts do not cover an upload the other side stops reading: a watchdog does.
    let watched: WatchedUpload | undefined;
    if (isStreamed(req.body)) watched = watchUpload(req.body, this.options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS);
    try {
      const res = await this.dispatcherFor(req.insecure && req.url.protocol === 'https:', req.tls).request({
        origin: req.url.origin,
        path: `${req.url.pathname}${req.url.search}`,
        method: req.method,
        headers: req.headers,
        // undici writes an async iterable as it pulls it, a chunk at a time, without stream plumbing
        // (its documentation lists iterables among the bodies; its type declarations do not).
        body: (watched?.body ?? req.body ?? null) as Dispatcher.RequestOptions['body'],
        // The watchdog bounds an upload's wait for its answer too (undici's headers timeout would fire
        // first on a socket that takes nothing, with a less telling error).
        ...(watched === undefined ? {} : { signal: watched.signal, headersTimeout: 0 }),
        // undici closes the connection after every HEAD unless told otherwise (a guard against servers
        // that send a body with it). Registries answer HEAD as the spec says, and a warm run is mostly
        // manifest HEADs: a new TCP connection for each costs more than the request itself.
        ...(req.method === 'HEAD' ? { reset: false } : {}),
      });
      this.options.onRequest?.(req.kind, res.statusCode);
      // The slot is held until the body is consumed (a HEAD has none to wait for).
      permit?.settle(res.statusCode, req.method === 'HEAD' ? undefined : res.body);
      return { status: res.statusCode, headers: res.headers, body: res.body, url: req.url };
    } catch (err) {
      permit?.settle(0);
      this.options.onRequest?.(req.kind, 0);
      throw err;
    } finally {
      watched?.stop();
    }
  }

  /** Closes the Agents this transport created (not a dispatcher passed in). */
  public async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close()));
  }
}

/** Whether a request body is streamed once (a Readable, an async iterable) rather than a Buffer that can be sent again. */
export function isStreamed(body: Buffer | UploadBody | undefined): body is UploadBody {
  return body !== undefined && !Buffer.isBuffer(body);
}

/** A response header as one string (the first when repeated). */
export function header(res: HttpResponse, name: string): string | undefined {
  const value = res.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Reads at most `limit` bytes of a body, then discards the rest. */
export async function readBody(res: HttpResponse, limit: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    if (size + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - size));
      res.body.destroy();
      return { bytes: Buffer.concat(chunks), truncated: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { bytes: Buffer.concat(chunks), truncated: false };
}

/** Discards a body so its connection can be reused; errors are irrelevant here. */
export async function discard(res: HttpResponse): Promise<void> {
  try {
    await res.body.dump({ limit: 256 * 1024 });
  } catch {
    // The socket is gone; nothing to reuse.
  }
}
