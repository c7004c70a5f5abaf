/**
 * Reads every image the workloads of a cluster (or of some namespaces) name, and which workloads
 * name it.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { toClusterAccessError } from './api-errors.js';
import { ClusterAccessError } from './errors.js';
import { listAll } from './paged-list.js';
import { DEFAULT_PAGING, type PagingOptions } from './paging.js';
import { podSpecImages } from './pod-images.js';
import { workloadKinds, type WorkloadKind } from './workload-kinds.js';

/** What discovery found. */
export interface DiscoveryResult {
  /** Image string as written in the spec, to the workloads (`Kind namespace/name`) that use it. */
  readonly images: ReadonlyMap<string, ReadonlySet<string>>;
  /** Workload objects that name at least one image. */
  readonly workloads: number;
  /** Namespaces of those workloads, sorted. */
  readonly namespaces: readonly string[];
}

/** Where to look. */
export interface DiscoveryOptions {
  /** Empty or undefined: all namespaces. */
  readonly namespaces?: readonly string[];
  readonly paging?: PagingOptions;
}

async function listKind(kc: KubeConfig, kind: WorkloadKind, namespace: string | undefined, paging: PagingOptions) {
  try {
    return await listAll(kind, namespace, paging);
  } catch (error) {
    if (error instanceof ClusterAccessError) throw error;
    throw toClusterAccessError(error, { server: kc.getCurrentCluster()?.server ?? '', resource: kind.resource, namespace });
  }
}

/** Lists every workload kind (in each namespace asked for, else cluster-wide) and collects images. */
export async function discoverImages(kc: KubeConfig, options: DiscoveryOptions = {}): Promise<DiscoveryResult> {
  const paging = options.paging ?? DEFAULT_PAGING;
  const scopes: Array<string | undefined> =
    options.namespaces !== undefined && options.namespaces.length > 0 ? [...new Set(options.namespaces)] : [undefined];
  const kinds = workloadKinds(kc);
  const images = new Map<string, Set<string>>();
  const workloads = new Set<string>();
  const namespaces = new Set<string>();

  // One scope at a time, the kinds of a scope in parallel: a handful of requests in flight at once.
  for (const scope of scopes) {
    const lists = await Promise.all(kinds.map(async (kind) => ({ kind, items: await listKind(kc, kind, scope, paging) })));
    for (const { kind, items } of lists) {
      for (const item of items) {
        const namespace = item.metadata?.namespace ?? scope ?? '';
        const id = `${kind.kind} ${namespace}/${item.metadata?.name ?? '?'}`;
        const named = item.podSpecs.flatMap(podSpecImages);
        if (named.length === 0) continue;
        workloads.add(id);
        if (namespace !== '') namespaces.add(namespace);
        for (const image of named) {
          const users = images.get(image) ?? new Set<string>();
          users.add(id);
          images.set(image, users);
        }
      }
    }
  }
  return { images, workloads: workloads.size, namespaces: [...namespaces].sort() };
}
