/**
 * A blob's bytes from its source, resumed with `Range` where a download breaks, and the one way a
 * blob transfer reports a retry of its own (a resumed download, a resumed or restarted upload): a
 * retry event for the log and the report, then the budget's delay.
 */
import { DigestMismatchError, ImageMigratorError } from '../errors.js';
import { isUnavailable, type RetryBudget } from '../registry/retry.js';
import type { BlobCopyContext } from './copy-blob.js';
import type { Descriptor } from './manifest.js';

/** Reports a blob-level retry and waits its delay. */
export async function blobRetry(
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
export class ShortBodyError extends ImageMigratorError {
  public readonly retryable = true;
}

/**
 * The blob's bytes from the source from byte `from` on, resumed with `Range` from the last byte
 * received when the body breaks (a registry that ignores Range is read again from the start, the
 * bytes already passed on skipped). Retries come out of the transfer's budget. Aborting `signal`
 * ends the download at once (the consumer has given up on it).
 */
export async function* resumableDownload(
  ctx: BlobCopyContext,
  blob: Descriptor,
  budget: RetryBudget,
  from = 0,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  const what = `blob ${blob.digest} of ${ctx.source.registry}/${ctx.source.repository}`;
  let offset = from;
  while (offset < blob.size || (offset === 0 && blob.size === 0)) {
    if (signal?.aborted) return;
    const download = await (ctx.download?.(blob, offset) ?? ctx.registry.getBlob(ctx.source, blob.digest, offset));
    if (download.size !== undefined && download.size !== blob.size) {
      download.body.destroy();
      throw new DigestMismatchError(`${blob.size} bytes`, `${download.size} bytes`, what);
    }
    const stop = (): void => void download.body.destroy();
    signal?.addEventListener('abort', stop, { once: true });
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
      if (signal?.aborted) return;
      // An error of the consumer (the upload side) ends the generator through `return`, not here.
      if (!budget.allowsRetry(error)) throw error;
      await blobRetry(ctx, budget, error, 'blob-resume', `${what} (resumed at byte ${offset})`, ctx.source.registry);
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }
}
