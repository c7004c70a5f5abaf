/**
 * The benchmark's workload, built once in the source registry: 10 repositories, 40 tags, base layers
 * shared by every image, multi-arch indexes of both formats, and one 256 MiB layer.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { pushImage, pushMultiArch, randomBytes, type SeedTarget } from '../support/seed.js';

/** One tag of the workload and the digest its copies must keep. */
export interface WorkloadTag {
  readonly repository: string;
  readonly tag: string;
  readonly digest: string;
  readonly kind: 'image' | 'docker-list' | 'oci-index' | 'big';
}

/** What was seeded. */
export interface Workload {
  /** "bench/app0" ... */
  readonly repositories: readonly string[];
  readonly tags: readonly WorkloadTag[];
  /** Distinct blob bytes in the source (each blob counted once). */
  readonly uniqueBytes: number;
}

/** The workload's shape; the defaults are the issue's. */
export interface WorkloadShape {
  readonly repositories: number;
  readonly tagsPerRepository: number;
  /** Repositories whose first tag is an index (alternately a Docker list and an OCI index). */
  readonly multiArchRepositories: number;
  readonly bigLayerBytes: number;
  readonly baseLayerBytes: readonly number[];
  readonly ownLayerBytes: number;
}

/** 10 repositories x 4 tags, 6 indexes, 8 + 2 MiB of shared base layers, one 256 MiB layer. */
export const DEFAULT_SHAPE: WorkloadShape = {
  repositories: 10,
  tagsPerRepository: 4,
  multiArchRepositories: 6,
  bigLayerBytes: 256 * 1024 * 1024,
  baseLayerBytes: [8 * 1024 * 1024, 2 * 1024 * 1024],
  ownLayerBytes: 512 * 1024,
};

/**
 * The --scale shape: many repositories and tags of small images, to show how the cost grows with the
 * number of tags rather than bytes.
 */
export function scaleShape(repositories: number, tagsPerRepository: number): WorkloadShape {
  return {
    repositories,
    tagsPerRepository,
    multiArchRepositories: Math.min(6, repositories),
    bigLayerBytes: 0,
    baseLayerBytes: [256 * 1024],
    ownLayerBytes: 4 * 1024,
  };
}

/** One repository with one image whose last layer is `bytes` long: the memory check of the bench. */
export async function seedBigLayer(target: SeedTarget, bytes: number): Promise<WorkloadTag> {
  const repository = 'bench/big';
  const image = await pushImage(target, repository, 'v1', { layers: [randomBytes(64 * 1024, 7), cryptoRandomBytes(bytes)] });
  return { repository, tag: 'v1', digest: image.digest, kind: 'big' };
}

const MULTI_ARCH_CHILDREN = 2;

/** Seeds the workload into `target` (the registry itself, so seeding is not counted by any proxy). */
export async function seedWorkload(target: SeedTarget, shape: WorkloadShape = DEFAULT_SHAPE): Promise<Workload> {
  const base = shape.baseLayerBytes.map((size, i) => randomBytes(size, 1000 + i));
  const baseBytes = shape.baseLayerBytes.reduce((a, b) => a + b, 0);
  const repositories = Array.from({ length: shape.repositories }, (_, i) => `bench/app${i}`);
  const last = repositories.length - 1;
  let uniqueBytes = baseBytes;

  const perRepository = await Promise.all(
    repositories.map(async (repository, r) => {
      const tags: WorkloadTag[] = [];
      for (let t = 0; t < shape.tagsPerRepository; t++) {
        const tag = `v${t}`;
        if (t === 0 && r < shape.multiArchRepositories) {
          const format = r % 2 === 0 ? 'docker' : 'oci';
          const { index } = await pushMultiArch(target, repository, tag, { format, sharedLayers: base });
          tags.push({ repository, tag, digest: index.digest, kind: format === 'docker' ? 'docker-list' : 'oci-index' });
        } else if (shape.bigLayerBytes > 0 && r === last && t === shape.tagsPerRepository - 1) {
          // One buffer of the big layer exists only here, in the seeding process; the tools stream it.
          const big = cryptoRandomBytes(shape.bigLayerBytes);
          const image = await pushImage(target, repository, tag, { layers: [...base, big] });
          tags.push({ repository, tag, digest: image.digest, kind: 'big' });
        } else {
          const own = randomBytes(shape.ownLayerBytes);
          const image = await pushImage(target, repository, tag, { layers: [...base, own], format: t % 2 === 0 ? 'docker' : 'oci' });
          tags.push({ repository, tag, digest: image.digest, kind: 'image' });
        }
      }
      return tags;
    }),
  );
  const tags = perRepository.flat();
  for (const t of tags) {
    if (t.kind === 'image') uniqueBytes += shape.ownLayerBytes;
    else if (t.kind === 'big') uniqueBytes += shape.bigLayerBytes;
    // pushMultiArch gives each child a small layer of its own (512 bytes) besides the shared ones.
    else uniqueBytes += 512 * MULTI_ARCH_CHILDREN;
  }
  return { repositories, tags, uniqueBytes };
}
