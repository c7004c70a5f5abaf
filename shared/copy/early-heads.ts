/**
 * Source HEADs sent before their tags are planned. In an unchanged run with a run state, a tag costs
 * one source HEAD (see copy-hints.ts), which could go only once the source's tag list had named the
 * tag: a round trip after the listing. The tags the state knows in a rule's source repository are
 * asked alongside the listing instead, and the hint check takes the answer rather than asking again.
 *
 * Only tags whose hint check would send the HEAD are asked (copy-hints.ts decides which). A tag the
 * source no longer has meets a 404 here: one request for nothing, in a run where tags were deleted. A
 * tag not asked early is asked when its check comes, as before; an answer no check takes is dropped.
 */
import { selectTags, type TagFilter } from '../config/tag-filter.js';
import type { ManifestHead, Registry, RepositoryRef } from '../registry/types.js';
import { tagKey, type CopyState } from '../state/run-state.js';
import { wantsSourceHead } from './copy-hints.js';

/** What decides a rule's early HEADs. */
export interface EarlyHeadsRule {
  readonly source: RepositoryRef;
  readonly destination: RepositoryRef;
  /** The rule narrows indexes to some platforms (its destination digests differ from the source's). */
  readonly narrowed: boolean;
  /** Whether a tag is immutable (it is then settled by the destination's tag list alone). */
  readonly immutable: (tag: string) => boolean;
  /** The rule's tag filter: tags it leaves out are not asked (`latest`, which needs the whole list, aside). */
  readonly tags?: TagFilter | undefined;
}

/** Early source HEADs of one run; stands in for the registry's headManifest in the hint checks. */
export class EarlyHeads implements Pick<Registry, 'headManifest'> {
  private readonly started = new Map<string, Promise<ManifestHead | undefined>>();

  public constructor(
    private readonly registry: Pick<Registry, 'headManifest'>,
    private readonly state: CopyState,
  ) {}

  /** Sends the HEADs of the tags of a rule's source that the state knows; returns how many went. */
  public start(rule: EarlyHeadsRule): number {
    const known = this.state.tagsOf?.(`${rule.source.registry}/${rule.source.repository}`) ?? [];
    const tags = rule.tags === undefined ? known : selectTags(known, { ...rule.tags, latest: undefined }).selected;
    let sent = 0;
    for (const tag of tags) {
      const key = tagKey(rule.source, tag);
      if (this.started.has(key)) continue;
      const copy = this.state.known(key, tagKey(rule.destination, tag));
      if (!wantsSourceHead(copy, { immutable: rule.immutable(tag), narrowed: rule.narrowed })) continue;
      const head = this.registry.headManifest(rule.source, tag);
      // Its failure is the hint check's to meet, if one takes it.
      head.catch(() => undefined);
      this.started.set(key, head);
      sent++;
    }
    return sent;
  }

  /** The early answer for a tag, taken once; anything else is asked now. */
  public headManifest(repo: RepositoryRef, reference: string): Promise<ManifestHead | undefined> {
    const key = tagKey(repo, reference);
    const early = this.started.get(key);
    if (early === undefined) return this.registry.headManifest(repo, reference);
    this.started.delete(key);
    return early;
  }
}
