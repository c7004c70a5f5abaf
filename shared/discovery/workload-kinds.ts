/**
 * The workload kinds whose pod specs name images, how to list each (across all namespaces or in one),
 * and where each keeps its pod spec. A CronJob's template counts even when no Job runs now.
 */
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1ListMeta,
  type V1ObjectMeta,
  type V1PodSpec,
} from '@kubernetes/client-node';

/** One page of a list call. */
export interface ListPage<T> {
  readonly items: readonly T[];
  readonly metadata?: V1ListMeta;
}

/** Paging parameters of a list call. */
export interface PageRequest {
  readonly limit: number;
  readonly _continue?: string;
}

/** A listable kind: its resource name for messages, a lister, and its pod specs. */
export interface WorkloadKind {
  readonly kind: string;
  /** `resource.group` as RBAC and kubectl name it, e.g. `cronjobs.batch`; core resources have no group. */
  readonly resource: string;
  list(namespace: string | undefined, page: PageRequest): Promise<ListPage<WorkloadObject>>;
}

/** The parts of a listed object discovery reads. */
export interface WorkloadObject {
  readonly metadata?: V1ObjectMeta;
  readonly podSpecs: readonly V1PodSpec[];
}

interface Lister<T> {
  all(page: PageRequest): Promise<ListPage<T>>;
  namespaced(namespace: string, page: PageRequest): Promise<ListPage<T>>;
}

function kind<T extends { metadata?: V1ObjectMeta }>(
  name: string,
  resource: string,
  lister: Lister<T>,
  specs: (item: T) => Array<V1PodSpec | undefined>,
): WorkloadKind {
  return {
    kind: name,
    resource,
    async list(namespace, page) {
      const result = namespace === undefined ? await lister.all(page) : await lister.namespaced(namespace, page);
      return {
        ...(result.metadata === undefined ? {} : { metadata: result.metadata }),
        items: result.items.map((item) => ({
          ...(item.metadata === undefined ? {} : { metadata: item.metadata }),
          podSpecs: specs(item).filter((s): s is V1PodSpec => s !== undefined),
        })),
      };
    },
  };
}

/** Every kind discovery lists, built on clients for `kc`'s current context. */
export function workloadKinds(kc: KubeConfig): readonly WorkloadKind[] {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  return [
    kind(
      'Pod',
      'pods',
      {
        all: (p) => core.listPodForAllNamespaces(p),
        namespaced: (namespace, p) => core.listNamespacedPod({ namespace, ...p }),
      },
      (pod) => [pod.spec],
    ),
    kind(
      'Deployment',
      'deployments.apps',
      {
        all: (p) => apps.listDeploymentForAllNamespaces(p),
        namespaced: (namespace, p) => apps.listNamespacedDeployment({ namespace, ...p }),
      },
      (d) => [d.spec?.template.spec],
    ),
    kind(
      'StatefulSet',
      'statefulsets.apps',
      {
        all: (p) => apps.listStatefulSetForAllNamespaces(p),
        namespaced: (namespace, p) => apps.listNamespacedStatefulSet({ namespace, ...p }),
      },
      (s) => [s.spec?.template.spec],
    ),
    kind(
      'DaemonSet',
      'daemonsets.apps',
      {
        all: (p) => apps.listDaemonSetForAllNamespaces(p),
        namespaced: (namespace, p) => apps.listNamespacedDaemonSet({ namespace, ...p }),
      },
      (d) => [d.spec?.template.spec],
    ),
    kind(
      'ReplicaSet',
      'replicasets.apps',
      {
        all: (p) => apps.listReplicaSetForAllNamespaces(p),
        namespaced: (namespace, p) => apps.listNamespacedReplicaSet({ namespace, ...p }),
      },
      (r) => [r.spec?.template?.spec],
    ),
    kind(
      'Job',
      'jobs.batch',
      {
        all: (p) => batch.listJobForAllNamespaces(p),
        namespaced: (namespace, p) => batch.listNamespacedJob({ namespace, ...p }),
      },
      (j) => [j.spec?.template.spec],
    ),
    kind(
      'CronJob',
      'cronjobs.batch',
      {
        all: (p) => batch.listCronJobForAllNamespaces(p),
        namespaced: (namespace, p) => batch.listNamespacedCronJob({ namespace, ...p }),
      },
      (c) => [c.spec?.jobTemplate.spec?.template.spec],
    ),
  ];
}
