/**
 * Source HEADs sent before their tags are planned. In an unchanged run with a run state, a tag costs
 * one source HEAD (see copy-hints.ts), which could go only once the source's tag list had named the
 * tag: a round trip after the listing. The tags the state knows in a rule's source repository are
 * asked alongside the listing instead, and the hint check takes the answer rather than asking again.
 *
 * Only tags whose hint check would send the HEAD are asked (copy-hints.ts decides which), and only
 * those the rule's tag filter selects among the tags known. At most `concurrency` go at once, so that
 * they do not hold up the listings and manifests of other rules; a check that comes for a tag still
 * waiting sends it at once. A tag the source answers 404 for is gone: the state forgets it, so that
 * its HEAD is not sent again in the next run. An answer no check takes is dropped.
 */
import { selectTags, type TagFilter } from '../config/tag-filter.js';
import type { ManifestHead, Registry, RepositoryRef } from '../registry/types.js';
import { copyDestinationKey } from '../state/copy-destination-key.js';
import { tagKey, type CopyState } from '../state/run-state.js';
import { wantsSourceHead } from './copy-hints.js';

/** What decides a rule's early HEADs. */
export interface EarlyHeadsRule {
  readonly source: RepositoryRef;
  readonly destination: RepositoryRef;
  /** The platforms the rule narrows indexes to (its destination digests then differ from the source's); all when absent. */
  readonly platforms?: readonly string[] | undefined;
  /** Whether a tag is immutable (it is then settled by the destination's tag list alone). */
  readonly immutable: (tag: string) => boolean;
  /** The rule's tag filter, applied to the tags known. */
  readonly tags?: TagFilter | undefined;
}

/** One early HEAD: sent, or waiting for a place. */
interface EarlyHead {
  readonly repo: RepositoryRef;
  readonly tag: string;
  readonly answer: Promise<ManifestHead | undefined>;
  sent: boolean;
  settle: (answer: Promise<ManifestHead | undefined>) => void;
}

/** Early source HEADs of one run; stands in for the registry's headManifest in the hint checks. */
export class EarlyHeads implements Pick<Registry, 'headManifest'> {
  private readonly heads = new Map<string, EarlyHead>();
  private readonly waiting: EarlyHead[] = [];
  private inFlight = 0;

  public constructor(
    private readonly registry: Pick<Registry, 'headManifest'>,
    private readonly state: CopyState,
    private readonly concurrency: number,
  ) {}

  /** Queues the HEADs of the tags of a rule's source that the state knows; returns how many. */
  public start(rule: EarlyHeadsRule): number {
    const known = this.state.tagsOf?.(`${rule.source.registry}/${rule.source.repository}`) ?? [];
    const tags = rule.tags === undefined ? known : selectTags(known, rule.tags).selected;
    let queued = 0;
    for (const tag of tags) {
      const key = tagKey(rule.source, tag);
      if (this.heads.has(key)) continue;
      const copy = this.state.known(key, copyDestinationKey(rule.destination, tag, rule.platforms));
      if (!wantsSourceHead(copy, { immutable: rule.immutable(tag), platforms: rule.platforms })) continue;
      let settle: EarlyHead['settle'] = () => undefined;
      const answer = new Promise<ManifestHead | undefined>((resolve) => (settle = resolve));
      // Its failure is the hint check's to meet, if one takes it.
      answer.catch(() => undefined);
      const head: EarlyHead = { repo: rule.source, tag, answer, sent: false, settle };
      this.heads.set(key, head);
      this.waiting.push(head);
      queued++;
    }
    this.pump();
    return queued;
  }

  /** The early answer for a tag, taken once (sent now if it was still waiting); anything else is asked now. */
  public headManifest(repo: RepositoryRef, reference: string): Promise<ManifestHead | undefined> {
    const key = tagKey(repo, reference);
    const head = this.heads.get(key);
    if (head === undefined) return this.registry.headManifest(repo, reference);
    this.heads.delete(key);
    if (!head.sent) this.send(head);
    return head.answer;
  }

  private pump(): void {
    while (this.inFlight < this.concurrency) {
      const head = this.waiting.shift();
      if (head === undefined) return;
      if (!head.sent) this.send(head);
    }
  }

  private send(head: EarlyHead): void {
    head.sent = true;
    this.inFlight++;
    const answer = this.registry.headManifest(head.repo, head.tag);
    head.settle(answer);
    answer
      .then(
        (found) => void (found === undefined && this.state.forget?.(tagKey(head.repo, head.tag))),
        () => undefined,
      )
      .finally(() => {
        this.inFlight--;
        this.pump();
      });
  }
}
