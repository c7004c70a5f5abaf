/**
 * Types of the registry protocol shared by the client and the copier.
 */
import type { Readable } from 'node:stream';
import type { RetryListener } from './retry.js';

/** The four manifest media types this tool copies, plus schema 1 to reject it by name. */
export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;
export type MediaType = (typeof MediaType)[keyof typeof MediaType];

/** A repository on a registry; `registry` is canonical (see shared/reference.ts). */
export interface RepositoryRef {
  readonly registry: string;
  readonly repository: string;
}

/** A manifest exactly as the registry served it. */
export interface FetchedManifest {
  readonly mediaType: string;
  /** sha256 of `bytes`; checked against the requested digest when one was asked for. */
  readonly digest: string;
  readonly bytes: Buffer;
}

/** What a manifest HEAD tells. */
export interface ManifestHead {
  readonly digest: string | undefined;
  readonly mediaType: string | undefined;
  readonly size: number | undefined;
}

/**
 * The body of an upload request, streamed once: a Readable, or any async iterable of bytes (undici
 * pulls it a chunk at a time and writes each to the socket). Never repeated, never redirected.
 */
export type UploadBody = AsyncIterable<Uint8Array>;

/** A blob being downloaded: the body must be consumed or destroyed. */
export interface BlobStream {
  readonly body: Readable;
  /** The whole blob's size, when the registry says it. */
  readonly size: number | undefined;
  /** The offset of the body's first byte: the one asked for when the registry honoured `Range`, else 0. */
  readonly start: number;
}

/** An upload session: where its next request goes (the registry's last Location) and the bytes it holds. */
export interface UploadSession {
  /** Absolute URL of the session; may carry the registry's own state (distribution's `_state`). */
  readonly url: string;
  /** Bytes the registry has acknowledged. */
  readonly offset: number;
}

/** Request kinds, counted for reports and the benchmark. */
export const RequestKind = {
  Token: 'token',
  TagList: 'tag-list',
  ManifestGet: 'manifest-get',
  ManifestHead: 'manifest-head',
  ManifestPut: 'manifest-put',
  BlobHead: 'blob-head',
  BlobGet: 'blob-get',
  BlobMount: 'blob-mount',
  UploadStart: 'upload-start',
  /** PATCH of one chunk of an upload session (`Content-Range`). */
  UploadChunk: 'upload-chunk',
  /** GET of an upload session: the offset the registry holds. */
  UploadStatus: 'upload-status',
  /** PUT `?digest=` that commits an upload: the whole blob (monolithic) or nothing more (chunked). */
  BlobPut: 'blob-put',
  /** DELETE of an upload the registry started instead of a mount. */
  UploadCancel: 'upload-cancel',
  /** GET of the OCI 1.1 referrers API. */
  Referrers: 'referrers',
  /** GET of a foreign layer from one of its `urls`, outside any registry's API. */
  ForeignBlobGet: 'foreign-blob-get',
} as const;
export type RequestKind = (typeof RequestKind)[keyof typeof RequestKind];

/** An entry of an index as the referrers API and the fallback tag list them. */
export interface IndexEntry {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/**
 * The registry operations the copier and planner use. One implementation (RegistryClient) sends them
 * all through a single path that owns auth, retries and redirects.
 */
export interface Registry {
  /** Every tag of a repository, following `Link` pagination. */
  listTags(repo: RepositoryRef): Promise<string[]>;
  /** GET a manifest by tag or digest; by digest the bytes are verified. */
  getManifest(repo: RepositoryRef, reference: string): Promise<FetchedManifest>;
  /** HEAD a manifest; undefined when it does not exist (404). */
  headManifest(repo: RepositoryRef, reference: string): Promise<ManifestHead | undefined>;
  /** PUT manifest bytes unchanged under a tag or digest; returns the digest the registry reports. */
  putManifest(repo: RepositoryRef, reference: string, mediaType: string, bytes: Buffer): Promise<string>;
  /** HEAD a blob: its size, or undefined when it is not there. */
  headBlob(repo: RepositoryRef, digest: string): Promise<number | undefined>;
  /**
   * GET a blob as a stream, following redirects (no Authorization to other hosts). With `offset`,
   * asks for the rest from there (`Range`); a registry that ignores it serves the whole (`start` 0).
   */
  getBlob(repo: RepositoryRef, digest: string, offset?: number): Promise<BlobStream>;
  /**
   * GET a blob from a URL outside the registry API (a foreign layer's `urls`): https only, never with
   * a login or token, redirects followed. Optional: a copier without it copies foreign layers only
   * from the source registry.
   */
  getBlobFromUrl?(url: string, offset?: number): Promise<BlobStream>;
  /** Cross-repository mount; false when the registry started a normal upload instead (then cancelled). */
  mountBlob(repo: RepositoryRef, digest: string, from: string): Promise<boolean>;
  /**
   * POST an upload, then one streamed PUT `?digest=` with Content-Length. The body is consumed once;
   * a failure is not retried here (the caller retries the whole blob with a new body). A body that
   * fails (a digest that does not match) aborts the PUT before its last byte: nothing is committed.
   */
  uploadBlob(repo: RepositoryRef, digest: string, size: number, body: UploadBody): Promise<void>;
  /** POST: opens an upload session (offset 0). */
  startUpload(repo: RepositoryRef): Promise<UploadSession>;
  /**
   * PATCH one chunk of `size` bytes at the session's offset (`Content-Range`), streamed once; returns
   * the session as the registry now describes it (its Location and offset). Not retried here.
   */
  uploadChunk(repo: RepositoryRef, session: UploadSession, size: number, body: UploadBody): Promise<UploadSession>;
  /** GET of the session: the offset the registry holds; UploadSessionLostError when it no longer knows it. */
  uploadStatus(repo: RepositoryRef, session: UploadSession): Promise<UploadSession>;
  /** PUT `?digest=` with no body: commits what the session holds as the blob. */
  finishUpload(repo: RepositoryRef, session: UploadSession, digest: string): Promise<void>;
  /** DELETE of a session that will not be finished (best effort: never throws). */
  cancelUpload(repo: RepositoryRef, session: UploadSession): Promise<void>;
  /** A view whose requests also report their retries to `listener` (optional: test doubles need not have it). */
  withRetryListener?(listener: RetryListener): Registry;
  /**
   * When the registry's current episode of unavailability began (undefined when it is well): the
   * outage window of a retry above the requests (a blob transfer) counts from it, as a request's does.
   */
  unavailableSince?(registry: string): number | undefined;
  /**
   * Announces the repositories a run will touch, before it starts, so that a token registry can be
   * asked for one token for all of them. Optional: a registry that does not need it ignores it.
   */
  announce?(repositories: readonly RepositoryAccess[]): void;
  /**
   * The OCI 1.1 referrers of a manifest (`GET /v2/<name>/referrers/<digest>`), or undefined when the
   * registry has no referrers API; then the fallback tag `sha256-<hex>` stands in for it.
   */
  listReferrers?(repo: RepositoryRef, digest: string): Promise<IndexEntry[] | undefined>;
}

/** A repository a run will read from, or push to. */
export interface RepositoryAccess extends RepositoryRef {
  readonly push: boolean;
}
