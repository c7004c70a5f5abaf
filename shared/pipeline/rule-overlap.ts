/**
 * Rules that name the same copy. The example of Huawei's image-migrator's documentation has an all-tags rule and a tag rule for the
 * same repositories; both would copy that tag. Locally the planner drops the second task after
 * listing; on AWS each all-tags rule is listed by a different function, so the planner works out up
 * front which tags another rule already covers.
 */
import type { MigrationRule } from '../config/images-file.js';
import { formatReference, repositoryName } from '../reference.js';
import { copyKey } from './planner.js';

/** Rules without exact duplicates, and for each all-tags rule (by index) the tags other rules copy. */
export interface ResolvedRules {
  readonly rules: MigrationRule[];
  readonly coveredTags: ReadonlyMap<number, readonly string[]>;
}

/** Drops exact duplicate rules and finds the tags of all-tags rules that tag rules already copy. */
export function resolveOverlaps(rules: readonly MigrationRule[]): ResolvedRules {
  const seen = new Set<string>();
  const unique = rules.filter((rule) => {
    const key = copyKey({ source: formatReference(rule.source), destination: formatReference(rule.destination) });
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  // Only tag rules of a repository pair that an all-tags rule copies matter: a run without all-tags
  // rules (a fleet's pinned images) builds no second key per rule.
  const pair = (rule: MigrationRule): string => `${repositoryName(rule.source)} ${repositoryName(rule.destination)}`;
  const tagged = new Map<string, Set<string>>();
  for (const rule of unique) if (rule.allTags) tagged.set(pair(rule), new Set());
  const coveredTags = new Map<number, string[]>();
  if (tagged.size === 0) return { rules: unique, coveredTags };
  for (const rule of unique) {
    const tag = rule.source.tag;
    if (rule.allTags || rule.source.digest !== undefined || tag === undefined || rule.destination.tag !== tag) continue;
    tagged.get(pair(rule))?.add(tag);
  }
  for (const rule of unique) {
    if (!rule.allTags) continue;
    const tags = tagged.get(pair(rule));
    if (tags !== undefined && tags.size > 0) coveredTags.set(rule.index, [...tags].sort());
  }
  return { rules: unique, coveredTags };
}
