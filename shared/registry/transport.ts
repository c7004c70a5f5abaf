/**
 * The bottom layer: one HTTP exchange over undici, counted. Connections are pooled per origin by
 * one keep-alive Agent, sized for parallel blob streams. Certificate checks can only be switched
 * off per Agent in undici, so registries marked `insecure` get a second, lazily created Agent.
 */
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import type { RequestKind } from './types.js';

/** Connections per origin: a copy streams several layers at once, each needing its own socket. */
export const CONNECTIONS_PER_ORIGIN = 32;

/** One HTTP request as sent on the wire. */
export interface HttpRequest {
  readonly kind: RequestKind;
  readonly method: string;
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body?: Buffer | Readable | undefined;
  /** Skip TLS certificate verification. */
  readonly insecure: boolean;
}

/** The response; `body` must be consumed, dumped or destroyed. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly body: Dispatcher.ResponseData['body'];
  readonly url: URL;
}

/** Transport settings. */
export interface TransportOptions {
  readonly dispatcher?: Dispatcher | undefined;
  readonly onRequest?: ((kind: RequestKind, status: number) => void) | undefined;
}

function newAgent(insecure: boolean): Agent {
  return new Agent({
    connections: CONNECTIONS_PER_ORIGIN,
    keepAliveTimeout: 30_000,
    headersTimeout: 120_000,
    // A slow object store may pause between chunks; a stalled stream must still fail eventually.
    bodyTimeout: 300_000,
    ...(insecure ? { connect: { rejectUnauthorized: false } } : {}),
  });
}

/** Sends single HTTP exchanges; knows nothing of registries, auth or retries. */
export class Transport {
  private readonly secure: Dispatcher;
  private insecureAgent: Dispatcher | undefined;
  private readonly owned: Agent[] = [];

  public constructor(private readonly options: TransportOptions) {
    if (options.dispatcher !== undefined) {
      this.secure = options.dispatcher;
      this.insecureAgent = options.dispatcher;
    } else {
      const agent = newAgent(false);
      this.owned.push(agent);
      this.secure = agent;
    }
  }

  private dispatcherFor(insecure: boolean): Dispatcher {
    if (!insecure) return this.secure;
    if (this.insecureAgent === undefined) {
      const agent = newAgent(true);
      this.owned.push(agent);
      this.insecureAgent = agent;
    }
    return this.insecureAgent;
  }

  /** One exchange. Network failures reject; every outcome is reported to `onRequest` (0 = no response). */
  public async exchange(req: HttpRequest): Promise<HttpResponse> {
    try {
      const res = await request(req.url, {
        method: req.method as Dispatcher.HttpMethod,
        headers: req.headers,
        body: req.body ?? null,
        dispatcher: this.dispatcherFor(req.insecure && req.url.protocol === 'https:'),
        // undici closes the connection after every HEAD unless told otherwise (a guard against servers
        // that send a body with it). Registries answer HEAD as the spec says, and a warm run is mostly
        // manifest HEADs: a new TCP connection for each costs more than the request itself.
        ...(req.method === 'HEAD' ? { reset: false } : {}),
      });
      this.options.onRequest?.(req.kind, res.statusCode);
      return { status: res.statusCode, headers: res.headers, body: res.body, url: req.url };
    } catch (err) {
      this.options.onRequest?.(req.kind, 0);
      throw err;
    }
  }

  /** Closes the Agents this transport created (not a dispatcher passed in). */
  public async close(): Promise<void> {
    await Promise.all(this.owned.map((a) => a.close()));
  }
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
