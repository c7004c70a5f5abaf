/**
 * Copying only some platforms of an index: the entries of the wanted platforms are kept, with the
 * attestation manifests that refer to them (buildx writes those as `unknown/unknown` entries whose
 * `vnd.docker.reference.digest` annotation names the image they describe), and the destination gets
 * an index of just those entries. Its bytes are a pure function of the source index's bytes (the
 * source's own JSON, `manifests` narrowed, written without whitespace), so the same source always
 * gives the same digest: a warm run recomputes it and compares it with the destination's HEAD, at
 * no extra request. An index whose every entry is kept is pushed as fetched.
 */
import { sha256Digest } from '../registry/digest.js';
import type { FetchedManifest } from '../registry/types.js';
import { ImageMigratorError } from '../errors.js';
import { formatPlatform, platformMatches, type ImagePlatform } from '../platform.js';

/** The annotation buildx puts on an attestation manifest: the digest of the image it describes. */
export const REFERENCE_DIGEST = 'vnd.docker.reference.digest';

/** An index none of whose images is of a wanted platform: the task fails, naming what there is. */
export class NoMatchingPlatformError extends ImageMigratorError {
  public constructor(
    what: string,
    public readonly wanted: readonly string[],
    public readonly available: readonly string[],
  ) {
    super(`${what} has no image for ${wanted.join(', ')}; it has ${available.length === 0 ? 'no platform entries' : available.join(', ')}`);
  }
}

interface IndexEntry {
  readonly digest?: unknown;
  readonly platform?: ImagePlatform;
  readonly annotations?: Record<string, string>;
}

/** What filtering an index kept: the manifest to push and the digests of the images kept. */
export interface FilteredIndex {
  readonly manifest: FetchedManifest;
  /** Digests of the kept images (attestations not included). */
  readonly images: readonly string[];
  /** True when entries were dropped, so the destination's digest differs from the source's. */
  readonly narrowed: boolean;
}

/** Narrows an index's `manifests` to `platforms`; throws NoMatchingPlatformError when none is there. */
export function filterIndex(index: FetchedManifest, platforms: readonly string[], what: string): FilteredIndex {
  const json = JSON.parse(index.bytes.toString('utf8')) as { manifests?: IndexEntry[] } & Record<string, unknown>;
  const entries = json.manifests ?? [];
  const isAttestation = (e: IndexEntry): boolean => typeof e.annotations?.[REFERENCE_DIGEST] === 'string';
  const images = entries.filter((e) => !isAttestation(e) && platformMatches(e.platform, platforms));
  if (images.length === 0) {
    const available = [
      ...new Set(
        entries.filter((e) => !isAttestation(e) && e.platform !== undefined).map((e) => formatPlatform(e.platform as ImagePlatform)),
      ),
    ];
    throw new NoMatchingPlatformError(what, platforms, available);
  }
  const keptDigests = new Set(images.map((e) => String(e.digest)));
  const kept = entries.filter(
    (e) => keptDigests.has(String(e.digest)) || (isAttestation(e) && keptDigests.has(e.annotations?.[REFERENCE_DIGEST] ?? '')),
  );
  if (kept.length === entries.length) return { manifest: index, images: [...keptDigests], narrowed: false };
  const bytes = Buffer.from(JSON.stringify({ ...json, manifests: kept }));
  return { manifest: { mediaType: index.mediaType, digest: sha256Digest(bytes), bytes }, images: [...keptDigests], narrowed: true };
}

/** The platform an image config declares (`os`, `architecture`, `variant`), or undefined. */
export function configPlatform(config: Buffer): ImagePlatform | undefined {
  try {
    const json = JSON.parse(config.toString('utf8')) as { os?: unknown; architecture?: unknown; variant?: unknown };
    if (typeof json.os !== 'string' || typeof json.architecture !== 'string') return undefined;
    return { os: json.os, architecture: json.architecture, ...(typeof json.variant === 'string' ? { variant: json.variant } : {}) };
  } catch {
    return undefined;
  }
}
