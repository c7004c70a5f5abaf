/**
 * Seeding what travels with images: buildx-style multi-arch indexes with attestation manifests,
 * cosign signatures under `sha256-<hex>.sig` tags, and OCI 1.1 artifacts with a `subject`, listed in
 * the referrers fallback tag `sha256-<hex>`. Raw HTTP, independent of shared/registry.
 */
import type { SeedTarget } from './seed-http.js';
import { pushBlob, pushImage, putManifest, randomBytes, type Platform, type SeededImage } from './seed.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';

/** A descriptor of a seeded manifest, as an index or the referrers API lists it. */
export interface SeededDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Platform;
}

/** Pushes an OCI artifact manifest (empty config, one payload layer), with a `subject` when given. */
export async function pushArtifact(
  t: SeedTarget,
  repository: string,
  reference: string,
  options: { artifactType: string; payload: string; subject?: SeededDescriptor; annotations?: Record<string, string> },
): Promise<SeededDescriptor> {
  const config = Buffer.from('{}');
  const configDigest = await pushBlob(t, repository, config);
  const payload = Buffer.from(options.payload);
  const layer = await pushBlob(t, repository, payload);
  const manifest = Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: options.artifactType,
        config: { mediaType: EMPTY, digest: configDigest, size: config.length },
        layers: [{ mediaType: options.artifactType, digest: layer, size: payload.length }],
        ...(options.subject === undefined
          ? {}
          : { subject: { mediaType: options.subject.mediaType, digest: options.subject.digest, size: options.subject.size } }),
        ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
      },
      null,
      2,
    ),
  );
  const digest = await putManifest(t, repository, reference, OCI_MANIFEST, manifest);
  return {
    mediaType: OCI_MANIFEST,
    digest,
    size: manifest.length,
    artifactType: options.artifactType,
    ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
  };
}

/** The fallback tag of a digest: `sha256-<hex>`. */
export function fallbackTag(digest: string): string {
  return digest.replace(':', '-');
}

/** Pushes the referrers fallback index of `subject`, listing `referrers`. */
export async function pushFallbackIndex(
  t: SeedTarget,
  repository: string,
  subject: string,
  referrers: SeededDescriptor[],
): Promise<string> {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: referrers }, null, 2));
  return putManifest(t, repository, fallbackTag(subject), OCI_INDEX, bytes);
}

/** A cosign signature of `subject` under the tag `sha256-<hex>.sig`. */
export function pushCosignSignature(t: SeedTarget, repository: string, subject: string): Promise<SeededDescriptor> {
  return pushArtifact(t, repository, `${fallbackTag(subject)}.sig`, {
    artifactType: 'application/vnd.dev.cosign.simplesigning.v1+json',
    payload: JSON.stringify({ critical: { image: { 'docker-manifest-digest': subject }, type: 'cosign container image signature' } }),
    annotations: { 'dev.cosignproject.cosign/signature': randomBytes(32).toString('base64') },
  });
}

/** What {@link pushBuildxIndex} pushed. */
export interface BuildxIndex {
  index: SeededImage;
  images: SeededImage[];
  /** The attestation manifest of each image, in the same order. */
  attestations: SeededImage[];
}

/**
 * A buildx-style OCI index under `tag`: one image per platform and, for each, an attestation
 * manifest (platform unknown/unknown, `vnd.docker.reference.digest` naming the image).
 */
export async function pushBuildxIndex(
  t: SeedTarget,
  repository: string,
  tag: string,
  platforms: Platform[],
  seed = 1,
): Promise<BuildxIndex> {
  const shared = randomBytes(1024, seed);
  const images: SeededImage[] = [];
  const attestations: SeededImage[] = [];
  for (const [i, platform] of platforms.entries()) {
    images.push(await pushImage(t, repository, '', { format: 'oci', platform, layers: [shared, randomBytes(256, seed * 100 + i)] }));
    attestations.push(
      await pushImage(t, repository, '', {
        format: 'oci',
        platform: { os: 'unknown', architecture: 'unknown' },
        layers: [randomBytes(128, seed * 1000 + i)],
      }),
    );
  }
  const entries = [
    ...images.map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.size, platform: m.platform })),
    ...attestations.map((a, i) => ({
      mediaType: a.mediaType,
      digest: a.digest,
      size: a.size,
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: { 'vnd.docker.reference.digest': images[i]?.digest ?? '', 'vnd.docker.reference.type': 'attestation-manifest' },
    })),
  ];
  const bytes = Buffer.from(`${JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }, null, 3)}\n`);
  const digest = await putManifest(t, repository, tag, OCI_INDEX, bytes);
  return { index: { digest, mediaType: OCI_INDEX, manifest: bytes, size: bytes.length, config: '', layers: [] }, images, attestations };
}
