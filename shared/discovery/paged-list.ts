/**
 * Lists one kind completely with `limit`/`continue` paging. A continue token expires (410 Gone,
 * reason Expired) when a listing takes longer than the API server keeps its snapshot (about five
 * minutes on etcd's default compaction); the listing then restarts from the beginning, since
 * continuing with the token the 410 offers gives an inconsistent list.
 */
import { ApiException } from '@kubernetes/client-node';
import type { WorkloadKind, WorkloadObject } from './workload-kinds.js';
import { ClusterAccessError, ClusterProblem } from './errors.js';
import { DEFAULT_PAGING, type PagingOptions } from './paging.js';

function isExpired(error: unknown): boolean {
  return error instanceof ApiException && (error as ApiException<unknown>).code === 410;
}

/**
 * Every object of `kind` in `namespace` (undefined: all namespaces), each once: pages read before a
 * restart are dropped, as the fresh listing returns them again.
 */
export async function listAll(
  kind: WorkloadKind,
  namespace: string | undefined,
  paging: PagingOptions = DEFAULT_PAGING,
): Promise<WorkloadObject[]> {
  const items: WorkloadObject[] = [];
  let restarts = 0;
  let token: string | undefined;
  for (;;) {
    let page;
    try {
      page = await kind.list(namespace, { limit: paging.pageSize, ...(token === undefined ? {} : { _continue: token }) });
    } catch (error) {
      if (token !== undefined && isExpired(error) && restarts < paging.maxRestarts) {
        restarts += 1;
        token = undefined;
        items.length = 0;
        continue;
      }
      if (isExpired(error)) {
        throw new ClusterAccessError(
          ClusterProblem.Api,
          `listing ${kind.resource} kept expiring (410 Gone) after ${restarts} restarts; the cluster changes faster than it can be listed`,
        );
      }
      throw error;
    }
    for (const item of page.items) items.push(item);
    const next = page.metadata?._continue;
    if (next === undefined || next === '') return items;
    token = next;
  }
}
