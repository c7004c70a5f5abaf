/**
 * Foreign and non-distributable layers: Docker's `rootfs.foreign` and OCI's (deprecated)
 * `nondistributable` layer types, which Windows base images and some licensed content use. Their
 * descriptors usually carry `urls` where pulls fetch them, and the source registry often does not
 * serve their blobs. By default they are left out, as docker push does: the manifest is pushed
 * unchanged (its digest kept) and each layer is recorded with the reason, never silently. A rule may
 * ask for them to be copied (`--include-foreign-layers`, `"foreignLayers": true`) where the source
 * serves them, or, failing that, from their `urls` (https only, never with a login, digest verified).
 * A destination that refuses a manifest because of such a layer fails the task at once, naming the
 * layer, why, and what to do.
 */
import { ImageMigratorError } from '../errors.js';
import { redactUrl } from '../registry/redact.js';
import { RegistryError } from '../registry/registry-error.js';
import type { Registry, RepositoryRef } from '../registry/types.js';
import type { BlobDownload } from './copy-blob.js';
import type { Descriptor } from './manifest.js';

/** The layer media types that say "do not distribute this blob". */
export const FOREIGN_LAYER_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

/** True for a layer whose media type marks it foreign (non-distributable). */
export function isForeignLayer(layer: Pick<Descriptor, 'mediaType'>): boolean {
  return FOREIGN_LAYER_TYPES.has(layer.mediaType);
}

/** A foreign layer that was not copied, as the report and the log show it. */
export interface LeftOutLayer {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  /** Where pulls fetch it from, as its descriptor says (absent when it names none). */
  readonly urls?: readonly string[];
  readonly reason: string;
}

/** What to write to copy foreign layers anyway: the CLI flag and the rule key. */
export const INCLUDE_OPTION = '--include-foreign-layers (or "foreignLayers": true in the rule)';

/** The layer's `urls` that are strings (a manifest is another party's JSON). */
function urlsOf(layer: Descriptor): string[] {
  return Array.isArray(layer.urls) ? layer.urls.filter((u): u is string => typeof u === 'string') : [];
}

/** The left-out record of a layer. */
export function leftOut(layer: Descriptor): LeftOutLayer {
  const urls = urlsOf(layer).map((u) => redactUrl(u));
  return {
    digest: layer.digest,
    size: layer.size,
    mediaType: layer.mediaType,
    ...(urls.length === 0 ? {} : { urls: [...urls] }),
    reason:
      urls.length === 0
        ? `foreign (non-distributable) layer, not copied as docker push does; it names no urls, so pulls from the destination need it copied with ${INCLUDE_OPTION}`
        : 'foreign (non-distributable) layer, not copied as docker push does; pulls fetch it from its urls',
  };
}

/** The foreign layers left out by one copy, each listed once. */
export class LeftOutLayers {
  private readonly layers = new Map<string, LeftOutLayer>();

  public add(layer: Descriptor): void {
    if (!this.layers.has(layer.digest)) this.layers.set(layer.digest, leftOut(layer));
  }

  public get list(): readonly LeftOutLayer[] | undefined {
    return this.layers.size === 0 ? undefined : [...this.layers.values()];
  }
}

/** `sha256:... (media type, N bytes, urls ...)`: a layer as messages name it. */
function describe(layer: Descriptor): string {
  const urls = urlsOf(layer).map((u) => redactUrl(u));
  return `${layer.digest} (${layer.mediaType}, ${layer.size} bytes${urls.length === 0 ? ', no urls' : `, urls ${urls.join(' ')}`})`;
}

const DIGEST = /sha256:[0-9a-f]{64}/g;
const FOREIGN_WORDS = /foreign|non-?distributable|\burls?\b/i;

/**
 * The foreign layers a manifest refusal is about, or undefined when it is about something else: the
 * layers whose digest the registry names (distribution answers MANIFEST_BLOB_UNKNOWN with the digest,
 * as a 500 when its config refuses foreign layer URLs), or all of them when the registry's text speaks
 * of foreign layers or URLs, or says a blob is unknown without naming one.
 */
export function refusedForeignLayers(error: unknown, foreign: readonly Descriptor[]): readonly Descriptor[] | undefined {
  if (foreign.length === 0 || !(error instanceof RegistryError) || error.retryable || error.status === undefined) return undefined;
  if (error.status === 401 || error.status === 403 || error.status === 404) return undefined;
  const texts = error.codes.map((c) => `${c.message} ${c.detail ?? ''}`);
  const named = new Set(texts.flatMap((t) => t.match(DIGEST) ?? []));
  const layers = foreign.filter((layer) => named.has(layer.digest));
  if (layers.length > 0) return layers;
  if (texts.some((t) => FOREIGN_WORDS.test(t))) return foreign;
  if (error.hasCode('MANIFEST_BLOB_UNKNOWN') && named.size === 0) return foreign;
  return undefined;
}

/** A destination refused a manifest because of its foreign layers: no retry can change that. */
export class ForeignLayerRefusedError extends ImageMigratorError {
  public readonly retryable = false;

  public constructor(
    public readonly layers: readonly Descriptor[],
    manifest: string,
    included: boolean,
    options: { cause: unknown },
  ) {
    const which = `${layers.length === 1 ? 'its foreign layer' : 'its foreign layers'} ${layers.map(describe).join(', ')}`;
    const the = layers.length === 1 ? 'the layer' : 'the layers';
    super(
      included
        ? `${manifest} was refused because of ${which}, although its blob was copied: the destination does not accept foreign layer URLs; let it accept them (distribution: validation.manifests.urls.allow), or copy to a registry that does`
        : `${manifest} was refused because of ${which}: ${the} ${layers.length === 1 ? 'was' : 'were'} left out (foreign layers are not copied by default) and the destination does not accept a manifest referring to ${layers.length === 1 ? 'it' : 'them'}; let the destination accept foreign layers (distribution: validation.manifests.urls.allow), or copy ${the} with ${INCLUDE_OPTION} where the source serves ${layers.length === 1 ? 'it' : 'them'}`,
      options,
    );
  }
}

/** A foreign layer asked for that neither the source registry nor its urls serve. */
export class ForeignLayerUnavailableError extends ImageMigratorError {
  public readonly retryable = false;

  public constructor(layer: Descriptor, source: string, failures: readonly string[], options: { cause: unknown }) {
    super(
      `the foreign layer ${describe(layer)} cannot be copied: ${failures.join('; ')}; without ${INCLUDE_OPTION} the manifest is pushed without it (source ${source})`,
      options,
    );
  }
}

/** A blob that is not there: a 404 (distribution: BLOB_UNKNOWN). */
function isMissing(error: unknown): boolean {
  return error instanceof RegistryError && (error.status === 404 || error.hasCode('BLOB_UNKNOWN'));
}

/**
 * The download of a foreign layer: from the source registry, and when it does not have the blob,
 * from the layer's `urls` in turn (see Registry.getBlobFromUrl). The source that served it first
 * serves the resumed parts too.
 */
export function foreignLayerDownload(registry: Registry, source: RepositoryRef): BlobDownload {
  let url: string | undefined;
  return async (layer, offset) => {
    if (url !== undefined && registry.getBlobFromUrl !== undefined) return registry.getBlobFromUrl(url, offset);
    const failures: string[] = [];
    let cause: unknown;
    try {
      return await registry.getBlob(source, layer.digest, offset);
    } catch (error) {
      if (!isMissing(error)) throw error;
      failures.push(`the source registry does not serve it (${(error as Error).message})`);
      cause = error;
    }
    const urls = urlsOf(layer);
    if (urls.length === 0) failures.push('it names no urls');
    else if (registry.getBlobFromUrl === undefined) failures.push('its urls cannot be fetched by this copier');
    else {
      for (const candidate of urls) {
        try {
          const stream = await registry.getBlobFromUrl(candidate, offset);
          url = candidate;
          return stream;
        } catch (error) {
          failures.push(`${redactUrl(candidate)}: ${(error as Error).message}`);
          cause = error;
        }
      }
    }
    throw new ForeignLayerUnavailableError(layer, `${source.registry}/${source.repository}`, failures, { cause });
  };
}
