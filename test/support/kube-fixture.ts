/**
 * A small cluster's worth of workloads for discovery tests: four namespaces, every workload kind,
 * init and ephemeral containers, Docker Hub short names and aliases, tag+digest and digest-only images.
 */
import type { KubeFixture } from './kube-api-server.js';

/** sha256 digests used by the fixture's pinned images. */
export const PG_DIGEST = `sha256:${'a1'.repeat(32)}`;
export const PROXY_DIGEST = `sha256:${'b2'.repeat(32)}`;

const meta = (namespace: string, name: string) => ({ name, namespace, uid: `${namespace}-${name}` });
const podSpec = (containers: string[], init: string[] = [], ephemeral: string[] = []) => ({
  containers: containers.map((image, i) => ({ name: `c${i}`, image })),
  ...(init.length > 0 ? { initContainers: init.map((image, i) => ({ name: `i${i}`, image })) } : {}),
  ...(ephemeral.length > 0 ? { ephemeralContainers: ephemeral.map((image, i) => ({ name: `debug${i}`, image })) } : {}),
});
const template = (containers: string[], init: string[] = []) => ({ metadata: {}, spec: podSpec(containers, init) });

/** Twelve workloads in four namespaces naming ten distinct images. */
export function clusterFixture(): KubeFixture {
  const batchPods = [1, 2, 3, 4, 5].map((n) => ({ metadata: meta('team-c', `worker-${n}`), spec: podSpec(['alpine:3.20']) }));
  return {
    pods: [
      { metadata: meta('team-a', 'web-5d8-abc'), spec: podSpec(['nginx:1.25'], ['busybox'], ['docker.io/library/busybox:1.36']) },
      ...batchPods,
    ],
    deployments: [
      { metadata: meta('team-a', 'web'), spec: { selector: {}, template: template(['nginx:1.25', 'quay.io/coreos/etcd:3.5.0']) } },
    ],
    replicasets: [{ metadata: meta('team-a', 'web-5d8'), spec: { selector: {}, template: template(['nginx:1.25']) } }],
    statefulsets: [
      { metadata: meta('team-b', 'db'), spec: { selector: {}, serviceName: 'db', template: template([`postgres:16@${PG_DIGEST}`]) } },
    ],
    daemonsets: [
      {
        metadata: meta('kube-system', 'proxy'),
        spec: { selector: {}, template: template([`registry.k8s.io/kube-proxy@${PROXY_DIGEST}`]) },
      },
    ],
    jobs: [{ metadata: meta('team-b', 'migrate'), spec: { template: template(['ghcr.io/acme/tools/migrate:v2']) } }],
    cronjobs: [
      {
        metadata: meta('team-b', 'backup'),
        spec: {
          schedule: '0 3 * * *',
          suspend: true,
          jobTemplate: { spec: { template: template(['index.docker.io/bitnami/kubectl:1.30'], ['gcr.io/distroless/static:nonroot']) } },
        },
      },
    ],
  };
}

/** images.json the fixture yields with `-t registry.example.com/team`. */
export const EXPECTED_IMAGES_JSON = `{
    "docker.io/bitnami/kubectl:1.30": "registry.example.com/team/kubectl:1.30",
    "docker.io/library/alpine:3.20": "registry.example.com/team/alpine:3.20",
    "docker.io/library/busybox:1.36": "registry.example.com/team/busybox:1.36",
    "docker.io/library/busybox:latest": "registry.example.com/team/busybox:latest",
    "docker.io/library/nginx:1.25": "registry.example.com/team/nginx:1.25",
    "docker.io/library/postgres:16@${PG_DIGEST}": "registry.example.com/team/postgres:16",
    "gcr.io/distroless/static:nonroot": "registry.example.com/team/static:nonroot",
    "ghcr.io/acme/tools/migrate:v2": "registry.example.com/team/tools/migrate:v2",
    "quay.io/coreos/etcd:3.5.0": "registry.example.com/team/etcd:3.5.0",
    "registry.k8s.io/kube-proxy@${PROXY_DIGEST}": "registry.example.com/team/kube-proxy"
}
`;
