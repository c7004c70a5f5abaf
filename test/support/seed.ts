/**
 * Seeding test registries with images and indexes, and reading back what is stored, with raw HTTP
 * independent of shared/registry. Manifests are written with non-canonical whitespace so that any
 * re-serialisation by a copier changes the digest.
 */
import { createHash } from 'node:crypto';
import { HarnessError } from './harness-error.js';
import { MANIFEST_ACCEPT, expectStatus, seedFetch, type SeedTarget } from './seed-http.js';

export type { SeedTarget } from './seed-http.js';

/** An image platform, as in index entries and config blobs. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A manifest pushed by the seeding functions. */
export interface SeededImage {
  /** sha256 of `manifest` */
  digest: string;
  mediaType: string;
  /** the exact bytes pushed */
  manifest: Buffer;
  size: number;
  /** config blob digest; '' for an index */
  config: string;
  /** layer digests; [] for an index */
  layers: string[];
  /** set for images: the platform written in the config (and in an index entry) */
  platform?: Platform;
}

/** Options of {@link pushImage}. */
export interface PushImageOptions {
  /** default: two small random layers */
  layers?: Buffer[];
  /** default 'docker' */
  format?: 'oci' | 'docker';
  /** default linux/amd64 */
  platform?: Platform;
  /** JSON indentation of the manifest; default 3 spaces plus a trailing newline (no newline when given) */
  indent?: number | string;
}

const TYPES = {
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    index: 'application/vnd.oci.image.index.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
} as const;

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** `size` pseudo-random bytes; the same `seed` always gives the same bytes (a SHA-256 counter stream). */
export function randomBytes(size: number, seed?: number): Buffer {
  const key = seed ?? Math.floor(Math.random() * 2 ** 48);
  const out = Buffer.allocUnsafe(size);
  for (let offset = 0, counter = 0; offset < size; counter += 1) {
    const block = createHash('sha256').update(`${key}:${counter}`).digest();
    offset += block.copy(out, offset, 0, Math.min(block.length, size - offset));
  }
  return out;
}

/** Uploads a blob (POST then one PUT ?digest=) unless it is already there; returns its digest. */
export async function pushBlob(t: SeedTarget, repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const head = await seedFetch(t, repository, `/v2/${repository}/blobs/${digest}`, { method: 'HEAD' });
  if (head.status === 200) return digest;
  const start = await seedFetch(t, repository, `/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  await expectStatus(start, [202], `POST upload to ${repository}`);
  await start.arrayBuffer();
  const location = start.headers.get('location');
  if (location === null) throw new HarnessError(`POST upload to ${repository}: no Location`);
  const upload = new URL(location, t.url);
  upload.searchParams.set('digest', digest);
  const put = await seedFetch(t, repository, upload.toString(), {
    method: 'PUT',
    // fetch sets Content-Length from the Buffer itself (undici 7 refuses a hand-set one next to it).
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  await expectStatus(put, [201], `PUT blob ${digest} to ${repository}`);
  await put.arrayBuffer();
  return digest;
}

/** PUTs manifest bytes under `reference` (a tag, or '' for the digest); returns the digest. */
export async function putManifest(t: SeedTarget, repository: string, reference: string, mediaType: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const put = await seedFetch(t, repository, `/v2/${repository}/manifests/${reference === '' ? digest : reference}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body: bytes,
  });
  await expectStatus(put, [201], `PUT manifest ${repository}:${reference || digest}`);
  await put.arrayBuffer();
  const stored = put.headers.get('docker-content-digest');
  if (stored !== null && stored !== digest) {
    throw new HarnessError(`registry stored ${repository} manifest as ${stored}, pushed bytes hash to ${digest}`);
  }
  return digest;
}

function serialise(value: unknown, indent: number | string | undefined): Buffer {
  return Buffer.from(indent === undefined ? `${JSON.stringify(value, null, 3)}\n` : JSON.stringify(value, null, indent));
}

/** Pushes a config, layers and an image manifest; `reference` is a tag, or '' to push by digest only. */
export async function pushImage(
  t: SeedTarget,
  repository: string,
  reference: string,
  options: PushImageOptions = {},
): Promise<SeededImage> {
  const types = TYPES[options.format ?? 'docker'];
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const layers = options.layers ?? [randomBytes(1024), randomBytes(2048)];
  const layerDigests: string[] = [];
  for (const layer of layers) layerDigests.push(await pushBlob(t, repository, layer));
  const config = Buffer.from(
    JSON.stringify({
      ...platform,
      created: '2026-01-01T00:00:00Z',
      config: { Env: ['PATH=/usr/bin'] },
      rootfs: { type: 'layers', diff_ids: layerDigests },
    }),
  );
  const configDigest = await pushBlob(t, repository, config);
  const manifest = serialise(
    {
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, size: config.length, digest: configDigest },
      layers: layers.map((layer, i) => ({ mediaType: types.layer, size: layer.length, digest: layerDigests[i] })),
    },
    options.indent,
  );
  const digest = await putManifest(t, repository, reference, types.manifest, manifest);
  return { digest, mediaType: types.manifest, manifest, size: manifest.length, config: configDigest, layers: layerDigests, platform };
}

/** Pushes an index (OCI index or Docker manifest list) of already pushed children under `tag`. */
export async function pushIndex(
  t: SeedTarget,
  repository: string,
  tag: string,
  children: SeededImage[],
  format: 'oci' | 'docker' = 'docker',
): Promise<SeededImage> {
  const types = TYPES[format];
  const manifest = serialise(
    {
      schemaVersion: 2,
      mediaType: types.index,
      manifests: children.map((child) => ({
        mediaType: child.mediaType,
        size: child.size,
        digest: child.digest,
        ...(child.platform === undefined ? {} : { platform: child.platform }),
      })),
    },
    undefined,
  );
  const digest = await putManifest(t, repository, tag, types.index, manifest);
  return { digest, mediaType: types.index, manifest, size: manifest.length, config: '', layers: [] };
}

/** Pushes linux/amd64 and linux/arm64/v8 children by digest (sharing `sharedLayers`), then their index by tag. */
export async function pushMultiArch(
  t: SeedTarget,
  repository: string,
  tag: string,
  options: { format?: 'oci' | 'docker'; sharedLayers?: Buffer[] } = {},
): Promise<{ index: SeededImage; children: SeededImage[] }> {
  const shared = options.sharedLayers ?? [randomBytes(1536)];
  const platforms: Platform[] = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ];
  const children: SeededImage[] = [];
  for (const platform of platforms) {
    children.push(
      await pushImage(t, repository, '', {
        format: options.format,
        platform,
        layers: [...shared, randomBytes(512)],
      }),
    );
  }
  const index = await pushIndex(t, repository, tag, children, options.format);
  return { index, children };
}

/** The manifest bytes exactly as served for a tag or digest; undefined on 404. */
export async function getManifestBytes(t: SeedTarget, repository: string, reference: string): Promise<Buffer | undefined> {
  const response = await seedFetch(t, repository, `/v2/${repository}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT } });
  if (response.status === 404) {
    await response.arrayBuffer();
    return undefined;
  }
  await expectStatus(response, [200], `GET manifest ${repository}:${reference}`);
  return Buffer.from(await response.arrayBuffer());
}

/** sha256 of the manifest bytes as served; undefined on 404. */
export async function getManifestDigest(t: SeedTarget, repository: string, reference: string): Promise<string | undefined> {
  const bytes = await getManifestBytes(t, repository, reference);
  return bytes === undefined ? undefined : sha256(bytes);
}

/** Every tag of a repository (following `Link` pages); [] when the repository does not exist. */
export async function listTags(t: SeedTarget, repository: string): Promise<string[]> {
  const tags: string[] = [];
  let next: string | undefined = `/v2/${repository}/tags/list`;
  while (next !== undefined) {
    const response = await seedFetch(t, repository, next);
    if (response.status === 404) {
      await response.arrayBuffer();
      return tags;
    }
    await expectStatus(response, [200], `GET tags of ${repository}`);
    const body = (await response.json()) as { tags?: string[] | null };
    tags.push(...(body.tags ?? []));
    const link = /<([^>]+)>/.exec(response.headers.get('link') ?? '');
    next = link?.[1];
  }
  return tags;
}
