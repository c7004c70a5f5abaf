/**
 * The one path every registry request takes: endpoint (scheme) resolution, authentication,
 * retries with backoff and redirects. Operations in client.ts only describe requests.
 */
import type { Credential, CredentialSource } from '../credentials.js';
import { DigestMismatchError, ImageMigratorError } from '../errors.js';
import { registryEndpoint } from '../reference.js';
import { Authenticator, basicAuth, sendsSecret, type AuthHeader, type TokenRequest } from './auth.js';
import { usableAuth, type EndpointMemory } from './endpoint-memory.js';
import { parseErrorCodes, RegistryError } from './registry-error.js';
import { redactUrl } from './redact.js';
import {
  isRetryableStatus,
  isUnavailable,
  markExhausted,
  parseRetryAfter,
  RegistryBackoff,
  retryAfterMs,
  RetryBudget,
  SYSTEM_CLOCK,
  type Clock,
  type RetryEvent,
  type RetryListener,
  type RetryPolicy,
} from './retry.js';
import { type RateLimitPacer } from './rate-limit.js';
import { stallReason } from './stall.js';
import { refreshTime, type CachedToken } from './token-cache.js';
import { discard, header, isStreamed, readBody, Transport, type HttpResponse } from './transport.js';
import { RequestKind, type UploadBody } from './types.js';

/** A registry request as operations describe it. */
export interface RegistryRequest {
  readonly kind: RequestKind;
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE' | 'PATCH';
  /** Canonical registry name (credentials and caches are keyed by it). */
  readonly registry: string;
  /** Repository whose credential applies. */
  readonly repository: string;
  /** `/v2/...` on the registry, or an absolute URL (an upload Location). */
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** A Buffer can be re-sent; a streamed body (a Readable, an async iterable) is sent once, never retried or redirected here. */
  readonly body?: Buffer | UploadBody;
  /** Token scopes for this request. */
  readonly scopes: readonly string[];
  /** Told of every retry of this request (besides the client's own listener). */
  readonly onRetry?: RetryListener | undefined;
}

/** What the retry loop knows of a request. */
interface RetryContext {
  readonly method: string;
  readonly url: URL;
  readonly kind: RequestKind;
  readonly registry: string;
  readonly onRetry: RetryListener | undefined;
  /** Waits for the registry's shared backoff first (not the one-off https probe of an insecure registry). */
  readonly gated: boolean;
}

/** `429`, `503`, `ECONNREFUSED`: the short form of a failure for progress lines. */
function shortReason(error: unknown): string {
  const e = error as { status?: unknown; cause?: { code?: unknown } };
  if (typeof e.status === 'number') return String(e.status);
  return typeof e.cause?.code === 'string' ? e.cause.code : 'network error';
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const WRITES = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);
const MAX_REDIRECTS = 5;
const ERROR_BODY_LIMIT = 64 * 1024;

/** Sender settings. */
export interface SenderOptions {
  readonly credentials: CredentialSource;
  readonly retry: RetryPolicy;
  readonly userAgent: string;
  readonly transport: Transport;
  readonly random?: () => number;
  /** Paces manifest GETs of registries that announce a low pull budget (Docker Hub). */
  readonly pacer?: RateLimitPacer;
  /** Time and sleep for retries (default: the real clock). */
  readonly clock?: Clock | undefined;
  /** Told of every retry of every request. */
  readonly onRetry?: RetryListener | undefined;
  /** How registries answered earlier runs; told how they answer this one (see endpoint-memory.ts). */
  readonly endpoints?: EndpointMemory | undefined;
}

/**
 * What a request that waited for its registry's first answer fails with when that first request got
 * none (no response at all: an answer of any status opens the registry to its waiters): the failure
 * of this request, by its own method and path, saying that the registry's first request failed and
 * how, and classified like that failure (retryable, unavailable).
 */
function unansweredFirst(req: RegistryRequest, error: unknown): unknown {
  if (!(error instanceof RegistryError)) return error;
  const url = new URL(req.path, new URL(error.url).origin);
  if (redactUrl(url) === error.url && req.method === error.method) return error;
  return new RegistryError({
    method: req.method,
    url,
    reason: `registry ${req.registry} did not answer its first request (${error.method} ${error.url}): ${error.problem}`,
    retryable: error.retryable,
    retryAfterMs: error.retryAfterMs,
    unavailable: error.unavailable,
    // What the first request met (a refused or reset connection), as the first request's own error carries it.
    cause: error.cause,
  });
}

/** Builds the RegistryError of an unexpected response, reading its error body. */
export async function errorFromResponse(method: string, res: HttpResponse, retryable?: boolean): Promise<RegistryError> {
  const { bytes } =
    method === 'HEAD' ? { bytes: Buffer.alloc(0) } : await readBody(res, ERROR_BODY_LIMIT).catch(() => ({ bytes: Buffer.alloc(0) }));
  // Capped at 5 minutes: beyond that the wait belongs to a later run, not this one.
  const retryAfterMs = parseRetryAfter(res.headers['retry-after'], 300_000);
  return new RegistryError({
    method,
    url: res.url,
    status: res.status,
    codes: parseErrorCodes(bytes.toString('utf8')),
    retryAfterMs,
    ...(retryable === undefined ? {} : { retryable }),
  });
}

const CERTIFICATE_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A certificate the machine does not trust: repeating cannot help, the user must decide. */
function isCertificateError(err: unknown): boolean {
  const code = (err as { code?: unknown; cause?: { code?: unknown } }).code ?? (err as { cause?: { code?: unknown } }).cause?.code;
  return typeof code === 'string' && CERTIFICATE_ERRORS.has(code);
}

function networkError(method: string, url: URL, err: unknown): RegistryError {
  const e = err as { code?: string; message?: string };
  if (isCertificateError(err)) {
    return new RegistryError({
      method,
      url,
      reason: `TLS certificate not trusted (${e.code ?? 'unknown'}); give its CA as "ca" for this registry in auth.json, or set "insecure": true to skip verification`,
      retryable: false,
      cause: err,
    });
  }
  const reason = stallReason(err) ?? `network error: ${e.code ?? e.message ?? String(err)}`;
  return new RegistryError({ method, url, reason, retryable: true, cause: err });
}

/** Owns auth, retries, backoff, redirects and the scheme decision for every request. */
export class Sender {
  /** The base URL of each registry that has answered once. */
  private readonly bases = new Map<string, URL>();
  /** A registry's first request while it is in flight; rejects when no answer came. */
  private readonly firsts = new Map<string, Promise<void>>();
  /** Lets the waiters of a registry's first request go before it ends (see authorized). */
  private readonly opens = new Map<string, () => void>();
  public readonly auth: Authenticator;
  /** Backoff per registry, shared by every request of this sender (all workers of a run). */
  public readonly backoff: RegistryBackoff;

  public constructor(private readonly options: SenderOptions) {
    this.auth = new Authenticator((req) => this.fetchToken(req));
    this.backoff = new RegistryBackoff(options.retry, options.clock ?? SYSTEM_CLOCK, options.random);
  }

  /**
   * Sends a request; returns any final response (the caller judges its status).
   *
   * There is no separate `/v2/` ping: a registry's first real request decides the scheme and its
   * 401 teaches the auth scheme. Other requests to that registry wait for that first answer, so that
   * an insecure registry sees one https attempt, not one per request, and the rest go out with
   * credentials up front instead of each meeting a 401.
   */
  public send(req: RegistryRequest): Promise<HttpResponse> {
    return this.fetch(req, async (res) => res);
  }

  /**
   * Sends a request and reads its response with `read`, both inside the retry: a body that breaks
   * while `read` consumes it (a reset, a stall, a truncation) is fetched again like a failed request.
   * `read` judges the status (it throws errorFromResponse for one it does not expect).
   */
  public async fetch<T>(req: RegistryRequest, read: (res: HttpResponse) => Promise<T>): Promise<T> {
    const access = WRITES.has(req.method) ? 'write' : req.scopes.some((scope) => scope.endsWith('push')) ? 'push' : 'pull';
    const credential = await this.options.credentials.lookup(req.registry, req.repository, access);
    for (;;) {
      const base = this.bases.get(req.registry);
      if (base !== undefined) return this.sendVia(req, base, credential, false, read);
      const first = this.firsts.get(req.registry);
      if (first === undefined) return this.sendFirst(req, credential, read);
      // A first request that got no answer fails its waiters with its error: they would only
      // repeat the same futile attempts one after another.
      await first.catch((error: unknown) => {
        throw unansweredFirst(req, error);
      });
    }
  }

  private async sendFirst<T>(req: RegistryRequest, credential: Credential, read: (res: HttpResponse) => Promise<T>): Promise<T> {
    let settle: (error?: unknown) => void = () => undefined;
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the caught error is passed on as it came
    const gate = new Promise<void>((resolve, reject) => (settle = (error) => (error === undefined ? resolve() : reject(error))));
    gate.catch(() => undefined);
    this.firsts.set(req.registry, gate);
    this.opens.set(req.registry, () => settle());
    try {
      const res = await this.discover(req, credential, read);
      settle();
      return res;
    } catch (error) {
      settle(this.bases.has(req.registry) ? undefined : error);
      throw error;
    } finally {
      this.firsts.delete(req.registry);
      this.opens.delete(req.registry);
      this.remember(req.registry);
    }
  }

  /**
   * Sends over https; an insecure registry that does not answer https is tried over plain http (as
   * Docker does). The https attempt is made once: on a plain-http port it fails at once, and
   * repeating it would only waste time. An insecure registry that answered plain http in an earlier
   * run is tried over http first; when that fails (it moved to TLS: a 400 or a closed connection),
   * the order above follows. Its remembered auth scheme goes with the first request.
   */
  private async discover<T>(req: RegistryRequest, credential: Credential, read: (res: HttpResponse) => Promise<T>): Promise<T> {
    const host = registryEndpoint(req.registry);
    const remembered = this.options.endpoints?.endpoint(req.registry);
    const seed = usableAuth(host, remembered, sendsSecret(credential));
    if (seed !== undefined) this.auth.seed(req.registry, seed);
    const schemes = !credential.insecure ? ['https'] : remembered?.plainHttp === true ? ['http', 'https', 'http'] : ['https', 'http'];
    for (let i = 0; ; i++) {
      const base = new URL(`${schemes[i]}://${host}/`);
      const fallback = i < schemes.length - 1;
      try {
        return await this.sendVia(req, base, credential, fallback, read);
      } catch (error) {
        if (!fallback || this.bases.has(req.registry)) throw error;
      }
    }
  }

  private sendVia<T>(
    req: RegistryRequest,
    base: URL,
    credential: Credential,
    once: boolean,
    read: (res: HttpResponse) => Promise<T>,
  ): Promise<T> {
    const url = new URL(req.path, base);
    const repeatable = !isStreamed(req.body);
    return this.retrying(
      { method: req.method, url, kind: req.kind, registry: req.registry, onRetry: req.onRetry, gated: !once },
      repeatable && !once,
      () => this.authorized(req, url, base, credential, repeatable),
      read,
    );
  }

  /**
   * Runs `once` and `read` until they yield a result or a failure not worth repeating, as the retry
   * policy (retry.ts) decides: Retry-After is honoured, a registry that is unavailable holds every
   * request to it (the shared backoff), and every retry is reported to the request's listener.
   * Non-repeatable requests get one try; their network failures become retryable RegistryErrors.
   */
  private async retrying<T>(
    ctx: RetryContext,
    repeatable: boolean,
    once: () => Promise<HttpResponse>,
    read: (res: HttpResponse) => Promise<T>,
  ): Promise<T> {
    const clock = this.options.clock ?? SYSTEM_CLOCK;
    const budget = new RetryBudget(repeatable ? this.options.retry : { ...this.options.retry, attempts: 1 }, clock);
    for (;;) {
      const refusal = ctx.gated ? await this.backoff.wait(ctx.registry) : undefined;
      if (refusal !== undefined)
        throw markExhausted(
          new RegistryError({
            method: ctx.method,
            url: ctx.url,
            reason: refusal.reason,
            retryable: false,
            retryAfterMs: refusal.retryAfterMs,
            unavailable: true,
          }),
        );
      let failure: unknown;
      try {
        const res = await once();
        if (!isRetryableStatus(res.status)) {
          try {
            const out = await read(res);
            this.backoff.recovered(ctx.registry);
            return out;
          } catch (error) {
            if (!res.body.destroyed) res.body.destroy();
            throw error;
          }
        }
        failure = await errorFromResponse(ctx.method, res);
      } catch (err) {
        if (err instanceof RegistryError || err instanceof DigestMismatchError) failure = err;
        else if (err instanceof ImageMigratorError) throw err;
        else failure = networkError(ctx.method, ctx.url, err);
      }
      // Recorded first, so that every failure, a look at a registry given up too, keeps its episode
      // current (with --retries 0 nothing is waited for, so nothing is recorded).
      const unavailable = isUnavailable(failure);
      const shared =
        unavailable && this.options.retry.attempts > 1
          ? this.backoff.unavailable(ctx.registry, `${shortReason(failure)} from registry ${ctx.registry}`, retryAfterMs(failure))
          : 0;
      if (!budget.allowsRetry(failure, this.backoff.unavailableSince(ctx.registry))) throw failure;
      // A wait for an unavailable registry ends with its window at the latest.
      const delay = Math.min(
        Math.max(shared, budget.delayMs(failure, this.options.random)),
        unavailable ? this.backoff.windowLeftMs(ctx.registry) : Infinity,
      );
      // The event names the request (`what`); a registry error of that request says only what went wrong.
      const reason =
        failure instanceof RegistryError && failure.method === ctx.method && failure.url === redactUrl(ctx.url)
          ? failure.problem
          : (failure as Error).message;
      const event: RetryEvent = {
        level: 'request',
        kind: ctx.kind,
        registry: ctx.registry,
        what: `${ctx.method} ${redactUrl(ctx.url)}`,
        reason,
        attempt: budget.attempts,
        delayMs: delay,
        unavailable,
      };
      ctx.onRetry?.(event);
      this.options.onRetry?.(event);
      await clock.sleep(delay);
    }
  }

  /** Sends with the known Authorization; on a 401, learns the challenge and tries once more. */
  private async authorized(req: RegistryRequest, url: URL, base: URL, credential: Credential, repeatable: boolean): Promise<HttpResponse> {
    let auth = await this.auth.header(req.registry, credential, req.scopes, req.onRetry);
    let res = await this.redirecting(req, url, base, credential, auth);
    if (res.status !== 401) {
      // An answer that is not a challenge confirms a scheme remembered from an earlier run.
      if (auth !== undefined) this.auth.learn(req.registry, res.status, undefined);
      return res;
    }
    const hadToken = auth?.token !== undefined;
    const before = this.auth.scheme(req.registry);
    const extra = this.auth.learn(req.registry, 401, res.headers['www-authenticate']);
    this.auth.reject(auth);
    const after = this.auth.scheme(req.registry);
    if (this.bases.has(req.registry)) {
      this.remember(req.registry);
      // The scheme and the challenge are known: the requests waiting for this first one go now, with
      // credentials up front (the token they need is the one this request fetches next), instead of
      // after its second round trip.
      this.opens.get(req.registry)?.();
    }
    // Retry only when something changed: a new scheme was learnt, or a cached token was refused.
    const worthRetry =
      repeatable && after !== undefined && after.kind !== 'none' && (hadToken || before?.kind !== after.kind || before === undefined);
    if (!worthRetry) {
      // A login that expires (an ECR token) may have been replaced since it was looked up.
      const renewed =
        repeatable && after?.kind === 'basic'
          ? await this.options.credentials.renew?.(req.registry, req.repository, credential)
          : undefined;
      if (renewed === undefined) return res;
      await discard(res);
      return this.redirecting(req, url, base, renewed, await this.auth.header(req.registry, renewed, req.scopes));
    }
    if (after.kind === 'basic' && credential.username === undefined && credential.password === undefined) return res;
    await discard(res);
    const scopes = [...new Set([...req.scopes, ...extra])];
    auth = await this.auth.header(req.registry, credential, scopes, req.onRetry);
    res = await this.redirecting(req, url, base, credential, auth);
    return res;
  }

  /** Follows redirects itself so that Authorization only ever goes to the registry's own origin. */
  private async redirecting(
    req: RegistryRequest,
    url: URL,
    base: URL,
    credential: Credential,
    auth: AuthHeader | undefined,
  ): Promise<HttpResponse> {
    let current = url;
    let method: string = req.method;
    let body = req.body;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.options.userAgent, ...req.headers };
      if (auth !== undefined && current.origin === base.origin) headers.authorization = auth.value;
      const counted = req.kind === RequestKind.ManifestGet && current.origin === base.origin;
      if (counted) await this.options.pacer?.wait(req.registry);
      const res = await this.options.transport.exchange({
        kind: req.kind,
        method,
        url: current,
        headers,
        body,
        insecure: credential.insecure && current.hostname === base.hostname,
        tls: current.hostname === base.hostname ? credential.tls : undefined,
      });
      // A 400 over plain http may come from a TLS port (Go and nginx answer so): not taken as the scheme.
      const plainRefused = res.status === 400 && base.protocol === 'http:';
      if (current.origin === base.origin && !this.bases.has(req.registry) && !plainRefused) this.bases.set(req.registry, base);
      if (counted) this.options.pacer?.observe(req.registry, res.headers);
      const location = header(res, 'location');
      if (!REDIRECTS.has(res.status) || location === undefined || isStreamed(body)) return res;
      await discard(res);
      if (hop >= MAX_REDIRECTS) {
        throw new RegistryError({ method: req.method, url, reason: `more than ${MAX_REDIRECTS} redirects`, retryable: false });
      }
      current = new URL(location, current);
      if (res.status === 303 && method !== 'HEAD') {
        method = 'GET';
        body = undefined;
      }
    }
  }

  /** Tells the endpoint memory how a registry answers (it notes only a change). */
  private remember(registry: string): void {
    const base = this.bases.get(registry);
    const auth = this.auth.scheme(registry);
    if (this.options.endpoints === undefined || base === undefined) return;
    this.options.endpoints.rememberEndpoint(registry, {
      ...(base.protocol === 'http:' ? { plainHttp: true } : {}),
      ...(auth === undefined || auth.kind === 'none' ? {} : { auth }),
    });
  }

  /**
   * A GET outside any registry's API (a foreign layer's `urls`), read by `read` inside the retry: over
   * https only (redirects too), checked against the machine's trust store, never with a login or a
   * token, whatever registry the host may also be; retried and reported like a registry request.
   */
  public async fetchExternal<T>(
    kind: RequestKind,
    url: URL,
    headers: Record<string, string>,
    onRetry: RetryListener | undefined,
    read: (res: HttpResponse) => Promise<T>,
  ): Promise<T> {
    const once = async (): Promise<HttpResponse> => {
      let current = url;
      for (let hop = 0; ; hop++) {
        if (current.protocol !== 'https:') {
          throw new RegistryError({ method: 'GET', url: current, reason: 'not fetched: only https URLs are', retryable: false });
        }
        const res = await this.options.transport.exchange({
          kind,
          method: 'GET',
          url: current,
          headers: { 'user-agent': this.options.userAgent, ...headers },
          insecure: false,
        });
        const location = header(res, 'location');
        if (!REDIRECTS.has(res.status) || location === undefined) return res;
        await discard(res);
        if (hop >= MAX_REDIRECTS)
          throw new RegistryError({ method: 'GET', url, reason: `more than ${MAX_REDIRECTS} redirects`, retryable: false });
        current = new URL(location, current);
      }
    };
    return this.retrying({ method: 'GET', url, kind, registry: url.host, onRetry, gated: true }, true, once, read);
  }

  /** GET realm?service=&scope=... with the login as Basic, or anonymously without one. */
  private async fetchToken(req: TokenRequest): Promise<CachedToken> {
    const url = new URL(req.realm);
    if (req.service !== undefined) url.searchParams.set('service', req.service);
    for (const scope of req.scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent, accept: 'application/json' };
    const refreshToken = req.credential.identityToken;
    const hasLogin = sendsSecret(req.credential);
    // The challenge names the token endpoint; a login must not go there in clear text unless the user
    // said this registry may be reached without TLS.
    if (hasLogin && url.protocol !== 'https:' && !req.credential.insecure) {
      throw new RegistryError({
        method: 'GET',
        url,
        retryable: false,
        reason: `the registry ${req.registry} names a token endpoint without TLS; the login is not sent there (set "insecure": true for this registry in auth.json to allow it)`,
      });
    }
    // Docker's identity token is an OAuth2 refresh token: POSTed to the realm instead of a Basic login.
    const form = refreshToken === undefined ? undefined : oauthForm(req, refreshToken);
    const method = form === undefined ? 'GET' : 'POST';
    const target = form === undefined ? url : new URL(req.realm);
    if (form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    else if (hasLogin) headers.authorization = basicAuth(req.credential);
    return this.retrying(
      { method, url: target, kind: RequestKind.Token, registry: target.host, onRetry: req.onRetry, gated: true },
      true,
      () =>
        this.options.transport.exchange({
          kind: RequestKind.Token,
          method,
          url: target,
          headers,
          body: form,
          insecure: req.credential.insecure,
          tls: req.credential.tls,
        }),
      (res) => readToken(method, url, res),
    );
  }
}

/** The OAuth2 refresh-token grant of Docker's token spec. */
function oauthForm(req: TokenRequest, refreshToken: string): Buffer {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'image-migrator' });
  if (req.service !== undefined) form.set('service', req.service);
  if (req.scopes.length > 0) form.set('scope', req.scopes.join(' '));
  return Buffer.from(form.toString());
}

/** Reads a token response; a body cut short is a network error (retried), a body that is not a token is not. */
async function readToken(method: string, url: URL, res: HttpResponse): Promise<CachedToken> {
  if (res.status !== 200) throw await errorFromResponse(method, res);
  const { bytes } = await readBody(res, 1024 * 1024);
  let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(bytes.toString('utf8')) as typeof parsed;
  } catch {
    // No cause kept: a parse error quotes the body, which may hold a token.
    throw new RegistryError({ method: 'GET', url, status: 200, reason: 'token response is not JSON', retryable: false });
  }
  const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
  if (typeof token !== 'string' || token.length === 0) {
    throw new RegistryError({ method: 'GET', url, status: 200, reason: 'token response has no token', retryable: false });
  }
  return { token, refreshAt: refreshTime(typeof parsed.expires_in === 'number' ? parsed.expires_in : undefined) };
}
