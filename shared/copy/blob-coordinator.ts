/**
 * Blob coordination across copiers that do not share memory (one per Lambda invocation): before a
 * copier streams a blob into a destination registry it claims the blob there; whoever holds the
 * claim streams, everyone else waits and then mounts (or finds) the blob instead of streaming it
 * again; a claim older than its time limit (a copier that died) is taken over.
 *
 * The port is consulted by copy-blob.ts only after the in-process checks (the run's BlobTracker, a
 * mount from a repository it knows, a HEAD) found nothing, so it costs nothing to a blob already
 * known. A copy that reaches its deadline (a Lambda invocation's end) suspends its claim with the
 * upload session it stopped at a chunk boundary, and the next claim for the same repository gets it
 * back to go on with (see deadline.ts); a waiter at its deadline stops too, losing nothing.
 * Locally the BlobTracker is the coordinator: one process, whose in-flight map already lets one
 * transfer run per blob and registry, so every claim is granted. On AWS it is the run table
 * (functions/adapters/dynamo-blob-claims.ts). A coordinator's answers are hints: the registry (HEAD,
 * mount) always has the last word, so a wrong record costs a request, never a missing blob.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry, RepositoryRef } from '../registry/types.js';
import { CopySuspendedError, type Deadline, type SuspendedUpload } from './deadline.js';

/**
 * This copier streams the blob; it must `settle` the claim when done (or failed), or `suspend` it
 * with the upload it stopped at its deadline, which the next claim for the same repository gets
 * back as `resume`.
 */
export interface GrantedClaim {
  readonly kind: 'claimed';
  /** An upload an earlier attempt stopped before its deadline, to go on with. */
  readonly resume?: SuspendedUpload | undefined;
  settle(landed: boolean): Promise<void>;
  /** Keeps the claim for whoever goes on with the upload; absent where nothing outlives the process. */
  suspend?(upload: SuspendedUpload): Promise<void>;
}

/** What a claimed upload may take up and hand over. */
export interface UploadHandover {
  readonly resume?: SuspendedUpload | undefined;
  /** Records an upload stopped at its deadline, for the next attempt. */
  readonly record?: ((upload: SuspendedUpload) => Promise<void>) | undefined;
}

/** What a claim found. */
export type BlobClaim =
  | GrantedClaim
  /** The blob was put in `repository` of the registry by another copier: mount it from there. */
  | { readonly kind: 'present'; readonly repository: string }
  /** Another copier is streaming it right now. */
  | { readonly kind: 'busy' };

/** Coordinates blob uploads per destination registry. */
export interface BlobCoordinator {
  /**
   * Claims `digest` in `registry` for an upload into `repository`. `replacing` names a repository that
   * a `present` answer named but that turned out not to hold the blob: that record is overwritten.
   */
  claim(registry: string, digest: string, repository: string, replacing?: string): Promise<BlobClaim>;
}

/** How a waiter waits for another copier's upload. */
export interface BlobWaitOptions {
  /** Longest wait for another copier's claim before streaming anyway (default 5 minutes). */
  readonly maxWaitMs?: number;
  /** First and longest pause between two looks (default 250 ms and 5 s). */
  readonly pollMs?: number;
  readonly maxPollMs?: number;
  /** Told when a blob is waited for or mounted instead of streamed (logs, tests). */
  readonly onWait?: (event: {
    readonly digest: string;
    readonly registry: string;
    readonly what: 'wait' | 'mount' | 'found' | 'stream-anyway';
  }) => void;
}

/**
 * Streams the blob into `destination` through `stream` unless another copier does or did; returns
 * the bytes this copier streamed (0 when the blob was mounted or found).
 */
export async function coordinatedUpload(
  coordinator: BlobCoordinator,
  registry: Registry,
  destination: RepositoryRef,
  digest: string,
  stream: (handover: UploadHandover) => Promise<number>,
  options: BlobWaitOptions = {},
  deadline?: Deadline,
): Promise<number> {
  const started = Date.now();
  const maxWaitMs = options.maxWaitMs ?? 300_000;
  let pause = options.pollMs ?? 250;
  let replacing: string | undefined;
  const event = (what: 'wait' | 'mount' | 'found' | 'stream-anyway'): void =>
    options.onWait?.({ digest, registry: destination.registry, what });
  for (;;) {
    const claim = await coordinator.claim(destination.registry, digest, destination.repository, replacing);
    if (claim.kind === 'claimed') return streamClaimed(claim, stream);
    if (claim.kind === 'present') {
      if (claim.repository !== destination.repository && (await registry.mountBlob(destination, digest, claim.repository))) {
        event('mount');
        return 0;
      }
      if ((await registry.headBlob(destination, digest)) !== undefined) {
        event('found');
        return 0;
      }
      // The record is wrong (the blob was deleted, or is not readable from there): claim over it.
      replacing = claim.repository;
      continue;
    }
    replacing = undefined;
    if (Date.now() - started >= maxWaitMs) {
      // Correct, only not frugal: two copies of one blob are the same bytes.
      event('stream-anyway');
      return stream({});
    }
    const waitMs = Math.min(pause, Math.max(0, maxWaitMs - (Date.now() - started)));
    // Waiting for another copier's upload loses nothing: near the deadline the copy goes on in the next attempt.
    if (deadline !== undefined && deadline.remainingMs() < waitMs)
      throw new CopySuspendedError({ digest, registry: destination.registry, repository: destination.repository }, true);
    event('wait');
    await sleep(waitMs);
    pause = Math.min(options.maxPollMs ?? 5_000, pause * 2);
  }
}

async function streamClaimed(claim: GrantedClaim, stream: (handover: UploadHandover) => Promise<number>): Promise<number> {
  let bytes: number;
  let suspended = false;
  const record =
    claim.suspend === undefined
      ? undefined
      : async (upload: SuspendedUpload): Promise<void> => {
          await claim.suspend?.(upload);
          suspended = true;
        };
  try {
    bytes = await stream({ resume: claim.resume, record });
  } catch (error) {
    // A suspended claim is kept for the next attempt; any other failure frees it, so that a waiter
    // may take over at once instead of waiting for it to go stale.
    if (!suspended) await claim.settle(false).catch(() => undefined);
    throw error;
  }
  await claim.settle(true);
  return bytes;
}
