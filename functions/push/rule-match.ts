/**
 * Which stored rules cover a pushed tag. A rule covers it when its source is the pushed repository
 * and it copies every tag, or exactly that tag. Rules pinned to a digest never do: a digest cannot
 * change, so a push has nothing new for them.
 */
import type { MigrationRule } from '../../shared/config/images-file.js';
import { formatReference } from '../../shared/reference.js';
import type { PushedTag } from './payloads.js';

/** The rules among `rules` that cover `push`. */
export function coveringRules(push: PushedTag, rules: readonly MigrationRule[]): MigrationRule[] {
  return rules.filter(
    (rule) =>
      rule.source.registry === push.registry &&
      rule.source.repository === push.repository &&
      rule.source.digest === undefined &&
      (rule.allTags || rule.source.tag === push.tag),
  );
}

/**
 * The images.json rules (source to its destinations, fully qualified) that copy the pushed tags.
 * An all-tags rule's destination takes the pushed tag; empty destinations were already resolved to
 * the default registry and namespace when the stored rules were parsed. Empty when nothing matches.
 */
export function rulesForPushes(pushes: readonly PushedTag[], rules: readonly MigrationRule[]): Record<string, string[]> {
  const images: Record<string, string[]> = {};
  for (const push of pushes) {
    const source = formatReference(push);
    for (const rule of coveringRules(push, rules)) {
      const destination = formatReference(rule.allTags ? { ...rule.destination, tag: push.tag } : rule.destination);
      const list = (images[source] ??= []);
      if (!list.includes(destination)) list.push(destination);
    }
  }
  return images;
}
