/**
 * Rules that write the same destination from different sources: whichever ran last would win, so
 * the result would depend on scheduling. Only certain collisions are reported: a tag written twice,
 * and two all-tags rules from different repositories into one repository (they share at least
 * `latest` in practice). A tagged rule into an all-tags destination is allowed: the example of Huawei's image-migrator's documentation
 * pairs `quay.io/coreos/etcd` with `quay.io/coreos/etcd:2.7.3`.
 */
import { type ImageReference, formatReference, repositoryName } from '../reference.js';
import type { MigrationRule } from './image-rule.js';

/** A collision between two rules: `later` is reported, naming `earlier`. */
export interface RuleConflict {
  readonly earlier: MigrationRule;
  readonly later: MigrationRule;
  readonly problem: string;
}

/** The first conflict among `rules`, in file order, or undefined. */
export function findConflict(rules: readonly MigrationRule[]): RuleConflict | undefined {
  const byTag = new Map<string, MigrationRule>();
  const byRepository = new Map<string, MigrationRule>();
  for (const rule of rules) {
    if (rule.destination.tag !== undefined) {
      const target = formatReference(rule.destination);
      const earlier = byTag.get(target);
      if (earlier !== undefined && !sameImage(earlier.source, rule.source)) {
        return {
          earlier,
          later: rule,
          problem: `writes ${target} like ${JSON.stringify(earlier.key)}, from a different source; a destination tag takes one source`,
        };
      }
      byTag.set(target, rule);
    } else if (rule.allTags) {
      const target = repositoryName(rule.destination);
      const earlier = byRepository.get(target);
      if (earlier !== undefined && repositoryName(earlier.source) !== repositoryName(rule.source)) {
        return {
          earlier,
          later: rule,
          problem: `copies every tag into ${target} like ${JSON.stringify(earlier.key)}, from a different repository; tags present in both would overwrite each other`,
        };
      }
      byRepository.set(target, rule);
    }
  }
  return undefined;
}

function sameImage(a: ImageReference, b: ImageReference): boolean {
  return formatReference(a) === formatReference(b);
}
