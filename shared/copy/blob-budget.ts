/**
 * The retry budget of one blob transfer (a download resumed, an upload resumed or restarted): the
 * policy of retry.ts, with the outage window counted from the registries' own episodes.
 */
import { RetryBudget } from '../registry/retry.js';
import type { BlobCopyContext } from './copy-blob.js';

/**
 * The budget of one blob transfer. Its outage window counts from the latest episode of unavailability
 * of the two registries it moves between (see RetryBudget.allowsRetry), so that a registry that
 * throttles now and then, answering other requests meanwhile, does not fail the transfer.
 */
export function blobBudget(ctx: BlobCopyContext): RetryBudget {
  return new RetryBudget(ctx.retry, ctx.clock, () => {
    const since = [ctx.source.registry, ctx.destination.registry].map((r) => ctx.registry.unavailableSince?.(r));
    const known = since.filter((t): t is number => t !== undefined);
    return known.length === 0 ? undefined : Math.max(...known);
  });
}
