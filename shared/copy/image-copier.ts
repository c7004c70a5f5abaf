/**
 * Copying one image: a tag or digest of a source to a destination. An index's children go first, each
 * image's blobs before its manifest, and the tag last, so a tag never points at missing content.
 * Manifest bytes are pushed exactly as fetched, so every digest is preserved.
 */
import { parseReference, type ImageReference } from '../reference.js';
import type { FetchedManifest, ManifestHead, Registry, RepositoryRef } from '../registry/types.js';
import { tagKey, type CopyState } from '../state/run-state.js';
import { BlobTracker } from './blob-tracker.js';
import { copyBlob, type BlobCopyContext } from './copy-blob.js';
import { upToDateByHints } from './copy-hints.js';
import type { DestinationTags } from './destination-tags.js';
import { mapLimit } from './limit.js';
import { parseManifest } from './manifest.js';

/** Tuning of one copier; one copier (and its tracker) serves a whole run. */
export interface ImageCopierOptions {
  /** Blobs of one image transferred at once (default 4). */
  readonly blobConcurrency?: number;
  /** Child manifests of one index copied at once (default 4). */
  readonly manifestConcurrency?: number;
  /** Attempts for one streamed blob (default 3). */
  readonly streamAttempts?: number;
  /** Base delay of the blob-level backoff (default 500 ms). */
  readonly retryBaseMs?: number;
  /** Shared across the copiers of a run (default: one of its own). */
  readonly tracker?: BlobTracker;
  /** Destination tag lists of the run: a tag they do not name is copied without a HEAD first. */
  readonly destinationTags?: DestinationTags;
  /** What earlier runs learnt (see copy-hints.ts); fed with what this run learns. */
  readonly state?: CopyState;
}

/** How a copy ended when it did not throw. */
export interface ImageCopyResult {
  readonly outcome: 'copied' | 'up-to-date';
  /** Digest of the top manifest (unknown only for an immutable tag found listed). */
  readonly digest: string | undefined;
  /** Blob bytes streamed; skipped and mounted blobs count 0. */
  readonly bytes: number;
}

/** One copy: source and destination references; `immutable` when the rule declares its tags never change. */
export interface ImageCopyRequest {
  readonly source: string;
  readonly destination: string;
  readonly immutable?: boolean;
}

/** What copies one task's image: the ImageCopier, or anything that fails or answers in its place. */
export interface ImageCopy {
  copy(task: ImageCopyRequest): Promise<ImageCopyResult>;
}

/** Copies images with one registry client; safe to use for many tasks at once. */
export class ImageCopier implements ImageCopy {
  private readonly tracker: BlobTracker;
  private readonly blobConcurrency: number;
  private readonly manifestConcurrency: number;
  private readonly streamAttempts: number;
  private readonly retryBaseMs: number;
  private readonly destinationTags: DestinationTags | undefined;
  private readonly state: CopyState | undefined;

  public constructor(
    private readonly registry: Registry,
    options: ImageCopierOptions = {},
  ) {
    this.tracker = options.tracker ?? new BlobTracker();
    this.blobConcurrency = options.blobConcurrency ?? 4;
    this.manifestConcurrency = options.manifestConcurrency ?? 4;
    this.streamAttempts = options.streamAttempts ?? 3;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.destinationTags = options.destinationTags;
    this.state = options.state;
  }

  /** Copies `source` (with a tag or digest) to `destination`; throws on failure. */
  public async copy(task: ImageCopyRequest): Promise<ImageCopyResult> {
    const src = parseReference(task.source);
    const dst = parseReference(task.destination);
    const srcRepo = repositoryOf(src);
    const dstRepo = repositoryOf(dst);

    // A source pinned by digest needs only the destination HEAD to be found up to date.
    if (src.digest !== undefined) {
      const head = await this.registry.headManifest(dstRepo, dst.tag ?? src.digest);
      if (head?.digest === src.digest) return { outcome: 'up-to-date', digest: src.digest, bytes: 0 };
      const manifest = await this.registry.getManifest(srcRepo, src.digest);
      return this.push(manifest, srcRepo, dstRepo, dst.tag ?? src.digest);
    }
    const srcTag = src.tag ?? 'latest';
    const dstTag = dst.tag ?? srcTag;
    const hinted = await upToDateByHints(this.registry, this.destinationTags, this.state, {
      source: srcRepo, sourceTag: srcTag, destination: dstRepo, destinationTag: dstTag, immutable: task.immutable === true,
    });
    if (hinted !== undefined) return { outcome: 'up-to-date', digest: hinted.digest, bytes: 0 };
    const [manifest, head] = await Promise.all([this.registry.getManifest(srcRepo, srcTag), this.destinationHead(dstRepo, dstTag)]);
    const result: ImageCopyResult = head?.digest === manifest.digest
      ? { outcome: 'up-to-date', digest: manifest.digest, bytes: 0 }
      : await this.push(manifest, srcRepo, dstRepo, dstTag);
    this.state?.recordCopy(tagKey(srcRepo, srcTag), manifest.digest, tagKey(dstRepo, dstTag), manifest.digest);
    return result;
  }

  /** HEADs the destination tag, unless the run's listing of the repository shows it is not there. */
  private async destinationHead(dst: RepositoryRef, tag: string): Promise<ManifestHead | undefined> {
    const listed = await this.destinationTags?.tags(dst);
    if (listed !== undefined && !listed.has(tag)) return undefined;
    return this.registry.headManifest(dst, tag);
  }

  private async push(manifest: FetchedManifest, src: RepositoryRef, dst: RepositoryRef, reference: string): Promise<ImageCopyResult> {
    const bytes = await this.copyContent(manifest, src, dst, reference);
    await this.registry.putManifest(dst, reference, manifest.mediaType, manifest.bytes);
    return { outcome: 'copied', digest: manifest.digest, bytes };
  }

  /** Everything a manifest refers to: child manifests of an index (pushed by digest), or blobs of an image. */
  private async copyContent(manifest: FetchedManifest, src: RepositoryRef, dst: RepositoryRef, what: string): Promise<number> {
    const parsed = parseManifest(manifest, `${src.registry}/${src.repository}:${what}`);
    if (parsed.kind === 'image') {
      const ctx: BlobCopyContext = {
        registry: this.registry, tracker: this.tracker, source: src, destination: dst,
        streamAttempts: this.streamAttempts, retryBaseMs: this.retryBaseMs,
      };
      // The biggest blobs start first, so that a large layer is not the last thing left running.
      const blobs = [parsed.config, ...parsed.layers].sort((a, b) => b.size - a.size);
      const sizes = await mapLimit(blobs, this.blobConcurrency, (blob) => copyBlob(ctx, blob));
      return sizes.reduce((a, b) => a + b, 0);
    }
    const sizes = await mapLimit(parsed.manifests, this.manifestConcurrency, async (child) => {
      if ((await this.registry.headManifest(dst, child.digest))?.digest === child.digest) return 0;
      const fetched = await this.registry.getManifest(src, child.digest);
      const bytes = await this.copyContent(fetched, src, dst, child.digest);
      await this.registry.putManifest(dst, child.digest, fetched.mediaType || child.mediaType, fetched.bytes);
      return bytes;
    });
    return sizes.reduce((a, b) => a + b, 0);
  }
}

function repositoryOf(ref: ImageReference): RepositoryRef {
  return { registry: ref.registry, repository: ref.repository };
}
