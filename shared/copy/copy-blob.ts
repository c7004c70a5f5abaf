/**
 * Copying one blob: skip, mount or stream. A streamed blob goes from the source's GET straight into
 * the destination's upload, hashed on the way (upload-body.ts), so nothing touches the disk, memory stays flat
 * whatever its size, and a corrupted transfer fails instead of landing: one PUT for a blob below the
 * resumable threshold, chunks that resume where they broke for a larger one (chunked-upload.ts).
 */
import { assertSha256 } from '../registry/digest.js';
import { nativeSha256 } from '../registry/sha256-state.js';
import { RetryBudget, type Clock, type RetryListener, type RetryPolicy } from '../registry/retry.js';
import type { BlobStream, Registry, RepositoryRef } from '../registry/types.js';
import { coordinatedUpload, type BlobCoordinator, type BlobWaitOptions, type UploadHandover } from './blob-coordinator.js';
import { blobRetry, ResumableDownload } from './blob-download.js';
import type { BlobTracker } from './blob-tracker.js';
import { blobBudget } from './blob-budget.js';
import { DEFAULT_UPLOAD_SETTINGS, uploadInChunks, type UploadSettings } from './chunked-upload.js';
import type { Deadline } from './deadline.js';
import type { Descriptor } from './manifest.js';
import { UploadBody } from './upload-body.js';

/** Where a blob's bytes come from, from `offset` on; default the source registry's GET. */
export type BlobDownload = (blob: Descriptor, offset: number) => Promise<BlobStream>;

/** Where a blob comes from and goes to, and what the run already knows. */
export interface BlobCopyContext {
  readonly registry: Registry;
  readonly tracker: BlobTracker;
  readonly source: RepositoryRef;
  readonly destination: RepositoryRef;
  /** The budget of one blob transfer: resumed downloads and restarted uploads share it. */
  readonly retry: RetryPolicy;
  readonly clock: Clock;
  readonly onRetry?: RetryListener | undefined;
  /** Who else may be uploading this blob (other processes); default the tracker, which is this process only. */
  readonly coordinator?: BlobCoordinator | undefined;
  readonly blobWait?: BlobWaitOptions | undefined;
  /** Another download than the source registry's (a foreign layer's, see foreign-layers.ts). */
  readonly download?: BlobDownload | undefined;
  /** Which blobs are uploaded in resumable chunks, and how big a chunk is (default DEFAULT_UPLOAD_SETTINGS). */
  readonly uploads?: UploadSettings | undefined;
  /** When the copy must hand its work over (a Lambda invocation's end); none locally. */
  readonly deadline?: Deadline | undefined;
  /** Told of the bytes the destination acknowledged: each chunk of a resumable upload, each blob of one PUT. */
  readonly onProgress?: ((bytes: number) => void) | undefined;
  /**
   * The destination repository did not exist when the run began (its tag listing said NAME_UNKNOWN):
   * a blob neither this run nor the run state put there is uploaded without a HEAD first.
   */
  readonly newRepository?: boolean | undefined;
}

/** Puts the blob in the destination repository; returns the bytes streamed (0 for a skip or a mount). */
export async function copyBlob(ctx: BlobCopyContext, blob: Descriptor): Promise<number> {
  const { tracker, destination: dst } = ctx;
  if (tracker.has(dst.registry, dst.repository, blob.digest)) return 0;
  // Loop, not a single wait: several waiters wake together when a transfer ends, and the first of
  // them may start another (a mount into their shared repository) that the others must wait for too.
  for (
    let pending = tracker.pending(dst.registry, blob.digest);
    pending !== undefined;
    pending = tracker.pending(dst.registry, blob.digest)
  ) {
    await pending.catch(() => undefined);
    if (tracker.has(dst.registry, dst.repository, blob.digest)) return 0;
  }
  return tracker.track(dst.registry, blob.digest, async () => {
    if (await mountFromKnownRepository(ctx, blob)) return 0;
    const mayBeThere = ctx.newRepository !== true || tracker.believed(dst.registry, dst.repository, blob.digest);
    if (mayBeThere && (await ctx.registry.headBlob(dst, blob.digest)) !== undefined) {
      tracker.add(dst.registry, dst.repository, blob.digest);
      return 0;
    }
    const bytes = await coordinatedUpload(
      ctx.coordinator ?? tracker,
      ctx.registry,
      dst,
      blob.digest,
      (handover) => transfer(ctx, blob, handover),
      ctx.blobWait,
      ctx.deadline,
    );
    tracker.add(dst.registry, dst.repository, blob.digest);
    return bytes;
  });
}

/** A mount is one request and moves no bytes: tried when the run put the blob elsewhere in this registry,
 * or when source and destination share a registry. */
async function mountFromKnownRepository(ctx: BlobCopyContext, blob: Descriptor): Promise<boolean> {
  const { tracker, source: src, destination: dst } = ctx;
  const from =
    tracker.repositoryWith(dst.registry, blob.digest, dst.repository) ?? (src.registry === dst.registry ? src.repository : undefined);
  if (from === undefined || from === dst.repository) return false;
  if (!(await ctx.registry.mountBlob(dst, blob.digest, from))) return false;
  tracker.add(dst.registry, dst.repository, blob.digest);
  return true;
}

/** A blob of at least the settings' threshold goes in chunks that resume; a smaller one in one PUT, which is faster. */
async function transfer(ctx: BlobCopyContext, blob: Descriptor, handover: UploadHandover): Promise<number> {
  const uploads = ctx.uploads ?? DEFAULT_UPLOAD_SETTINGS;
  if (blob.size >= uploads.resumableAbove) return uploadInChunks(ctx, blob, uploads, handover);
  const bytes = await streamWithRetries(ctx, blob);
  ctx.onProgress?.(bytes);
  return bytes;
}

/**
 * Streams the blob in one PUT, retrying within one budget: a download that breaks resumes where it
 * broke (a `Range` request, so the upload in progress goes on); an upload that breaks starts the blob again.
 */
async function streamWithRetries(ctx: BlobCopyContext, blob: Descriptor): Promise<number> {
  const budget = blobBudget(ctx);
  for (;;) {
    try {
      await streamOnce(ctx, blob, budget);
      return blob.size;
    } catch (error) {
      if (!budget.allowsRetry(error)) throw error;
      await blobRetry(
        ctx,
        budget,
        error,
        'blob-restart',
        `blob ${blob.digest} to ${ctx.destination.registry}/${ctx.destination.repository} (from byte 0)`,
        ctx.destination.registry,
      );
    }
  }
}

async function streamOnce(ctx: BlobCopyContext, blob: Descriptor, budget: RetryBudget): Promise<void> {
  assertSha256(blob.digest);
  const source = new ResumableDownload(ctx, blob, budget);
  try {
    const body = new UploadBody(source, blob.size, nativeSha256(), { digest: blob.digest, what: `blob ${blob.digest}` });
    await ctx.registry.uploadBlob(ctx.destination, blob.digest, blob.size, body);
  } finally {
    // The upload has settled: a download still running (an upload that failed part way) is stopped.
    source.close();
  }
}
