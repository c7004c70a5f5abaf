/**
 * Finding a tag up to date with fewer requests than a manifest GET and a destination HEAD, from what
 * the run already knows: the destination's tag list, the run state of earlier runs, and whether the
 * rule declared its tags immutable. Every shortcut needs the destination's tag list to name the tag.
 *
 * - Immutable tag: listed at the destination means up to date, with no request of its own. The risk
 *   is the user's: a source tag that does change is not copied again.
 * - Run state: the state says this source tag last had digest D and D was pushed to this destination
 *   tag. One HEAD of the source tag (a HEAD, not a GET: Docker Hub counts GETs against its pull limit)
 *   must still answer D. Any other answer, or none, sends the copy down the full path, so a changed
 *   source is always copied whatever the state says. A copy under a platform filter is known by the
 *   destination tag and its platforms (copy-destination-key.ts): a record made under another platform
 *   list, or without one, is not this copy's.
 */
import type { CopyState, KnownCopy } from '../state/run-state.js';
import { tagKey } from '../state/run-state.js';
import { copyDestinationKey } from '../state/copy-destination-key.js';
import type { Registry, RepositoryRef } from '../registry/types.js';
import type { DestinationTags } from './destination-tags.js';

/** What a shortcut found. */
export interface HintedUpToDate {
  /** Digest of the top manifest, when known (an immutable tag may be up to date without one). */
  readonly digest: string | undefined;
  /** The source's digest, when the destination's differs (an index narrowed to some platforms). */
  readonly sourceDigest?: string;
  /** How an up-to-date tag was found without its digest. */
  readonly reason?: string;
}

/** What a report says of an immutable tag found listed at the destination, whose digest no request asked for. */
export const IMMUTABLE_LISTED = 'immutable tag, listed at the destination';

/** One tag copy the hints are asked about. */
export interface HintQuery {
  readonly source: RepositoryRef;
  readonly sourceTag: string;
  readonly destination: RepositoryRef;
  readonly destinationTag: string;
  readonly immutable: boolean;
  /**
   * The platforms an index is narrowed to (the destination's digest then differs from the source's);
   * part of the state's key of the copy.
   */
  readonly platforms?: readonly string[] | undefined;
}

/**
 * Whether the hints would ask the source for the tag's digest: a tag that is not immutable and whose
 * copy the state knows (under the key of its platforms, see copy-destination-key.ts), with the digest
 * pushed from it (the source's own, unless the copy narrows it).
 */
export function wantsSourceHead(known: KnownCopy | undefined, q: Pick<HintQuery, 'immutable' | 'platforms'>): boolean {
  return (
    !q.immutable && known?.destinationDigest !== undefined && (q.platforms !== undefined || known.destinationDigest === known.sourceDigest)
  );
}

/** Up to date by the hints, or undefined when the full comparison must decide. */
export async function upToDateByHints(
  registry: Pick<Registry, 'headManifest'>,
  destinationTags: DestinationTags | undefined,
  state: CopyState | undefined,
  q: HintQuery,
): Promise<HintedUpToDate | undefined> {
  if (destinationTags === undefined || (!q.immutable && state === undefined)) return undefined;
  const source = tagKey(q.source, q.sourceTag);
  const destination = copyDestinationKey(q.destination, q.destinationTag, q.platforms);
  const known = state?.known(source, destination);
  // The source HEAD goes while the destination's list is awaited (the list usually comes later: a
  // destination's first request meets its auth challenge). When the list does not name the tag, the
  // HEAD was one request spent for nothing; an unchanged run needs it either way.
  const head = wantsSourceHead(known, q) ? registry.headManifest(q.source, q.sourceTag) : undefined;
  // Its failure is the copy's to meet; here it only means the hints do not settle the tag.
  head?.catch(() => undefined);
  const listed = await destinationTags.tags(q.destination);
  if (listed === undefined || !listed.has(q.destinationTag)) return undefined;
  if (q.immutable) {
    const digest = known?.destinationDigest;
    return digest === undefined ? { digest, reason: IMMUTABLE_LISTED } : { digest, ...sourceDigestOf(known, digest) };
  }
  if (head === undefined || known?.sourceDigest === undefined) return undefined;
  const answer = await head;
  if (answer?.digest === undefined || answer.digest !== known.sourceDigest) return undefined;
  state?.confirm?.(source, destination);
  // Narrowed, the same source digest always gives the same index for the same platforms
  // (platform-filter.ts), and the key holds the platforms.
  return { digest: known.destinationDigest, ...sourceDigestOf(known, known.destinationDigest) };
}

/** `sourceDigest` when the destination's digest differs from the source's (a narrowed index). */
function sourceDigestOf(known: KnownCopy | undefined, digest: string | undefined): { sourceDigest?: string } {
  return known === undefined || digest === undefined || digest === known.sourceDigest ? {} : { sourceDigest: known.sourceDigest };
}
