/**
 * Copying one blob: skip, mount or stream. A streamed blob goes from the source's GET straight into
 * the destination's PUT through a hashing stream, so nothing touches the disk, memory stays flat
 * whatever its size, and a corrupted transfer fails instead of landing.
 */
import { Readable } from 'node:stream';
import { DigestMismatchError, ImageMigratorError } from '../errors.js';
import { createDigestVerifier } from '../registry/digest.js';
import { isUnavailable, RetryBudget, type Clock, type RetryListener, type RetryPolicy } from '../registry/retry.js';
import type { BlobStream, Registry, RepositoryRef } from '../registry/types.js';
import { coordinatedUpload, type BlobCoordinator, type BlobWaitOptions } from './blob-coordinator.js';
import type { BlobTracker } from './blob-tracker.js';
import type { Descriptor } from './manifest.js';

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
    if ((await ctx.registry.headBlob(dst, blob.digest)) !== undefined) {
      tracker.add(dst.registry, dst.repository, blob.digest);
      return 0;
    }
    const bytes = await coordinatedUpload(
      ctx.coordinator ?? tracker,
      ctx.registry,
      dst,
      blob.digest,
      () => streamWithRetries(ctx, blob),
      ctx.blobWait,
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

/**
 * Streams the blob, retrying within one budget: a download that breaks resumes where it broke (a
 * `Range` request, so the upload in progress goes on); an upload that breaks starts the blob again.
 */
async function streamWithRetries(ctx: BlobCopyContext, blob: Descriptor): Promise<number> {
  const budget = new RetryBudget(ctx.retry, ctx.clock);
  for (;;) {
    try {
      await streamOnce(ctx, blob, budget);
      return blob.size;
    } catch (error) {
      if (!budget.allowsRetry(error)) throw error;
      await pause(
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

/** Reports a blob-level retry and waits its delay. */
async function pause(
  ctx: BlobCopyContext,
  budget: RetryBudget,
  error: unknown,
  kind: string,
  what: string,
  registry: string,
): Promise<void> {
  const delayMs = budget.delayMs(error);
  ctx.onRetry?.({
    level: 'blob',
    kind,
    registry,
    what,
    reason: error instanceof Error ? error.message : String(error),
    attempt: budget.attempts,
    delayMs,
    unavailable: isUnavailable(error),
  });
  await ctx.clock.sleep(delayMs);
}

/** A download cut short without an error from the socket. */
class ShortBodyError extends ImageMigratorError {
  public readonly retryable = true;
}

/**
 * The blob's bytes from the source, resumed with `Range` from the last byte received when the body
 * breaks (a registry that ignores Range is read again from the start, the bytes already passed on
 * skipped). Retries come out of the transfer's budget.
 */
async function* resumableDownload(ctx: BlobCopyContext, blob: Descriptor, budget: RetryBudget): AsyncGenerator<Buffer> {
  const what = `blob ${blob.digest} of ${ctx.source.registry}/${ctx.source.repository}`;
  let offset = 0;
  for (;;) {
    const download = await (ctx.download?.(blob, offset) ?? ctx.registry.getBlob(ctx.source, blob.digest, offset));
    if (download.size !== undefined && download.size !== blob.size) {
      download.body.destroy();
      throw new DigestMismatchError(`${blob.size} bytes`, `${download.size} bytes`, what);
    }
    let skip = offset - download.start;
    try {
      for await (const chunk of download.body as AsyncIterable<Buffer>) {
        let piece = chunk;
        if (skip > 0) {
          const dropped = Math.min(skip, piece.length);
          skip -= dropped;
          piece = piece.subarray(dropped);
          if (piece.length === 0) continue;
        }
        offset += piece.length;
        yield piece;
      }
      if (offset >= blob.size) return;
      throw new ShortBodyError(`${what} ended after ${offset} of ${blob.size} bytes`);
    } catch (error) {
      if (!download.body.destroyed) download.body.destroy();
      // An error of the consumer (the upload side) ends the generator through `return`, not here.
      if (!budget.allowsRetry(error)) throw error;
      await pause(ctx, budget, error, 'blob-resume', `${what} (resumed at byte ${offset})`, ctx.source.registry);
    }
  }
}

async function streamOnce(ctx: BlobCopyContext, blob: Descriptor, budget: RetryBudget): Promise<void> {
  const source = Readable.from(resumableDownload(ctx, blob, budget), { objectMode: false });
  const verified = createDigestVerifier(blob.digest);
  let settled = false;
  source.on('error', (error) => {
    if (!settled) verified.destroy(error);
  });
  // The upload's rejection carries any stream error to the caller. Once it has settled, nothing listens
  // to the hashing stream any more, and a late error there (a download aborted below) must not escape.
  verified.on('error', () => undefined);
  try {
    await ctx.registry.uploadBlob(ctx.destination, blob.digest, blob.size, source.pipe(verified));
  } finally {
    settled = true;
    if (!source.readableEnded) source.destroy();
  }
}
