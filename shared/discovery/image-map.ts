/**
 * From discovered image strings to images.json rules: each normalised once (Docker Hub names,
 * `library/`, `latest` when neither tag nor digest), mapped under the `-t` target by the
 * empty-destination rule, and checked so that no two sources share a destination.
 */
import { defaultDestination } from '../config/default-destination.js';
import { ConfigError } from '../errors.js';
import { formatReference, looksLikeRegistry, parseReference, type ImageReference } from '../reference.js';
import { DestinationCollisionError } from './errors.js';

/** The `-t registry/namespace` target. */
export interface Target {
  readonly registry: string;
  readonly namespace: string;
}

/** How sources map to destinations. */
export interface MappingOptions {
  /** Keep the whole source repository path under the target (`target/coreos/etcd`). */
  readonly keepPath?: boolean;
}

/** An image string that is not a valid reference, and who uses it. */
export interface SkippedImage {
  readonly image: string;
  readonly workloads: readonly string[];
  readonly reason: string;
}

/** The rules, source to destination, and what could not be mapped. */
export interface ImageMapping {
  readonly rules: Readonly<Record<string, string>>;
  readonly skipped: readonly SkippedImage[];
}

/** Parses `-t`: a registry host, then an optional namespace path. */
export function parseTarget(text: string, flag = '-t/--repo'): Target {
  const trimmed = text.trim().replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  const registry = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const namespace = slash < 0 ? '' : trimmed.slice(slash + 1);
  if (registry.length === 0 || !looksLikeRegistry(registry)) {
    throw new ConfigError(
      flag,
      text,
      'must be registry/namespace, e.g. swr.example.com/team (the registry needs a dot, a port or be localhost)',
    );
  }
  try {
    parseReference(`${registry}/${namespace.length > 0 ? `${namespace}/` : ''}probe`);
  } catch (error) {
    throw new ConfigError(flag, text, `is not a valid registry/namespace: ${(error as Error).message}`, { cause: error });
  }
  return { registry, namespace };
}

/** The source as images.json keys it: fully qualified, `latest` when neither tag nor digest. */
export function normaliseSource(image: string): ImageReference {
  const ref = parseReference(image);
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: 'latest' } : ref;
}

/** The destination of `source` under `target`. A digest-only source keeps no tag: it is copied by digest. */
export function destinationOf(source: ImageReference, target: Target, options: MappingOptions = {}): ImageReference {
  if (options.keepPath !== true) return defaultDestination(source, target.registry, target.namespace);
  return {
    registry: defaultDestination(source, target.registry, target.namespace).registry,
    repository: target.namespace.length > 0 ? `${target.namespace}/${source.repository}` : source.repository,
    ...(source.tag === undefined ? {} : { tag: source.tag }),
  };
}

/** Builds the rules; throws {@link DestinationCollisionError} when two sources would land on one destination. */
export function mapImages(images: ReadonlyMap<string, ReadonlySet<string>>, target: Target, options: MappingOptions = {}): ImageMapping {
  const rules: Record<string, string> = {};
  const skipped: SkippedImage[] = [];
  const owners = new Map<string, { source: ImageReference; key: string }>();
  for (const [image, users] of images) {
    let source: ImageReference;
    try {
      source = normaliseSource(image);
    } catch (error) {
      skipped.push({ image, workloads: [...users].sort(), reason: (error as Error).message });
      continue;
    }
    const key = formatReference(source);
    if (rules[key] !== undefined) continue;
    const destination = formatReference(destinationOf(source, target, options));
    // A digest-only copy lands at `repo@digest`, so two digests of one repository never clash.
    const slot = source.tag === undefined && source.digest !== undefined ? `${destination}@${source.digest}` : destination;
    const earlier = owners.get(slot);
    if (earlier !== undefined) {
      const pair = [earlier.key, key].sort() as [string, string];
      throw new DestinationCollisionError(destination, pair, collisionHint(earlier.source, source, options));
    }
    owners.set(slot, { source, key });
    rules[key] = destination;
  }
  return { rules, skipped };
}

function collisionHint(a: ImageReference, b: ImageReference, options: MappingOptions): string {
  if (options.keepPath !== true && a.repository !== b.repository) {
    return 'pass --keep-path to keep the full source path under the target (e.g. target/coreos/etcd)';
  }
  if (a.registry !== b.registry) return 'they differ only in their registry; write these rules by hand';
  const what =
    a.digest !== undefined && b.digest !== undefined
      ? 'they name different digests for one tag'
      : 'one names a digest and the other does not';
  return `${what}; pin both workloads to the same reference or write these rules by hand`;
}

/** images.json text: keys sorted, four-space indent, trailing newline. */
export function formatImagesJson(
  rules: Readonly<Record<string, string>>,
  options: { readonly platforms?: readonly string[] } = {},
): string {
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(rules).sort()) {
    const to = rules[key] as string;
    // With platforms, each rule takes the object form: only the cluster's own architectures are copied.
    sorted[key] = options.platforms === undefined ? to : { to, platforms: options.platforms };
  }
  return `${JSON.stringify(sorted, null, 4)}\n`;
}
