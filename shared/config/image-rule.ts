/**
 * One images.json rule, source to destination, checked against the eight rules of Huawei's image-migrator. The
 * problems name the rule's number so that a user can look it up in that tool's documentation.
 */
import { ImageMigratorError, InvalidReferenceError } from '../errors.js';
import { DOCKER_HUB, type ImageReference, formatReference, looksLikeRegistry, parseReference } from '../reference.js';
import { defaultDestination } from './default-destination.js';
import type { RuleOptions } from './rule-object.js';
import type { TagFilter } from './tag-filter.js';

/** A rule of images.json, normalised. */
export interface MigrationRule {
  /** 1-based position in the file (duplicate keys and list elements each keep their own rule). */
  readonly index: number;
  /** The source as written. */
  readonly key: string;
  /** The destination as written ('' for the default destination). */
  readonly value: string;
  /** Normalised, with the tag and/or digest as written. */
  readonly source: ImageReference;
  /** Normalised; no tag when every tag is copied, or when a digest-only source is pushed by digest. */
  readonly destination: ImageReference;
  /** The source has neither tag nor digest: every tag is copied. */
  readonly allTags: boolean;
  /** Object form: which tags an all-tags rule copies (see tag-filter.ts). */
  readonly tags?: TagFilter;
  /** Object form: the platforms (`os/arch[/variant]`) of an index that are copied; all when absent. */
  readonly platforms?: readonly string[];
  /** Object form: whether each copied manifest's referrers (signatures, SBOMs, attestations) go with it. */
  readonly referrers?: boolean;
  /** The rule declares its tags immutable: a tag already at the destination is not compared again. */
  readonly immutable?: boolean;
  /** Object form (or --include-foreign-layers): foreign layers are copied, not left out. */
  readonly foreignLayers?: boolean;
}

/**
 * Whether a rule copies referrers: as written, else true for tag and digest rules and for filtered
 * all-tags rules. An unfiltered all-tags rule already copies the fallback tags (`sha256-...`) as tags.
 */
export function copiesReferrers(rule: Pick<MigrationRule, 'allTags' | 'tags' | 'referrers'>): boolean {
  return rule.referrers ?? (!rule.allTags || rule.tags !== undefined);
}

/** The default destination registry and namespace: CLI flags already merged with the environment. */
export interface Defaults {
  registry?: string;
  namespace?: string;
}

/** A rule that breaks the rules of Huawei's image-migrator; `problem` is the text after the file and key. */
export class RuleProblem extends ImageMigratorError {
  public constructor(
    public readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(problem, options);
  }
}

const WRITE_REPOSITORY = 'write registry/namespace/repository';

/** Builds rule `index` from `key` and `value` (and the object form's options). Throws RuleProblem. */
export function buildRule(index: number, key: string, value: string, defaults: Defaults, options: RuleOptions = {}): MigrationRule {
  if (key.length === 0) throw new RuleProblem('rule 4: the source is empty');
  const source = parse(key, 'the source');
  const allTags = source.tag === undefined && source.digest === undefined;
  if (!namesRepository(key, source, !allTags)) {
    throw new RuleProblem(`rule 1: the source names a namespace or registry, not a repository (${WRITE_REPOSITORY})`);
  }
  const destination = value.length === 0 ? defaultFor(source, defaults) : writtenDestination(value, source, allTags);
  if (destination.registry === source.registry && destination.repository === source.repository && destination.tag === source.tag) {
    throw new RuleProblem(
      `the destination ${JSON.stringify(value || formatReference(destination))} is the source itself; nothing would be copied`,
    );
  }
  if (options.tags !== undefined && !allTags) {
    const untagged = key.split('@')[0]?.slice(0, source.tag === undefined ? undefined : -(source.tag.length + 1));
    throw new RuleProblem(
      `tags: rule 6: a tag filter chooses among every tag of a source without a tag, but this source names ${source.tag === undefined ? 'a digest' : `the tag ${JSON.stringify(source.tag)}`} (write ${JSON.stringify(untagged)})`,
    );
  }
  return { index, key, value, source, destination, allTags, ...options };
}

function writtenDestination(value: string, source: ImageReference, allTags: boolean): ImageReference {
  const written = parse(value, 'the destination');
  if (written.digest !== undefined) {
    throw new RuleProblem(
      `rule 2: the destination ${JSON.stringify(value)} has a digest; write registry/namespace/repository[:tag] (the copy keeps the source's digest)`,
    );
  }
  if (!namesRepository(value, written, false)) {
    throw new RuleProblem(
      `rule 3: the destination ${JSON.stringify(value)} names a namespace or registry, not a repository (${WRITE_REPOSITORY})`,
    );
  }
  if (allTags && written.tag !== undefined) {
    const untagged = value.slice(0, value.length - written.tag.length - 1);
    throw new RuleProblem(
      `rule 6: the source has no tag, so every tag is copied and the destination must not have one (write ${JSON.stringify(untagged)})`,
    );
  }
  // Rule 7: a tagged source whose destination has no tag keeps its tag. A digest-only source keeps
  // none, and the copy pushes it by digest.
  if (written.tag === undefined && source.tag !== undefined) return { ...written, tag: source.tag };
  return written;
}

function defaultFor(source: ImageReference, defaults: Defaults): ImageReference {
  if (!defaults.registry) {
    throw new RuleProblem('rule 8: the destination is empty and no default registry is set (use --registry or DEFAULT_REGISTRY)');
  }
  if (!defaults.namespace) {
    throw new RuleProblem('rule 8: the destination is empty and no default namespace is set (use --namespace or DEFAULT_NAMESPACE)');
  }
  const destination = defaultDestination(source, defaults.registry, defaults.namespace);
  const text = formatReference(destination);
  try {
    parseReference(text);
  } catch (error) {
    if (!(error instanceof InvalidReferenceError)) throw error;
    throw new RuleProblem(`rule 8: the default destination ${JSON.stringify(text)} is not valid: ${error.message}`, { cause: error });
  }
  return destination;
}

function parse(text: string, what: string): ImageReference {
  try {
    return parseReference(text);
  } catch (error) {
    if (!(error instanceof InvalidReferenceError)) throw error;
    throw new RuleProblem(`rule 2: ${what} is not a docker pull/push reference: ${error.message}`, { cause: error });
  }
}

/**
 * Rules 1 and 3: at least registry/namespace/repository. parseReference reads `quay.io` as the
 * Docker Hub image `library/quay.io`, so the text as written is checked too: a lone segment that looks
 * like a host, a registry with a single path segment, or Docker Hub's bare `library` namespace.
 *
 * `atRoot` accepts a single segment under a registry other than Docker Hub. Real clusters run images
 * such as `registry.k8s.io/pause:3.9`, whose repository sits at the registry's root; for a source
 * with a tag or digest that reading is the only one (a namespace has no tags), whereas an untagged
 * `quay.io/coreos` is most likely a whole namespace, which rule 1 forbids.
 */
function namesRepository(text: string, ref: ImageReference, atRoot: boolean): boolean {
  const name = text.split('@')[0] ?? '';
  const path = name.slice(0, ref.tag === undefined ? name.length : name.length - ref.tag.length - 1).split('/');
  if (path.length === 1) return !looksLikeRegistry(path[0] ?? '');
  if (ref.registry !== DOCKER_HUB) return atRoot || ref.repository.split('/').length >= 2;
  const written = looksLikeRegistry(path[0] ?? '') ? path.slice(1) : path;
  return written.join('/') !== 'library';
}
