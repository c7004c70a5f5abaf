/**
 * Copying one image: a tag or digest of a source to a destination. An index's children go first, each
 * image's blobs before its manifest, and the tag last, so a tag never points at missing content.
 * Manifest bytes are pushed exactly as fetched, so every digest is preserved; the one exception is an
 * index narrowed to some platforms (platform-filter.ts), which gets an index of its own. With
 * `referrers`, each copied image's signatures, SBOMs and attestations follow it (referrers.ts).
 * Foreign layers are left out and listed in the result, or copied with `foreignLayers`
 * (foreign-layers.ts).
 */
import { parseReference, type ImageReference } from '../reference.js';
import { RegistryError } from '../registry/registry-error.js';
import { DEFAULT_RETRY, retryPolicy, SYSTEM_CLOCK, type Clock, type RetryListener, type RetryPolicy } from '../registry/retry.js';
import type { FetchedManifest, ManifestHead, Registry, RepositoryRef } from '../registry/types.js';
import { copyDestinationKey } from '../state/copy-destination-key.js';
import { tagKey, type CopyState } from '../state/run-state.js';
import type { BlobCoordinator, BlobWaitOptions } from './blob-coordinator.js';
import { BlobTracker } from './blob-tracker.js';
import type { UploadSettings } from './chunked-upload.js';
import { copyBlob, type BlobCopyContext } from './copy-blob.js';
import {
  ForeignLayerRefusedError,
  foreignLayerDownload,
  isForeignLayer,
  LeftOutLayers,
  refusedForeignLayers,
  type LeftOutLayer,
} from './foreign-layers.js';
import type { Deadline } from './deadline.js';
import { upToDateByHints } from './copy-hints.js';
import { DestinationTags } from './destination-tags.js';
import { mapLimit } from './limit.js';
import { parseManifest, type Descriptor } from './manifest.js';
import { configPlatform, filterIndex } from './platform-filter.js';
import { copyReferrers, ReferrersApi, type ReferrerCopyContext } from './referrers.js';
import { formatPlatform, platformMatches } from '../platform.js';

/** Tuning of one copier; one copier (and its tracker) serves a whole run. */
export interface ImageCopierOptions {
  /** Blobs of one image transferred at once (default 4). */
  readonly blobConcurrency?: number;
  /** Child manifests of one index copied at once (default 4). */
  readonly manifestConcurrency?: number;
  /** Retries of one blob transfer (default: the retry policy's defaults, `--retries 3`). */
  readonly retry?: Partial<RetryPolicy>;
  /** Time and sleep for blob-level retries (default: the real clock). */
  readonly clock?: Clock;
  /** Shared across the copiers of a run (default: one of its own). */
  readonly tracker?: BlobTracker;
  /** Destination tag lists of the run: a tag they do not name is copied without a HEAD first. */
  readonly destinationTags?: DestinationTags;
  /** What earlier runs learnt (see copy-hints.ts); fed with what this run learns. */
  readonly state?: CopyState;
  /** Where the hint checks get source HEADs: the run's early ones (see early-heads.ts); default the registry. */
  readonly sourceHeads?: Pick<Registry, 'headManifest'>;
  /** Copiers in other processes that may upload the same blobs (see blob-coordinator.ts); default none. */
  readonly coordinator?: BlobCoordinator;
  readonly blobWait?: BlobWaitOptions;
  /** Which blobs are uploaded in resumable chunks, and the chunk size (default DEFAULT_UPLOAD_SETTINGS). */
  readonly uploads?: UploadSettings;
}

/** How a copy ended when it did not throw. */
export interface ImageCopyResult {
  /** `skipped`: a single-platform image of a platform the rule does not ask for. */
  readonly outcome: 'copied' | 'up-to-date' | 'skipped';
  /** Digest of the top manifest at the destination (unknown only for an immutable tag found listed). */
  readonly digest: string | undefined;
  /** The source's digest, when the destination's differs (an index narrowed to some platforms). */
  readonly sourceDigest?: string;
  /** Blob bytes streamed; skipped and mounted blobs count 0. */
  readonly bytes: number;
  /** Referrers (signatures, SBOMs, attestations) of the image, all at the destination now. */
  readonly referrers?: number;
  /** Why the image was skipped, or how an up-to-date one was found without its digest. */
  readonly reason?: string;
  /** Foreign layers of the manifests this copy pushed that were not copied (see foreign-layers.ts). */
  readonly leftOut?: readonly LeftOutLayer[];
}

/**
 * One copy: source and destination references; `immutable` when the rule declares its tags never
 * change; `platforms` to copy only those of an index; `referrers` to bring each image's referrers.
 */
export interface ImageCopyRequest {
  readonly source: string;
  readonly destination: string;
  readonly immutable?: boolean;
  readonly platforms?: readonly string[];
  readonly referrers?: boolean;
  /** Copy foreign (non-distributable) layers too, where the source or their urls serve them. */
  readonly foreignLayers?: boolean;
  /** The hints were consulted before (see upToDateByHints) and did not settle it: do not ask again. */
  readonly hintsChecked?: boolean;
  /** The copy's first step, taken ahead of it by the scheduler (see lookAhead); in memory only, for one attempt. */
  readonly lookedAhead?: LookedAhead;
}

/**
 * The first step of a tag's copy, taken before the copy itself so that a run can start its largest
 * copies first: the source manifest, the destination's HEAD of the tag, and, for an index the
 * destination lacks, the child manifests the copy will push. The copy then makes none of these
 * requests again, so looking ahead costs no request.
 */
export interface LookedAhead {
  readonly manifest: FetchedManifest;
  readonly head: ManifestHead | undefined;
  /** Child manifests fetched from the source, by digest. */
  readonly children: ReadonlyMap<string, FetchedManifest>;
  /** The destination's tag already has the digest the copy would push. */
  readonly upToDate: boolean;
  /** Blob bytes the copy may stream as far as the manifests tell (0 when up to date): the scheduler's order. */
  readonly bytes: number;
}

/** Children of one index fetched ahead for its size; the copy fetches any others itself. */
const LOOK_AHEAD_CHILDREN = 16;

/** Times a manifest refused with MANIFEST_BLOB_UNKNOWN gets its content checked and is pushed again. */
const MANIFEST_RECHECKS = 3;

/** Largest image config read to learn a single-platform image's platform. */
const CONFIG_LIMIT = 4 * 1024 * 1024;

/** What copies one task's image: the ImageCopier, or anything that fails or answers in its place. */
export interface ImageCopy {
  copy(task: ImageCopyRequest, options?: CopyOptions): Promise<ImageCopyResult>;
}

/** Per-copy settings. */
export interface CopyOptions {
  /** Told of every retry made for this copy, at the request and blob levels. */
  readonly onRetry?: RetryListener | undefined;
  /**
   * When the copy must hand its work over (a Lambda invocation's end): resumable uploads stop at a
   * chunk boundary and the copy fails with CopySuspendedError (see deadline.ts).
   */
  readonly deadline?: Deadline | undefined;
  /** Told of the blob bytes the destination acknowledged (chunks, whole blobs). */
  readonly onProgress?: ((bytes: number) => void) | undefined;
}

/** Copies images with one registry client; safe to use for many tasks at once. */
export class ImageCopier implements ImageCopy {
  private readonly tracker: BlobTracker;
  private readonly blobConcurrency: number;
  private readonly manifestConcurrency: number;
  private readonly retry: RetryPolicy;
  private readonly clock: Clock;
  /** Child manifests pushed, per `registry repository`: pushed once, awaited by the other copies. */
  private readonly manifests = new BlobTracker();
  /** The retry listener, deadline and progress listener of one copy's view (see copy). */
  private readonly onRetry: RetryListener | undefined;
  private readonly deadline: Deadline | undefined;
  private readonly onProgress: ((bytes: number) => void) | undefined;
  private readonly destinationTags: DestinationTags | undefined;
  private readonly state: CopyState | undefined;
  private readonly sourceHeads: Pick<Registry, 'headManifest'>;
  private readonly referrersApi = new ReferrersApi();
  /** Source tag lists, for fallback and cosign tags; one listing per repository and run. */
  private readonly sourceTags: DestinationTags;
  private readonly coordinator: BlobCoordinator | undefined;
  private readonly blobWait: BlobWaitOptions | undefined;
  /** Foreign layers left out, by the digest of the image manifest that refers to them: for alias tags of one index. */
  private readonly leftOutOf = new Map<string, readonly Descriptor[]>();
  /** One copy's view (see copy): whether it copies foreign layers, and those it left out. */
  private readonly includeForeign: boolean = false;
  private readonly leftOut: LeftOutLayers | undefined;
  private readonly uploads: UploadSettings | undefined;
  /** One copy's view: child manifests fetched ahead (see LookedAhead). */
  private readonly fetchedChildren: ReadonlyMap<string, FetchedManifest> | undefined;

  public constructor(
    private readonly registry: Registry,
    options: ImageCopierOptions = {},
  ) {
    this.onRetry = undefined;
    this.deadline = undefined;
    this.onProgress = undefined;
    this.tracker = options.tracker ?? new BlobTracker();
    this.blobConcurrency = options.blobConcurrency ?? 4;
    this.manifestConcurrency = options.manifestConcurrency ?? 4;
    this.retry = retryPolicy({ ...DEFAULT_RETRY, ...options.retry });
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.destinationTags = options.destinationTags;
    this.state = options.state;
    this.sourceHeads = options.sourceHeads ?? registry;
    this.sourceTags = new DestinationTags(registry);
    this.coordinator = options.coordinator;
    this.blobWait = options.blobWait;
    this.leftOut = undefined;
    this.uploads = options.uploads;
    this.fetchedChildren = undefined;
  }

  /**
   * Up to date by the run's hints alone (destination tag list, run state, immutable tags; see
   * copy-hints.ts), or undefined when a copy must decide: a check of at most one request, which the
   * local run makes before a task takes one of the --workers slots. Tasks pinned by digest or copying
   * referrers are left to the copy.
   */
  public async upToDateByHints(task: ImageCopyRequest): Promise<ImageCopyResult | undefined> {
    if (!this.checksHintsFirst(task)) return undefined;
    const src = parseReference(task.source);
    const dst = parseReference(task.destination);
    const srcTag = src.tag ?? 'latest';
    const hinted = await upToDateByHints(this.sourceHeads, this.destinationTags, this.state, {
      source: repositoryOf(src),
      sourceTag: srcTag,
      destination: repositoryOf(dst),
      destinationTag: dst.tag ?? srcTag,
      immutable: task.immutable === true,
      platforms: task.platforms,
    });
    return hinted === undefined ? undefined : { outcome: 'up-to-date', bytes: 0, ...hinted };
  }

  /** Whether {@link upToDateByHints} applies to the task: not to a source pinned by digest, nor to a copy of referrers. */
  public checksHintsFirst(task: ImageCopyRequest): boolean {
    return task.referrers !== true && parseReference(task.source).digest === undefined;
  }

  /**
   * Copies `source` (with a tag or digest) to `destination`; throws on failure. The copy runs on a
   * view of this copier (same trackers and settings) that keeps the foreign layers it leaves out; with
   * `onRetry`, its registry requests and blob transfers report their retries to it, and with
   * `deadline`, its uploads keep to it.
   */
  public async copy(task: ImageCopyRequest, options: CopyOptions = {}): Promise<ImageCopyResult> {
    const leftOut = new LeftOutLayers();
    const view = this.view(options, {
      leftOut,
      includeForeign: task.foreignLayers === true,
      ...(task.lookedAhead === undefined ? {} : { fetchedChildren: task.lookedAhead.children }),
    });
    const result = await view.copyOnView(task);
    return leftOut.list === undefined || result.outcome !== 'copied' ? result : { ...result, leftOut: leftOut.list };
  }

  /**
   * Takes the first step of a tag's copy ahead of it (see LookedAhead); undefined for a source pinned
   * by digest, whose copy starts otherwise. Throws what the copy would meet (the source refusing, a
   * manifest it cannot copy); retries are told to `options.onRetry`.
   */
  public async lookAhead(task: ImageCopyRequest, options: Pick<CopyOptions, 'onRetry'> = {}): Promise<LookedAhead | undefined> {
    const src = parseReference(task.source);
    if (src.digest !== undefined) return undefined;
    return this.view(options, {}).lookAheadOnView(task, src);
  }

  /** A view of this copier (same trackers and settings) for one copy or look-ahead. */
  private view(options: CopyOptions, own: Partial<Record<'leftOut' | 'includeForeign' | 'fetchedChildren', unknown>>): ImageCopier {
    const view = Object.create(this) as ImageCopier;
    Object.assign(view, {
      ...own,
      ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      ...(options.onRetry === undefined
        ? {}
        : { registry: this.registry.withRetryListener?.(options.onRetry) ?? this.registry, onRetry: options.onRetry }),
    });
    return view;
  }

  private async lookAheadOnView(task: ImageCopyRequest, src: ImageReference): Promise<LookedAhead> {
    const dst = parseReference(task.destination);
    const srcRepo = repositoryOf(src);
    const dstRepo = repositoryOf(dst);
    const srcTag = src.tag ?? 'latest';
    const what = `${srcRepo.registry}/${srcRepo.repository}:${srcTag}`;
    const [manifest, head] = await Promise.all([
      this.registry.getManifest(srcRepo, srcTag),
      this.destinationHead(dstRepo, dst.tag ?? srcTag),
    ]);
    const target = this.narrow(manifest, task.platforms, what).manifest;
    const children = new Map<string, FetchedManifest>();
    if (head?.digest === target.digest) return { manifest, head, children, upToDate: true, bytes: 0 };
    const parsed = parseManifest(target, what);
    if (parsed.kind === 'image') return { manifest, head, children, upToDate: false, bytes: imageBytes(parsed) };
    // The children this run has not pushed to the destination yet: the copy would fetch each of them.
    const key = manifestKey(dstRepo);
    const wanted = parsed.manifests.filter((c) => !this.manifests.has(key, dstRepo.repository, c.digest)).slice(0, LOOK_AHEAD_CHILDREN);
    let bytes = 0;
    await mapLimit(wanted, this.manifestConcurrency, async (child) => {
      const fetched = await this.registry.getManifest(srcRepo, child.digest);
      children.set(child.digest, fetched);
      const inner = parseManifest(fetched, `${srcRepo.registry}/${srcRepo.repository}@${child.digest}`);
      if (inner.kind === 'image') bytes += imageBytes(inner);
    });
    return { manifest, head, children, upToDate: false, bytes };
  }

  private async copyOnView(task: ImageCopyRequest): Promise<ImageCopyResult> {
    const src = parseReference(task.source);
    const dst = parseReference(task.destination);
    const srcRepo = repositoryOf(src);
    const dstRepo = repositoryOf(dst);
    const withReferrers = async (result: ImageCopyResult, subjects: readonly string[]): Promise<ImageCopyResult> => {
      if (task.referrers !== true || result.outcome === 'skipped' || subjects.length === 0) return result;
      const found = await this.referrers(srcRepo, dstRepo, subjects);
      return { ...result, bytes: result.bytes + found.bytes, referrers: found.count };
    };

    // A source pinned by digest needs only the destination HEAD to be found up to date.
    if (src.digest !== undefined && task.platforms === undefined) {
      const head = await this.registry.headManifest(dstRepo, dst.tag ?? src.digest);
      if (head?.digest === src.digest) return withReferrers({ outcome: 'up-to-date', digest: src.digest, bytes: 0 }, [src.digest]);
      const manifest = await this.registry.getManifest(srcRepo, src.digest);
      return withReferrers(await this.push(manifest, srcRepo, dstRepo, dst.tag ?? src.digest), [src.digest]);
    }
    if (src.digest !== undefined) {
      // Narrowed to some platforms, the destination's digest is known only from the source's bytes.
      const manifest = await this.registry.getManifest(srcRepo, src.digest);
      const target = this.narrow(manifest, task.platforms, `${srcRepo.registry}/${srcRepo.repository}@${src.digest}`);
      const head = await this.registry.headManifest(dstRepo, dst.tag ?? target.manifest.digest);
      const result =
        head?.digest === target.manifest.digest
          ? this.upToDate(target.manifest.digest, manifest.digest)
          : await this.pushSelected(manifest, target.manifest, srcRepo, dstRepo, dst.tag ?? target.manifest.digest, task.platforms);
      return withReferrers(result, target.subjects);
    }
    const srcTag = src.tag ?? 'latest';
    const dstTag = dst.tag ?? srcTag;
    const ahead = task.lookedAhead;
    const hinted =
      task.hintsChecked === true || ahead !== undefined
        ? undefined
        : await upToDateByHints(this.registry, this.destinationTags, this.state, {
            source: srcRepo,
            sourceTag: srcTag,
            destination: dstRepo,
            destinationTag: dstTag,
            immutable: task.immutable === true,
            platforms: task.platforms,
          });
    if (hinted !== undefined) {
      const result: ImageCopyResult = { outcome: 'up-to-date', bytes: 0, ...hinted };
      return task.platforms === undefined && hinted.digest !== undefined ? withReferrers(result, [hinted.digest]) : result;
    }
    const [manifest, head] =
      ahead === undefined
        ? await Promise.all([this.registry.getManifest(srcRepo, srcTag), this.destinationHead(dstRepo, dstTag)])
        : [ahead.manifest, ahead.head];
    const target = this.narrow(manifest, task.platforms, `${srcRepo.registry}/${srcRepo.repository}:${srcTag}`);
    const result: ImageCopyResult =
      head?.digest === target.manifest.digest
        ? this.upToDate(target.manifest.digest, manifest.digest)
        : await this.pushSelected(manifest, target.manifest, srcRepo, dstRepo, dstTag, task.platforms);
    if (result.outcome !== 'skipped')
      this.state?.recordCopy(
        tagKey(srcRepo, srcTag),
        manifest.digest,
        copyDestinationKey(dstRepo, dstTag, task.platforms),
        target.manifest.digest,
      );
    return withReferrers(result, target.subjects);
  }

  private upToDate(digest: string, sourceDigest: string): ImageCopyResult {
    return { outcome: 'up-to-date', digest, bytes: 0, ...(digest === sourceDigest ? {} : { sourceDigest }) };
  }

  /**
   * What is pushed for `manifest` under a platform filter, and whose referrers follow it: an index
   * narrowed to the platforms (its own referrers then refer to a digest the destination does not
   * get, so those of the kept images follow instead), or the manifest as fetched.
   */
  private narrow(
    manifest: FetchedManifest,
    platforms: readonly string[] | undefined,
    what: string,
  ): { manifest: FetchedManifest; subjects: readonly string[] } {
    if (platforms === undefined || parseManifest(manifest, what).kind !== 'index') return { manifest, subjects: [manifest.digest] };
    const filtered = filterIndex(manifest, platforms, what);
    return { manifest: filtered.manifest, subjects: filtered.narrowed ? filtered.images : [manifest.digest] };
  }

  /** Pushes `target` (the source manifest, or its narrowed index); a single image of another platform is skipped. */
  private async pushSelected(
    source: FetchedManifest,
    target: FetchedManifest,
    src: RepositoryRef,
    dst: RepositoryRef,
    reference: string,
    platforms: readonly string[] | undefined,
  ): Promise<ImageCopyResult> {
    if (platforms !== undefined && target === source) {
      const parsed = parseManifest(source, `${src.registry}/${src.repository}:${reference}`);
      if (parsed.kind === 'image') {
        const platform = configPlatform(await this.readConfig(src, parsed.config.digest));
        if (!platformMatches(platform, platforms)) {
          const has = platform === undefined ? 'no platform in its config' : formatPlatform(platform);
          return {
            outcome: 'skipped',
            digest: source.digest,
            bytes: 0,
            reason: `a single-platform image of ${has}, not of ${platforms.join(', ')}`,
          };
        }
      }
    }
    const result = await this.push(target, src, dst, reference);
    return target.digest === source.digest ? result : { ...result, sourceDigest: source.digest };
  }

  private async readConfig(src: RepositoryRef, digest: string): Promise<Buffer> {
    const blob = await this.registry.getBlob(src, digest);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of blob.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > CONFIG_LIMIT) {
        blob.body.destroy();
        return Buffer.alloc(0);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  /** Brings the referrers of each subject to the destination; counts and bytes summed. */
  private async referrers(src: RepositoryRef, dst: RepositoryRef, subjects: readonly string[]): Promise<{ count: number; bytes: number }> {
    const ctx: ReferrerCopyContext = {
      registry: this.registry,
      source: src,
      destination: dst,
      api: this.referrersApi,
      sourceTags: (repo) => {
        this.sourceTags.prefetch(repo);
        return this.sourceTags.tags(repo);
      },
      push: async (manifest, reference) => {
        const { bytes } = await this.copyContent(manifest, src, dst, reference);
        await this.registry.putManifest(dst, reference, manifest.mediaType, manifest.bytes);
        return bytes;
      },
    };
    let count = 0;
    let bytes = 0;
    for (const subject of subjects) {
      const found = await copyReferrers(ctx, subject);
      count += found.count;
      bytes += found.bytes;
    }
    return { count, bytes };
  }

  /** HEADs the destination tag, unless the run's listing of the repository shows it is not there. */
  private async destinationHead(dst: RepositoryRef, tag: string): Promise<ManifestHead | undefined> {
    const listed = await this.destinationTags?.tags(dst);
    if (listed !== undefined && !listed.has(tag)) return undefined;
    return this.registry.headManifest(dst, tag);
  }

  private async push(manifest: FetchedManifest, src: RepositoryRef, dst: RepositoryRef, reference: string): Promise<ImageCopyResult> {
    const bytes = await this.pushManifest(manifest, src, dst, reference);
    return { outcome: 'copied', digest: manifest.digest, bytes };
  }

  /**
   * Copies what the manifest refers to, then the manifest. A registry that answers MANIFEST_BLOB_UNKNOWN
   * (something this run thought it had put there is missing: another writer, a race in the registry's
   * storage) gets what the manifest refers to checked and pushed again, then the manifest once more
   * (up to MANIFEST_RECHECKS times). A refusal because of the manifest's foreign layers fails at once.
   */
  private async pushManifest(
    manifest: FetchedManifest,
    src: RepositoryRef,
    dst: RepositoryRef,
    reference: string,
    mediaType = manifest.mediaType,
  ): Promise<number> {
    const content = await this.copyContent(manifest, src, dst, reference);
    let bytes = content.bytes;
    for (let recheck = 1; ; recheck++) {
      try {
        await this.registry.putManifest(dst, reference, mediaType, manifest.bytes);
        return bytes;
      } catch (error) {
        const refused = refusedForeignLayers(error, content.foreign);
        if (refused !== undefined) {
          const name = `the manifest ${dst.registry}/${dst.repository}${reference.includes(':') ? '@' : ':'}${reference}`;
          throw new ForeignLayerRefusedError(refused, name, this.includeForeign, { cause: error });
        }
        if (!(error instanceof RegistryError) || !error.hasCode('MANIFEST_BLOB_UNKNOWN') || recheck > MANIFEST_RECHECKS) throw error;
        this.tracker.forget(dst.registry, dst.repository);
        this.manifests.forget(manifestKey(dst), dst.repository);
        // Another writer of the same content may still be at it: a short, jittered pause lets it finish.
        const delayMs = Math.floor(Math.random() * 100 * 2 ** recheck);
        this.onRetry?.({
          level: 'task',
          kind: 'manifest-recheck',
          registry: dst.registry,
          what: `manifest ${dst.registry}/${dst.repository}:${reference}`,
          reason: error.message,
          attempt: recheck,
          delayMs,
          unavailable: false,
        });
        await this.clock.sleep(delayMs);
        bytes += (await this.copyContent(manifest, src, dst, reference)).bytes;
      }
    }
  }

  /**
   * Everything a manifest refers to: child manifests of an index (pushed by digest), or blobs of an
   * image, its foreign layers left out (and noted) unless this copy includes them. Returns the bytes
   * streamed and the image's foreign layers.
   */
  private async copyContent(
    manifest: FetchedManifest,
    src: RepositoryRef,
    dst: RepositoryRef,
    what: string,
  ): Promise<{ bytes: number; foreign: readonly Descriptor[] }> {
    const parsed = parseManifest(manifest, `${src.registry}/${src.repository}:${what}`);
    if (parsed.kind === 'image') {
      const ctx: BlobCopyContext = {
        registry: this.registry,
        tracker: this.tracker,
        source: src,
        destination: dst,
        retry: this.retry,
        clock: this.clock,
        onRetry: this.onRetry,
        coordinator: this.coordinator,
        blobWait: this.blobWait,
        uploads: this.uploads,
        deadline: this.deadline,
        onProgress: this.onProgress,
        newRepository: (await this.destinationTags?.absent(dst)) ?? false,
      };
      if (!this.includeForeign && parsed.foreign.length > 0) {
        this.leftOutOf.set(manifest.digest, parsed.foreign);
        for (const layer of parsed.foreign) this.leftOut?.add(layer);
      }
      // The biggest blobs start first, so that a large layer is not the last thing left running.
      const blobs = [parsed.config, ...parsed.layers, ...(this.includeForeign ? parsed.foreign : [])].sort((a, b) => b.size - a.size);
      const sizes = await mapLimit(blobs, this.blobConcurrency, (blob) =>
        copyBlob(isForeignLayer(blob) ? { ...ctx, download: foreignLayerDownload(this.registry, src) } : ctx, blob),
      );
      return { bytes: sizes.reduce((a, b) => a + b, 0), foreign: parsed.foreign };
    }
    const sizes = await mapLimit(parsed.manifests, this.manifestConcurrency, (child) => this.copyChild(src, dst, child));
    return { bytes: sizes.reduce((a, b) => a + b, 0), foreign: [] };
  }

  /** A child pushed by another copy of this run: the foreign layers it left out are this copy's too. */
  private alreadyPushed(digest: string): number {
    for (const layer of this.leftOutOf.get(digest) ?? []) this.leftOut?.add(layer);
    return 0;
  }

  /**
   * A child manifest of an index, pushed by digest once per repository in a run: two tasks naming
   * one index (alias tags) wait for each other's pushes instead of writing the same manifest at once,
   * which a registry's storage may not survive (distribution rewrites the link files in place).
   */
  private async copyChild(src: RepositoryRef, dst: RepositoryRef, child: Descriptor): Promise<number> {
    const key = manifestKey(dst);
    for (;;) {
      if (this.manifests.has(key, dst.repository, child.digest)) return this.alreadyPushed(child.digest);
      const pending = this.manifests.pending(key, child.digest);
      if (pending === undefined) break;
      await pending.catch(() => undefined);
    }
    return this.manifests.track(key, child.digest, async () => {
      // A repository that did not exist when the run began holds no child this run has not pushed.
      const mayBeThere = !((await this.destinationTags?.absent(dst)) ?? false);
      if (!mayBeThere || (await this.registry.headManifest(dst, child.digest))?.digest !== child.digest) {
        const fetched = this.fetchedChildren?.get(child.digest) ?? (await this.registry.getManifest(src, child.digest));
        const bytes = await this.pushManifest(fetched, src, dst, child.digest, fetched.mediaType || child.mediaType);
        this.manifests.add(key, dst.repository, child.digest);
        return bytes;
      }
      this.manifests.add(key, dst.repository, child.digest);
      return 0;
    });
  }
}

/** Blob bytes of an image: its config and layers (foreign layers are mostly left out, so not counted). */
function imageBytes(image: { readonly config: Descriptor; readonly layers: readonly Descriptor[] }): number {
  return image.layers.reduce((sum, layer) => sum + layer.size, image.config.size);
}

function manifestKey(dst: RepositoryRef): string {
  return `${dst.registry} ${dst.repository}`;
}

function repositoryOf(ref: ImageReference): RepositoryRef {
  return { registry: ref.registry, repository: ref.repository };
}
