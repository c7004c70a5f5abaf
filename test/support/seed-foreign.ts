/**
 * Seeding Windows-style images whose first layer is foreign (non-distributable): Docker's
 * `rootfs.foreign` type or OCI's `nondistributable` one, with `urls`, its blob pushed to the registry
 * or not (as most registries do not serve it). The registry must accept manifests with foreign layer
 * URLs (startRegistry's `foreignLayerUrls`). Raw HTTP, independent of shared/registry.
 */
import { createHash } from 'node:crypto';
import type { SeedTarget } from './seed-http.js';
import { pushBlob, putManifest, randomBytes, type SeededImage } from './seed.js';

/** The foreign layer media types, by format. */
export const FOREIGN_TYPES = {
  docker: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  oci: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
} as const;

const TYPES = {
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
} as const;

/** The foreign layer of a seeded image. */
export interface SeededForeignLayer {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  readonly urls: string[];
  readonly bytes: Buffer;
}

/** Options of {@link pushForeignImage}. */
export interface ForeignImageOptions {
  /** default 'docker' */
  readonly format?: 'docker' | 'oci';
  /** Push the foreign layer's blob to the registry too (default false: the registry does not serve it). */
  readonly serveBlob?: boolean;
  /** The layer's urls, from its digest (default one https URL under a name that never resolves). */
  readonly urls?: (digest: string) => string[];
  /** The foreign layer's bytes (default 3000 random bytes). */
  readonly bytes?: Buffer;
}

/** Pushes a config, an ordinary layer and an image manifest whose first layer is foreign. */
export async function pushForeignImage(
  t: SeedTarget,
  repository: string,
  reference: string,
  options: ForeignImageOptions = {},
): Promise<SeededImage & { foreign: SeededForeignLayer }> {
  const format = options.format ?? 'docker';
  const types = TYPES[format];
  const bytes = options.bytes ?? randomBytes(3000);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (options.serveBlob === true) await pushBlob(t, repository, bytes);
  const foreign: SeededForeignLayer = {
    digest,
    size: bytes.length,
    mediaType: FOREIGN_TYPES[format],
    urls: options.urls?.(digest) ?? [`https://foreign-layers.invalid/v2/windows/servercore/blobs/${digest}`],
    bytes,
  };
  const layer = randomBytes(1024);
  const layerDigest = await pushBlob(t, repository, layer);
  const config = Buffer.from(
    JSON.stringify({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2340', rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const configDigest = await pushBlob(t, repository, config);
  const manifest = Buffer.from(
    `${JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: types.manifest,
        config: { mediaType: types.config, size: config.length, digest: configDigest },
        layers: [
          { mediaType: foreign.mediaType, size: foreign.size, digest, urls: foreign.urls },
          { mediaType: types.layer, size: layer.length, digest: layerDigest },
        ],
      },
      null,
      3,
    )}\n`,
  );
  const manifestDigest = await putManifest(t, repository, reference, types.manifest, manifest);
  return {
    digest: manifestDigest,
    mediaType: types.manifest,
    manifest,
    size: manifest.length,
    config: configDigest,
    layers: [digest, layerDigest],
    platform: { os: 'windows', architecture: 'amd64' },
    foreign,
  };
}
