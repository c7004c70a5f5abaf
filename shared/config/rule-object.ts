/**
 * The object form of an images.json value, beside the string and the list:
 * `{"to": ..., "tags": {...}, "platforms": [...], "referrers": true, "immutable": false, "foreignLayers": true}`.
 * Its shape is checked with zod; every problem is reported with the key path that holds it
 * (`tags.latest`, `platforms[1]`), so that the message names the file, the rule and the key.
 */
import * as z from 'zod';
import { parsePlatform } from '../platform.js';
import { TagFilterProblem, checkTagFilter, type TagFilter } from './tag-filter.js';
import { ImageMigratorError } from '../errors.js';

/** What the object form adds to a rule; every key is optional. */
export interface RuleOptions {
  readonly tags?: TagFilter;
  readonly platforms?: readonly string[];
  readonly referrers?: boolean;
  readonly immutable?: boolean;
  readonly foreignLayers?: boolean;
}

/** A problem in the object form: `key` is the path of the offending key, e.g. `tags.latest`. */
export class RuleObjectProblem extends ImageMigratorError {
  public constructor(
    public readonly key: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${key}: ${problem}`, options);
  }
}

const KEYS = ['to', 'tags', 'platforms', 'referrers', 'immutable', 'foreignLayers'] as const;
const TAG_KEYS = ['include', 'exclude', 'semver', 'latest'] as const;

/** `a string`, `a number`, `an array`... of a parsed JSON value, never its content. */
function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

const shown = (value: unknown): string => (typeof value === 'number' || typeof value === 'boolean' ? String(value) : kind(value));
/**
 * The schema of the object form, built when the first object-form rule is parsed: most images files
 * have none, and building it costs a few milliseconds of every start.
 */
function buildRuleObject() {
  const Patterns = z.union([z.string(), z.array(z.string())], {
    error: (issue) => `must be a pattern or a list of patterns (globs with * and ?, or /regex/), not ${kind(issue.input)}`,
  });
  const Tags = z.strictObject(
    {
      include: Patterns.optional(),
      exclude: Patterns.optional(),
      semver: z.string({ error: (issue) => `must be a semver range as a string (e.g. ">=3.5.0 <4"), not ${kind(issue.input)}` }).optional(),
      latest: z
        .number({ error: (issue) => `must be a whole number of at least 1, not ${shown(issue.input)}` })
        .int({ error: (issue) => `must be a whole number of at least 1, not ${shown(issue.input)}` })
        .min(1, { error: (issue) => `must be a whole number of at least 1, not ${shown(issue.input)}` })
        .optional(),
    },
    { error: (issue) => `must be an object with ${TAG_KEYS.join(', ')}, not ${kind(issue.input)}` },
  );
  const Destinations = z.union([z.string(), z.array(z.string())], {
    error: (issue) =>
      issue.input === undefined
        ? 'is required: the destination, a list of destinations, or "" for the default registry and namespace'
        : `must be a destination string, a list of them, or "", not ${kind(issue.input)}`,
  });
  const Bool = z.boolean({ error: (issue) => `must be true or false, not ${shown(issue.input)}` });
  return z.strictObject({
    to: Destinations,
    tags: Tags.optional(),
    platforms: z
      .array(z.string({ error: (issue) => `must be a string os/arch[/variant], not ${kind(issue.input)}` }), {
        error: (issue) => `must be a list of platforms such as ["linux/amd64", "linux/arm64"], not ${kind(issue.input)}`,
      })
      .optional(),
    referrers: Bool.optional(),
    immutable: Bool.optional(),
    foreignLayers: Bool.optional(),
  });
}
let ruleObject: ReturnType<typeof buildRuleObject> | undefined;

function pathOf(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

function problemOf(issue: z.core.$ZodIssue): RuleObjectProblem {
  if (issue.code === 'unrecognized_keys') {
    const parent = pathOf(issue.path);
    const key = issue.keys[0] ?? '';
    const allowed = parent === '' ? KEYS : TAG_KEYS;
    return new RuleObjectProblem(
      parent === '' ? key : `${parent}.${key}`,
      `unknown key (${parent === '' ? 'a rule' : parent} takes ${allowed.join(', ')})`,
    );
  }
  return new RuleObjectProblem(pathOf(issue.path), issue.message);
}

const list = (value: string | readonly string[] | undefined): readonly string[] | undefined =>
  typeof value === 'string' ? [value] : value;

/** Parses the object form; throws RuleObjectProblem for the first problem found. */
export function parseRuleObject(value: unknown): { destinations: string[]; options: RuleOptions } {
  const parsed = (ruleObject ??= buildRuleObject()).safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw issue === undefined ? new RuleObjectProblem('to', 'is not valid') : problemOf(issue);
  }
  const { to, tags, platforms, referrers, immutable, foreignLayers } = parsed.data;
  const destinations = typeof to === 'string' ? [to] : to;
  if (destinations.length === 0) throw new RuleObjectProblem('to', 'the list of destinations is empty');
  let filter: TagFilter | undefined;
  if (tags !== undefined) {
    const include = list(tags.include);
    const exclude = list(tags.exclude);
    filter = {
      ...(include === undefined ? {} : { include }),
      ...(exclude === undefined ? {} : { exclude }),
      ...(tags.semver === undefined ? {} : { semver: tags.semver }),
      ...(tags.latest === undefined ? {} : { latest: tags.latest }),
    };
    try {
      checkTagFilter(filter);
    } catch (error) {
      if (!(error instanceof TagFilterProblem)) throw error;
      // A single pattern written as a string is reported without the list index it was given.
      const key = error.key.replace(/^(include|exclude)\[0\]$/, (whole, name: 'include' | 'exclude') =>
        typeof tags[name] === 'string' ? name : whole,
      );
      throw new RuleObjectProblem(`tags.${key}`, error.message);
    }
  }
  if (platforms !== undefined) {
    if (platforms.length === 0) throw new RuleObjectProblem('platforms', 'the list is empty; leave the key out to copy every platform');
    platforms.forEach((text, i) => {
      if (parsePlatform(text) === undefined) {
        throw new RuleObjectProblem(
          `platforms[${i}]`,
          `${JSON.stringify(text)} is not os/arch[/variant] (e.g. "linux/amd64", "linux/arm64/v8")`,
        );
      }
    });
  }
  return {
    destinations,
    options: {
      ...(filter === undefined ? {} : { tags: filter }),
      ...(platforms === undefined ? {} : { platforms }),
      ...(referrers === undefined ? {} : { referrers }),
      ...(immutable === undefined ? {} : { immutable }),
      ...(foreignLayers === undefined ? {} : { foreignLayers }),
    },
  };
}
