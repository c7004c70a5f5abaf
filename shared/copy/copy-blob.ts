/**
 * Copying one blob: skip, mount or stream. A streamed blob goes from the source's GET straight into
 * the destination's PUT through a hashing stream, so nothing touches the disk, memory stays flat
 * whatever its size, and a corrupted transfer fails instead of landing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DigestMismatchError } from '../errors.js';
import { createDigestVerifier } from '../registry/digest.js';
import type { Registry, RepositoryRef } from '../registry/types.js';
import { coordinatedUpload, type BlobCoordinator, type BlobWaitOptions } from './blob-coordinator.js';
import type { BlobTracker } from './blob-tracker.js';
import type { Descriptor } from './manifest.js';
import { backoffMs, isRetryable } from './retryable.js';

/** Where a blob comes from and goes to, and what the run already knows. */
export interface BlobCopyContext {
  readonly registry: Registry;
  readonly tracker: BlobTracker;
  readonly source: RepositoryRef;
  readonly destination: RepositoryRef;
  /** Attempts for a streamed transfer (a stream cannot be replayed, so the whole blob is retried). */
  readonly streamAttempts: number;
  readonly retryBaseMs: number;
  /** Who else may be uploading this blob (other processes); default the tracker, which is this process only. */
  readonly coordinator?: BlobCoordinator | undefined;
  readonly blobWait?: BlobWaitOptions | undefined;
}

/** Puts the blob in the destination repository; returns the bytes streamed (0 for a skip or a mount). */
export async function copyBlob(ctx: BlobCopyContext, blob: Descriptor): Promise<number> {
  const { tracker, destination: dst } = ctx;
  if (tracker.has(dst.registry, dst.repository, blob.digest)) return 0;
  // Loop, not a single wait: several waiters wake together when a transfer ends, and the first of
  // them may start another (a mount into their shared repository) that the others must wait for too.
  for (let pending = tracker.pending(dst.registry, blob.digest); pending !== undefined; pending = tracker.pending(dst.registry, blob.digest)) {
    await pending.catch(() => undefined);
    if (tracker.has(dst.registry, dst.repository, blob.digest)) return 0;
  }
  return tracker.track(dst.registry, blob.digest, async () => {
    if (await mountFromKnownRepository(ctx, blob)) return 0;
    if ((await ctx.registry.headBlob(dst, blob.digest)) !== undefined) {
      tracker.add(dst.registry, dst.repository, blob.digest);
      return 0;
    }
    const bytes = await coordinatedUpload(ctx.coordinator ?? tracker, ctx.registry, dst, blob.digest, () => streamWithRetries(ctx, blob), ctx.blobWait);
    tracker.add(dst.registry, dst.repository, blob.digest);
    return bytes;
  });
}

/** A mount is one request and moves no bytes: tried when the run put the blob elsewhere in this registry,
 * or when source and destination share a registry. */
async function mountFromKnownRepository(ctx: BlobCopyContext, blob: Descriptor): Promise<boolean> {
  const { tracker, source: src, destination: dst } = ctx;
  const from = tracker.repositoryWith(dst.registry, blob.digest, dst.repository) ?? (src.registry === dst.registry ? src.repository : undefined);
  if (from === undefined || from === dst.repository) return false;
  if (!(await ctx.registry.mountBlob(dst, blob.digest, from))) return false;
  tracker.add(dst.registry, dst.repository, blob.digest);
  return true;
}

async function streamWithRetries(ctx: BlobCopyContext, blob: Descriptor): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      await streamOnce(ctx, blob);
      return blob.size;
    } catch (error) {
      if (attempt >= ctx.streamAttempts || !isRetryable(error)) throw error;
      await sleep(backoffMs(attempt, error, ctx.retryBaseMs, 10_000));
    }
  }
}

async function streamOnce(ctx: BlobCopyContext, blob: Descriptor): Promise<void> {
  const download = await ctx.registry.getBlob(ctx.source, blob.digest);
  if (download.size !== undefined && download.size !== blob.size) {
    download.body.destroy();
    throw new DigestMismatchError(`${blob.size} bytes`, `${download.size} bytes`, `blob ${blob.digest} of ${ctx.source.registry}/${ctx.source.repository}`);
  }
  const verified = createDigestVerifier(blob.digest);
  let settled = false;
  download.body.on('error', (error) => {
    if (!settled) verified.destroy(error);
  });
  // The upload's rejection carries any stream error to the caller. Once it has settled, nothing listens
  // to the hashing stream any more, and a late error there (a download aborted below) must not escape.
  verified.on('error', () => undefined);
  try {
    await ctx.registry.uploadBlob(ctx.destination, blob.digest, blob.size, download.body.pipe(verified));
  } finally {
    settled = true;
    if (!download.body.readableEnded) download.body.destroy();
  }
}
