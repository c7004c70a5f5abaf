/**
 * Which stored rules cover a pushed tag. A rule covers it when its source is the pushed repository
 * and it copies every tag, or exactly that tag. Rules pinned to a digest never do: a digest cannot
 * change, so a push has nothing new for them. An all-tags rule's tag filter must select the tag: a
 * tag it excludes queues nothing. With `latest: N`, whether a tag is among the latest depends on the
 * others, so a tag that passes the rest of the filter replans the whole rule (its run lists the tags
 * and copies the latest N; those unchanged are up to date).
 */
import type { MigrationRule } from '../../shared/config/images-file.js';
import { selectTags, tagVersion } from '../../shared/config/tag-filter.js';
import { formatReference } from '../../shared/reference.js';
import type { PushedTag } from './payloads.js';

/** A rule's value as the planner reads it: a destination, or the object form. */
export type RuleValue = string | { readonly to: string; readonly [key: string]: unknown };

/** True when an all-tags rule's filter (without `latest`) selects `tag`. */
function filterSelects(rule: MigrationRule, tag: string): boolean {
  if (rule.tags === undefined) return true;
  const { latest, ...rest } = rule.tags;
  if (latest !== undefined && tagVersion(tag) === undefined) return false;
  return selectTags([tag], rest).selected.length === 1;
}

/** The rules among `rules` that cover `push`. */
export function coveringRules(push: PushedTag, rules: readonly MigrationRule[]): MigrationRule[] {
  return rules.filter(
    (rule) =>
      rule.source.registry === push.registry &&
      rule.source.repository === push.repository &&
      rule.source.digest === undefined &&
      (rule.allTags ? filterSelects(rule, push.tag) : rule.source.tag === push.tag),
  );
}

/** The value of a generated rule: the destination, with the rule's options in the object form when it has any. */
function valueOf(rule: MigrationRule, to: string, withTags: boolean): RuleValue {
  const options = {
    ...(withTags && rule.tags !== undefined ? { tags: rule.tags } : {}),
    ...(rule.platforms === undefined ? {} : { platforms: rule.platforms }),
    ...(rule.referrers === undefined ? {} : { referrers: rule.referrers }),
    ...(rule.immutable === undefined ? {} : { immutable: rule.immutable }),
    ...(rule.foreignLayers === undefined ? {} : { foreignLayers: rule.foreignLayers }),
  };
  return Object.keys(options).length === 0 ? to : { to, ...options };
}

/**
 * The images.json rules (source to its destinations, fully qualified) that copy the pushed tags.
 * An all-tags rule's destination takes the pushed tag; empty destinations were already resolved to
 * the default registry and namespace when the stored rules were parsed. Empty when nothing matches.
 */
export function rulesForPushes(pushes: readonly PushedTag[], rules: readonly MigrationRule[]): Record<string, RuleValue[]> {
  const images: Record<string, RuleValue[]> = {};
  const add = (source: string, value: RuleValue): void => {
    const list = (images[source] ??= []);
    if (!list.some((v) => JSON.stringify(v) === JSON.stringify(value))) list.push(value);
  };
  for (const push of pushes) {
    for (const rule of coveringRules(push, rules)) {
      if (rule.allTags && rule.tags?.latest !== undefined) {
        add(formatReference(rule.source), valueOf(rule, formatReference(rule.destination), true));
        continue;
      }
      const destination = formatReference(rule.allTags ? { ...rule.destination, tag: push.tag } : rule.destination);
      add(formatReference(push), valueOf(rule, destination, false));
    }
  }
  return images;
}
