/**
 * Which tags of an all-tags rule are copied: `include` and `exclude` patterns (globs as tag-glob.ts
 * reads them: `*`, `?`, `[0-9]`; or `/regex/`), a `semver` range and `latest: N`, applied in that order. Tags that are not
 * semantic versions drop out where `semver` or `latest` is given. The filter travels as plain data
 * (in rules and queue messages) and is compiled where it is used; {@link checkTagFilter} is what
 * images.json parsing runs, so every selection works on a filter that compiles.
 */
// The parts of semver a filter uses, not its index, which loads every function and range helper.
import Range from 'semver/classes/range.js';
import type SemVer from 'semver/classes/semver.js';
import parse from 'semver/functions/parse.js';
import rcompare from 'semver/functions/rcompare.js';
import { globToRegExp } from './tag-glob.js';
import { ImageMigratorError } from '../errors.js';

/** The `tags` object of a rule, as written. */
export interface TagFilter {
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  readonly semver?: string;
  readonly latest?: number;
}

/** A tag left out, and why, for `--dry-run`. */
export interface RejectedTag {
  readonly tag: string;
  readonly reason: string;
}

/** The tags a filter selects, in the order listed, and the others with their reasons. */
export interface TagSelection {
  readonly selected: string[];
  readonly rejected: RejectedTag[];
}

/** A pattern that does not compile; `key` is `include` or `exclude`. */
export class TagFilterProblem extends ImageMigratorError {
  public constructor(
    public readonly key: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(problem, options);
  }
}

/** Tag characters and the glob's own: anything else can never match a tag, so it is a mistake. */
const GLOB = /^[A-Za-z0-9_.*?[\]!^-]+$/;

/** Compiles one pattern; throws TagFilterProblem naming `key`. */
export function compilePattern(pattern: string, key: string): (tag: string) => boolean {
  if (pattern.length >= 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    let regex: RegExp;
    try {
      regex = new RegExp(pattern.slice(1, -1));
    } catch (error) {
      throw new TagFilterProblem(
        key,
        `${JSON.stringify(pattern)} is not a valid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: /, '')}`,
      );
    }
    return (tag) => regex.test(tag);
  }
  if (pattern.startsWith('/')) {
    throw new TagFilterProblem(
      key,
      `${JSON.stringify(pattern)} starts with / but does not end with one; write a regular expression as /.../`,
    );
  }
  const problem = `${JSON.stringify(pattern)} is not a valid glob: a glob holds tag characters (letters, digits, _ . -) and the wildcards *, ? and [...]; write anything else as /regex/`;
  if (!GLOB.test(pattern)) throw new TagFilterProblem(key, problem);
  let regex: RegExp;
  try {
    regex = globToRegExp(pattern);
  } catch {
    throw new TagFilterProblem(key, problem);
  }
  return (tag) => regex.test(tag);
}

/** A predicate true for a tag that any of the patterns matches (--immutable-tags); throws TagFilterProblem naming `key`. */
export function matchAny(patterns: readonly string[], key: string): (tag: string) => boolean {
  const compiled = patterns.map((p) => compilePattern(p, key));
  return (tag) => compiled.some((matches) => matches(tag));
}

/** The range of `semver`, or undefined when it is not one the semver package reads. */
export function semverRange(text: string): Range | undefined {
  try {
    return new Range(text);
  } catch {
    return undefined;
  }
}

/** The version a tag stands for (`v1.2.3` and `1.2.3` both), or undefined when it is not semver. */
export function tagVersion(tag: string): SemVer | undefined {
  return parse(tag) ?? undefined;
}

/** Throws TagFilterProblem for the first part of `filter` that does not compile. */
export function checkTagFilter(filter: TagFilter): void {
  for (const key of ['include', 'exclude'] as const) {
    (filter[key] ?? []).forEach((pattern, i) => compilePattern(pattern, `${key}[${i}]`));
  }
  if (filter.semver !== undefined && semverRange(filter.semver) === undefined) {
    throw new TagFilterProblem(
      'semver',
      `${JSON.stringify(filter.semver)} is not a semver range (e.g. ">=3.5.0 <4", "^1.2", "~2.0.1 || 3.x")`,
    );
  }
}

function describe(patterns: readonly string[]): string {
  return patterns.map((p) => JSON.stringify(p)).join(', ');
}

/** Applies `filter` to `tags`: include, exclude, semver, latest. Both lists keep the listing's order. */
export function selectTags(tags: readonly string[], filter: TagFilter): TagSelection {
  const rejected: RejectedTag[] = [];
  const include = (filter.include ?? []).map((p, i) => compilePattern(p, `include[${i}]`));
  const exclude = (filter.exclude ?? []).map((p, i) => ({ pattern: p, test: compilePattern(p, `exclude[${i}]`) }));
  const range = filter.semver === undefined ? undefined : semverRange(filter.semver);
  const needsVersion = filter.semver !== undefined || filter.latest !== undefined;
  const left: { tag: string; version: SemVer | undefined }[] = [];
  for (const tag of tags) {
    if (include.length > 0 && !include.some((test) => test(tag))) {
      rejected.push({ tag, reason: `not included by ${describe(filter.include ?? [])}` });
      continue;
    }
    const excludedBy = exclude.find((e) => e.test(tag));
    if (excludedBy !== undefined) {
      rejected.push({ tag, reason: `excluded by ${JSON.stringify(excludedBy.pattern)}` });
      continue;
    }
    const version = needsVersion ? tagVersion(tag) : undefined;
    if (needsVersion && version === undefined) {
      rejected.push({ tag, reason: 'not a semantic version' });
      continue;
    }
    if (range !== undefined && version !== undefined && !range.test(version)) {
      rejected.push({ tag, reason: `outside the semver range ${JSON.stringify(filter.semver)}` });
      continue;
    }
    left.push({ tag, version });
  }
  if (filter.latest === undefined || left.length <= filter.latest) return { selected: left.map((t) => t.tag), rejected };
  // Highest first; equal versions (v1.2.3 and 1.2.3) by tag text, so the choice never depends on the listing's order.
  const ranked = [...left].sort(
    (a, b) => rcompare(a.version as SemVer, b.version as SemVer) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0),
  );
  const kept = new Set(ranked.slice(0, filter.latest).map((t) => t.tag));
  for (const t of ranked.slice(filter.latest)) rejected.push({ tag: t.tag, reason: `not among the latest ${filter.latest}` });
  const order = new Map(tags.map((tag, i) => [tag, i]));
  rejected.sort((a, b) => (order.get(a.tag) ?? 0) - (order.get(b.tag) ?? 0));
  return { selected: left.filter((t) => kept.has(t.tag)).map((t) => t.tag), rejected };
}
