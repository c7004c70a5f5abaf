/**
 * The run state's name of a copy's destination: the destination tag and, for a copy under a platform
 * filter, the platforms. The digest a copy pushes to a destination tag depends on the platforms it
 * keeps (platform-filter.ts), so a record made under one selection says nothing of another: a rule
 * whose platform list changes, or that gains or loses its filter, finds no record under its new key
 * and is compared in full. Every place that reads or writes a copy's record (the local state file,
 * the table on AWS) names its destination with {@link copyDestinationKey}.
 *
 * Without platforms the key is exactly `tagKey(destination, tag)` (`registry/repository:tag`), as in
 * the state files and table items of earlier releases. With them, ` [p1,p2]` follows: the platforms
 * as platform.ts formats them, sorted, each once, and without one that another of the list already
 * selects (`linux/arm64/v8` beside `linux/arm64`, which takes any arm64), so the order in which a
 * rule lists them does not matter. A tag holds neither a space nor `[`, so no tag key reads as one
 * with platforms.
 */
import { formatPlatform, parsePlatform } from '../platform.js';
import { tagKey } from './run-state.js';

const SUFFIX = /^(.*) \[([^\][ ]*)\]$/;

/**
 * A platform list in its canonical form: sorted, without duplicates, without an `os/arch/variant`
 * whose `os/arch` is listed too. A text that is not a platform (rules are checked before) is kept as written.
 */
export function canonicalPlatforms(platforms: readonly string[]): string[] {
  const parsed = platforms.map((text) => ({ text, platform: parsePlatform(text.trim()) }));
  const anyVariant = new Set(parsed.flatMap(({ platform: p }) => (p !== undefined && !p.variant ? [`${p.os}/${p.architecture}`] : [])));
  const kept = parsed.flatMap(({ text, platform: p }) => {
    if (p === undefined) return [text];
    return p.variant && anyVariant.has(`${p.os}/${p.architecture}`) ? [] : [formatPlatform(p)];
  });
  return [...new Set(kept)].sort();
}

/** The state's key of a copy's destination tag; with `platforms`, the platform selection it was narrowed to. */
export function copyDestinationKey(
  destination: { readonly registry: string; readonly repository: string },
  tag: string,
  platforms?: readonly string[],
): string {
  const key = tagKey(destination, tag);
  return platforms === undefined ? key : `${key} [${canonicalPlatforms(platforms).join(',')}]`;
}

/**
 * The tag key and the platforms (`linux/amd64,linux/arm64`, as written in the key) of a key made by
 * {@link copyDestinationKey}; any other text is returned whole as the tag key.
 */
export function splitCopyDestinationKey(key: string): { readonly tagKey: string; readonly platforms: string | undefined } {
  const match = SUFFIX.exec(key);
  return match === null ? { tagKey: key, platforms: undefined } : { tagKey: match[1] ?? key, platforms: match[2] ?? '' };
}
