/**
 * The registry client: the operations of the distribution API as small request descriptions, all
 * sent through Sender.send (send.ts), which owns auth, retries, redirects and the scheme decision.
 */
import type { Dispatcher } from 'undici';
import pkg from '../../package.json' with { type: 'json' };
import type { CredentialSource } from '../credentials.js';
import { DigestMismatchError } from '../errors.js';
import { AdaptiveLimiter } from './adaptive-limit.js';
import type { EndpointMemory } from './endpoint-memory.js';
import { repositoryScope } from './auth.js';
import { assertSha256, sha256Digest, verifyBytes } from './digest.js';
import { nextLink } from './link-header.js';
import { bareContentType, MANIFEST_ACCEPT, manifestMediaType } from './manifest-media.js';
import { RegistryError } from './registry-error.js';
import { RateLimitPacer } from './rate-limit.js';
import { fanOut, isRetryableStatus, retryPolicy, type Clock, type RetryListener, type RetryPolicy } from './retry.js';
import { errorFromResponse, Sender, type RegistryRequest } from './send.js';
import { DEFAULT_STALL_TIMEOUT_MS, discard, header, readBody, Transport, type ConnectHook, type HttpResponse } from './transport.js';
import {
  MediaType,
  RequestKind,
  type BlobStream,
  type FetchedManifest,
  type IndexEntry,
  type ManifestHead,
  type Registry,
  type RepositoryAccess,
  type RepositoryRef,
  type UploadBody,
  type UploadSession,
} from './types.js';
import { contentRange, nextSession, rangeOffset, sessionError, UploadSessionLostError } from './upload-session.js';

/** Settings of a RegistryClient. */
export interface RegistryClientOptions {
  /** Logins and the insecure flag per registry and repository. */
  credentials: CredentialSource;
  /** Request-level retries (default 4 attempts, 200 ms base, 10 s max, full jitter). */
  retry?: Partial<RetryPolicy>;
  /** Default `image-migrator/<version>`. */
  userAgent?: string;
  /** Called for every HTTP request (tokens, redirects and retries included); status 0 = no response. */
  onRequest?: (kind: RequestKind, status: number) => void;
  /** A dispatcher to use instead of the client's own keep-alive Agents. */
  dispatcher?: Dispatcher;
  /** Tags per page of a tag list (`?n=`); default 1000. */
  tagPageSize?: number;
  /** HTTPS_PROXY, HTTP_PROXY and NO_PROXY are read from here; default process.env. */
  env?: Record<string, string | undefined>;
  /** Tests only: where a host name is really reached. */
  connectHook?: ConnectHook;
  /**
   * The most requests in flight per registry host and kind; below it, the client adapts to 429/503
   * answers and rising latency (see adaptive-limit.ts). Default: no limit of the client's own.
   */
  maxConcurrency?: number;
  /** Pacing of registries that announce a pull budget; default: one pacer for this client. */
  pacer?: RateLimitPacer;
  /** Told of every retry of every request (the log); a view from withRetryListener adds its own. */
  onRetry?: RetryListener;
  /** Time and sleep for retries; tests inject one so that retries need no real sleeps. */
  clock?: Clock;
  /** A request that receives no byte (or whose upload is not read) for this long is abandoned and retried; default 30 s. */
  stallTimeoutMs?: number;
  /** How registries answered earlier runs, and where to remember how they answer this one (the run state). */
  endpoints?: EndpointMemory;
}

/** Options of one listTags call. */
export interface ListTagsOptions {
  /** Overrides the client's tagPageSize. */
  pageSize?: number;
}

/** distribution refuses manifests over 4 MiB; twice that leaves room for others and bounds memory. */
const MANIFEST_LIMIT = 8 * 1024 * 1024;
const TAG_LIST_LIMIT = 64 * 1024 * 1024;
const MAX_TAG_PAGES = 100_000;

/** An operation's request; registry, repository, scopes and listener are filled in by the client. */
type OperationRequest = Omit<RegistryRequest, 'registry' | 'repository' | 'scopes'> & { scopes?: string[] };

/** One page of a tag list: its tags and the next page's URL. A body cut short is retried (see Sender.fetch). */
async function readTagPage(res: HttpResponse): Promise<{ tags: string[]; next: URL | undefined }> {
  if (res.status !== 200) throw await errorFromResponse('GET', res);
  const { bytes, truncated } = await readBody(res, TAG_LIST_LIMIT);
  if (truncated)
    throw new RegistryError({ method: 'GET', url: res.url, status: 200, reason: 'tag list larger than 64 MiB', retryable: false });
  let body: { tags?: string[] | null };
  try {
    body = JSON.parse(bytes.toString('utf8')) as typeof body;
  } catch (error) {
    // A page that does not parse was most likely cut short on the way.
    throw new RegistryError({
      method: 'GET',
      url: res.url,
      status: 200,
      reason: 'tag list is not complete JSON',
      retryable: true,
      cause: error,
    });
  }
  return { tags: body.tags ?? [], next: nextLink(res.headers.link, res.url) };
}

/** The undici-based implementation of Registry. */
export class RegistryClient implements Registry {
  private readonly transport: Transport;
  private readonly sender: Sender;
  private readonly tagPageSize: number;
  /** The listener of this view (see withRetryListener); the client-wide one is the Sender's. */
  private viewListener: RetryListener | undefined;
  /** Registries known to refuse `?n=` on tag lists; they are listed without it. */
  private readonly refusesPageSize: Set<string>;

  public constructor(options: RegistryClientOptions) {
    this.transport = new Transport({
      dispatcher: options.dispatcher,
      onRequest: options.onRequest,
      env: options.env,
      connectHook: options.connectHook,
      stallTimeoutMs: options.stallTimeoutMs,
      limiter: options.maxConcurrency === undefined ? undefined : new AdaptiveLimiter({ max: options.maxConcurrency }),
    });
    this.sender = new Sender({
      credentials: options.credentials,
      // An unavailable registry is waited for up to twice the stall timeout (60 s by default) per request.
      retry: retryPolicy({ outageMs: 2 * (options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS), ...options.retry }),
      userAgent: options.userAgent ?? `image-migrator/${pkg.version}`,
      transport: this.transport,
      pacer: options.pacer ?? new RateLimitPacer(),
      clock: options.clock,
      onRetry: options.onRetry,
      endpoints: options.endpoints,
    });
    this.tagPageSize = options.tagPageSize ?? 1000;
    this.refusesPageSize = new Set();
  }

  /**
   * A view of this client (same connections, tokens and backoff state) whose requests also tell
   * `listener` of their retries: the copier counts one task's retries with it.
   */
  public withRetryListener(listener: RetryListener): RegistryClient {
    const view = Object.create(this) as RegistryClient;
    view.viewListener = fanOut(this.viewListener, listener);
    return view;
  }

  public unavailableSince(registry: string): number | undefined {
    return this.sender.backoff.unavailableSince(registry);
  }

  /** The registries this client gave up at some point, unavailable for a whole outage window (see RegistryBackoff). */
  public givenUp(): string[] {
    return this.sender.backoff.givenUp();
  }

  public announce(repositories: readonly RepositoryAccess[]): void {
    for (const r of repositories) this.sender.auth.runScopes.announce(r.registry, r.repository, r.push);
  }

  /** Closes the client's connections. */
  public async close(): Promise<void> {
    await this.transport.close();
  }

  private send(repo: RepositoryRef, push: boolean, req: OperationRequest): Promise<HttpResponse> {
    return this.sender.send(this.request(repo, push, req));
  }

  /** Sends and reads inside the retry (see Sender.fetch). */
  private fetch<T>(repo: RepositoryRef, push: boolean, req: OperationRequest, read: (res: HttpResponse) => Promise<T>): Promise<T> {
    return this.sender.fetch(this.request(repo, push, req), read);
  }

  private request(repo: RepositoryRef, push: boolean, req: OperationRequest): RegistryRequest {
    return {
      registry: repo.registry,
      repository: repo.repository,
      scopes: [repositoryScope(repo.repository, push)],
      onRetry: this.viewListener,
      ...req,
    };
  }

  private async expect(res: HttpResponse, method: string, ...statuses: number[]): Promise<void> {
    if (!statuses.includes(res.status)) throw await errorFromResponse(method, res);
  }

  public async listTags(repo: RepositoryRef, options: ListTagsOptions = {}): Promise<string[]> {
    const pageSize = options.pageSize ?? this.tagPageSize;
    const tags: string[] = [];
    const seen = new Set<string>();
    const base = `/v2/${repo.repository}/tags/list`;
    let path = this.refusesPageSize.has(repo.registry) ? base : `${base}?n=${pageSize}`;
    // Each page is fetched and read inside the retry, so a page cut short is fetched again, and the
    // listing goes on from the page it had reached.
    for (let page = 0; page < MAX_TAG_PAGES; page++) {
      const req: OperationRequest = { kind: RequestKind.TagList, method: 'GET', path };
      let body: { tags: string[]; next: URL | undefined };
      try {
        body = await this.fetch(repo, false, req, readTagPage);
      } catch (error) {
        // Some distribution versions refuse a page size they do not like; the registry's own page size then serves.
        if (page > 0 || path === base || !(error instanceof RegistryError) || !error.hasCode('PAGINATION_NUMBER_INVALID')) throw error;
        this.refusesPageSize.add(repo.registry);
        path = base;
        page--;
        continue;
      }
      for (const tag of body.tags) tags.push(tag);
      const next = body.next;
      if (next === undefined || seen.has(next.href)) return tags;
      seen.add(next.href);
      path = next.href;
    }
    return tags;
  }

  public async getManifest(repo: RepositoryRef, reference: string): Promise<FetchedManifest> {
    const byDigest = reference.includes(':');
    if (byDigest) assertSha256(reference);
    const what = `manifest ${repo.registry}/${repo.repository}${byDigest ? '@' : ':'}${reference}`;
    const req: OperationRequest = {
      kind: RequestKind.ManifestGet,
      method: 'GET',
      path: `/v2/${repo.repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
    };
    // Read and verified inside the retry: a body cut short or corrupted on the way is fetched again.
    return this.fetch(repo, false, req, async (res) => {
      await this.expect(res, 'GET', 200);
      const { bytes, truncated } = await readBody(res, MANIFEST_LIMIT);
      if (truncated)
        throw new RegistryError({ method: 'GET', url: res.url, status: 200, reason: 'manifest larger than 8 MiB', retryable: false });
      const mediaType = manifestMediaType(header(res, 'content-type'), bytes, what);
      let digest: string;
      if (byDigest) {
        digest = verifyBytes(bytes, reference, what);
      } else {
        digest = sha256Digest(bytes);
        const served = header(res, 'docker-content-digest');
        if (served !== undefined && served.startsWith('sha256:') && served !== digest) throw new DigestMismatchError(served, digest, what);
      }
      return { mediaType, digest, bytes };
    });
  }

  public async headManifest(repo: RepositoryRef, reference: string): Promise<ManifestHead | undefined> {
    const res = await this.send(repo, false, {
      kind: RequestKind.ManifestHead,
      method: 'HEAD',
      path: `/v2/${repo.repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
    });
    await discard(res);
    if (res.status === 404) return undefined;
    await this.expect(res, 'HEAD', 200);
    const length = header(res, 'content-length');
    return {
      digest: header(res, 'docker-content-digest'),
      mediaType: bareContentType(header(res, 'content-type')),
      size: length === undefined ? undefined : Number(length),
    };
  }

  public async putManifest(repo: RepositoryRef, reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    const res = await this.send(repo, true, {
      kind: RequestKind.ManifestPut,
      method: 'PUT',
      path: `/v2/${repo.repository}/manifests/${reference}`,
      headers: { 'content-type': mediaType },
      body: bytes,
    });
    await this.expect(res, 'PUT', 201, 200);
    await discard(res);
    return header(res, 'docker-content-digest') ?? sha256Digest(bytes);
  }

  public async listReferrers(repo: RepositoryRef, digest: string): Promise<IndexEntry[] | undefined> {
    assertSha256(digest);
    const res = await this.send(repo, false, {
      kind: RequestKind.Referrers,
      method: 'GET',
      path: `/v2/${repo.repository}/referrers/${digest}`,
      headers: { accept: MediaType.OciIndex },
    });
    // A registry without the API answers as for any unknown route; one with it never answers 404.
    if ([400, 404, 405, 501].includes(res.status)) {
      await discard(res);
      return undefined;
    }
    await this.expect(res, 'GET', 200);
    const { bytes, truncated } = await readBody(res, MANIFEST_LIMIT);
    if (truncated)
      throw new RegistryError({ method: 'GET', url: res.url, status: 200, reason: 'referrers index larger than 8 MiB', retryable: false });
    const body = JSON.parse(bytes.toString('utf8')) as { manifests?: IndexEntry[] | null };
    return (body.manifests ?? []).filter((m) => typeof m?.digest === 'string' && typeof m.mediaType === 'string');
  }

  public async headBlob(repo: RepositoryRef, digest: string): Promise<number | undefined> {
    const res = await this.send(repo, false, {
      kind: RequestKind.BlobHead,
      method: 'HEAD',
      path: `/v2/${repo.repository}/blobs/${digest}`,
    });
    await discard(res);
    if (res.status === 404) return undefined;
    await this.expect(res, 'HEAD', 200);
    const length = header(res, 'content-length');
    return length === undefined ? 0 : Number(length);
  }

  public async getBlob(repo: RepositoryRef, digest: string, offset = 0): Promise<BlobStream> {
    const req: OperationRequest = {
      kind: RequestKind.BlobGet,
      method: 'GET',
      path: `/v2/${repo.repository}/blobs/${digest}`,
      ...(offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {}),
    };
    return this.fetch(repo, false, req, (res) => this.blobStream(res, offset));
  }

  public async getBlobFromUrl(url: string, offset = 0): Promise<BlobStream> {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    return this.sender.fetchExternal(RequestKind.ForeignBlobGet, new URL(url), headers, this.viewListener, (res) =>
      this.blobStream(res, offset),
    );
  }

  /** A blob's body from a 200, or from a 206 that starts where `offset` asked. */
  private async blobStream(res: HttpResponse, offset: number): Promise<BlobStream> {
    if (offset > 0 && res.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res, 'content-range') ?? '');
      if (range !== null && Number(range[1]) === offset) {
        return { body: res.body, size: range[3] === '*' ? undefined : Number(range[3]), start: offset };
      }
      throw new RegistryError({
        method: 'GET',
        url: res.url,
        status: 206,
        reason: `unexpected Content-Range ${header(res, 'content-range')}`,
        retryable: false,
      });
    }
    await this.expect(res, 'GET', 200);
    const length = header(res, 'content-length');
    return { body: res.body, size: length === undefined ? undefined : Number(length), start: 0 };
  }

  public async mountBlob(repo: RepositoryRef, digest: string, from: string): Promise<boolean> {
    const res = await this.send(repo, true, {
      kind: RequestKind.BlobMount,
      method: 'POST',
      path: `/v2/${repo.repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      body: Buffer.alloc(0),
      // The token must also allow pulling from the source repository, or the registry silently
      // starts a plain upload instead of mounting.
      scopes: [repositoryScope(repo.repository, true), repositoryScope(from, false)],
    });
    await this.expect(res, 'POST', 201, 202);
    await discard(res);
    if (res.status === 201) return true;
    if (header(res, 'location') !== undefined) await this.cancelUpload(repo, nextSession(res, 0));
    return false;
  }

  public async uploadBlob(repo: RepositoryRef, digest: string, size: number, body: UploadBody): Promise<void> {
    assertSha256(digest);
    const res = await this.putDigest(repo, await this.startUpload(repo), digest, size, body);
    if (res.status === 201) {
      await discard(res);
      return;
    }
    const error = await errorFromResponse('PUT', res, true);
    // The stream is gone, so the caller retries the whole blob: worth it unless access is refused
    // or the request itself is malformed in a way a new upload will not change.
    const retryable =
      isRetryableStatus(res.status) ||
      res.status === 401 ||
      res.status === 404 ||
      error.hasCode('DIGEST_INVALID') ||
      error.hasCode('BLOB_UPLOAD_INVALID');
    if (retryable) throw error;
    throw new RegistryError({ method: 'PUT', url: res.url, status: res.status, codes: error.codes, retryable: false });
  }

  /** The PUT `?digest=` that commits an upload session, with the bytes still to send (the whole blob, or none). */
  private putDigest(
    repo: RepositoryRef,
    session: UploadSession,
    digest: string,
    size: number,
    body: Buffer | UploadBody,
  ): Promise<HttpResponse> {
    const target = new URL(session.url);
    target.searchParams.set('digest', digest);
    return this.send(repo, true, {
      kind: RequestKind.BlobPut,
      method: 'PUT',
      path: target.href,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body,
    });
  }

  public async startUpload(repo: RepositoryRef): Promise<UploadSession> {
    const res = await this.send(repo, true, {
      kind: RequestKind.UploadStart,
      method: 'POST',
      path: `/v2/${repo.repository}/blobs/uploads/`,
      body: Buffer.alloc(0),
    });
    await this.expect(res, 'POST', 202);
    await discard(res);
    if (header(res, 'location') === undefined) {
      throw new RegistryError({
        method: 'POST',
        url: res.url,
        status: 202,
        reason: '202 Accepted without a Location header',
        retryable: true,
      });
    }
    return nextSession(res, 0);
  }

  public async uploadChunk(repo: RepositoryRef, session: UploadSession, size: number, body: UploadBody): Promise<UploadSession> {
    const res = await this.send(repo, true, {
      kind: RequestKind.UploadChunk,
      method: 'PATCH',
      path: session.url,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(size),
        'content-range': contentRange(session.offset, size),
      },
      body,
    });
    if (res.status !== 202) throw sessionError(await errorFromResponse('PATCH', res, true));
    await discard(res);
    // A registry that does not say how much it holds is taken at its word that it took the chunk.
    return nextSession(res, rangeOffset(header(res, 'range')) ?? session.offset + size);
  }

  public async uploadStatus(repo: RepositoryRef, session: UploadSession): Promise<UploadSession> {
    const res = await this.send(repo, true, { kind: RequestKind.UploadStatus, method: 'GET', path: session.url });
    if (![200, 202, 204].includes(res.status)) throw sessionError(await errorFromResponse('GET', res));
    await discard(res);
    const offset = rangeOffset(header(res, 'range'));
    // Without an offset nothing can be appended safely: the upload starts again in a new session.
    if (offset === undefined)
      throw new UploadSessionLostError({
        method: 'GET',
        url: res.url,
        status: res.status,
        reason: `${res.status} upload session without a Range header`,
        retryable: true,
      });
    return nextSession(res, offset);
  }

  public async finishUpload(repo: RepositoryRef, session: UploadSession, digest: string): Promise<void> {
    assertSha256(digest);
    const res = await this.putDigest(repo, session, digest, 0, Buffer.alloc(0));
    if (res.status === 201) {
      await discard(res);
      return;
    }
    const error = sessionError(await errorFromResponse('PUT', res));
    // The registry hashed other bytes than those hashed here: a new session may fare better.
    if (!error.hasCode('DIGEST_INVALID')) throw error;
    throw new RegistryError({ method: 'PUT', url: res.url, status: res.status, codes: error.codes, retryable: true });
  }

  public async cancelUpload(repo: RepositoryRef, session: UploadSession): Promise<void> {
    const res = await this.send(repo, true, { kind: RequestKind.UploadCancel, method: 'DELETE', path: session.url }).catch(() => undefined);
    if (res !== undefined) await discard(res);
  }
}
