/**
 * A small HTTPS server that answers the Kubernetes list paths the way kube-apiserver does: List JSON
 * with `metadata.continue`, `limit`/`continue` paging, Status bodies for 401, 403 and 410 Expired.
 * It authenticates a bearer token or a client certificate signed by its own CA.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeKubePki, type KubePki } from './kube-pki.js';
import { kubeconfigYaml } from './kube-config-file.js';

/** The listable resources and the API group/version that serves each. */
export const KUBE_RESOURCES = {
  pods: { prefix: '/api/v1', apiVersion: 'v1', kind: 'PodList', group: '' },
  deployments: { prefix: '/apis/apps/v1', apiVersion: 'apps/v1', kind: 'DeploymentList', group: 'apps' },
  statefulsets: { prefix: '/apis/apps/v1', apiVersion: 'apps/v1', kind: 'StatefulSetList', group: 'apps' },
  daemonsets: { prefix: '/apis/apps/v1', apiVersion: 'apps/v1', kind: 'DaemonSetList', group: 'apps' },
  replicasets: { prefix: '/apis/apps/v1', apiVersion: 'apps/v1', kind: 'ReplicaSetList', group: 'apps' },
  jobs: { prefix: '/apis/batch/v1', apiVersion: 'batch/v1', kind: 'JobList', group: 'batch' },
  cronjobs: { prefix: '/apis/batch/v1', apiVersion: 'batch/v1', kind: 'CronJobList', group: 'batch' },
} as const;

/** A resource name the server lists. */
export type KubeResource = keyof typeof KUBE_RESOURCES;

/** Objects per resource; each carries `metadata.namespace`. */
export type KubeFixture = Partial<Record<KubeResource, ReadonlyArray<Record<string, unknown>>>>;

/** RBAC denial: `namespace` undefined denies the resource everywhere. */
export interface Forbid {
  readonly resource: KubeResource;
  readonly namespace?: string;
}

/** The running server, its files, and knobs a test turns. */
export interface KubeApiServer {
  readonly url: string;
  readonly dir: string;
  readonly pki: KubePki;
  readonly token: string;
  /** Kubeconfig with CA data and two contexts: `token-ctx` (bearer token), `cert-ctx` (client cert). */
  readonly kubeconfigPath: string;
  /** Every request seen, as `path?query`. */
  readonly requests: string[];
  forbid: Forbid[];
  /** The next request with a continue token for this resource gets 410 Expired, once. */
  expireNextContinue(resource: KubeResource): void;
  /** Writes another kubeconfig file into the server's dir and returns its path. */
  writeKubeconfig(name: string, yaml: string): Promise<string>;
  close(): Promise<void>;
}

interface Cursor {
  readonly key: string;
  readonly offset: number;
}

function status(res: ServerResponse, code: number, reason: string, message: string, details?: object): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code }));
}

const PATH = /^(\/api\/v1|\/apis\/[a-z.]+\/v1)(?:\/namespaces\/([a-z0-9-]+))?\/([a-z]+)$/;

/** Starts the server on 127.0.0.1 with a free port, with certificates and kubeconfigs in a temp dir. */
export async function startKubeApiServer(fixture: KubeFixture, token = 'kube-test-token-7f3a'): Promise<KubeApiServer> {
  const dir = await mkdtemp(join(tmpdir(), 'kube-api-'));
  const pki = await makeKubePki(dir);
  const requests: string[] = [];
  const expiring = new Set<KubeResource>();
  const state = { forbid: [] as Forbid[] };
  let resourceVersion = 1000;

  const authenticated = (req: IncomingMessage): boolean => {
    if (req.headers.authorization === `Bearer ${token}`) return true;
    return (req.socket as TLSSocket).authorized === true;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    requests.push(`${url.pathname}${url.search}`);
    if (!authenticated(req)) return status(res, 401, 'Unauthorized', 'Unauthorized');
    const match = PATH.exec(url.pathname);
    const resource = match?.[3] as KubeResource | undefined;
    const spec = resource === undefined ? undefined : KUBE_RESOURCES[resource];
    if (req.method !== 'GET' || match === null || spec === undefined || spec.prefix !== match[1]) {
      return status(res, 404, 'NotFound', 'the server could not find the requested resource');
    }
    const namespace = match[2];
    const r = resource as KubeResource;
    const denied = state.forbid.find((f) => f.resource === r && (f.namespace === undefined || f.namespace === namespace));
    if (denied !== undefined) {
      const gr = spec.group === '' ? `"${r}"` : `"${r}" in API group "${spec.group}"`;
      const where = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
      return status(
        res,
        403,
        'Forbidden',
        `${r}${spec.group === '' ? '' : `.${spec.group}`} is forbidden: User "system:serviceaccount:ci:reader" cannot list resource ${gr} ${where}`,
        { group: spec.group, kind: r },
      );
    }
    const key = `${r}/${namespace ?? ''}`;
    const all = (fixture[r] ?? []).filter(
      (item) => namespace === undefined || (item.metadata as { namespace?: string }).namespace === namespace,
    );
    let offset = 0;
    const token = url.searchParams.get('continue');
    if (token !== null && token !== '') {
      if (expiring.delete(r)) {
        return status(
          res,
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        );
      }
      const cursor = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Cursor;
      if (cursor.key !== key) return status(res, 400, 'BadRequest', 'continue token does not match the request');
      offset = cursor.offset;
    }
    const limit = Number(url.searchParams.get('limit') ?? '0');
    const end = limit > 0 ? Math.min(all.length, offset + limit) : all.length;
    const next = end < all.length ? Buffer.from(JSON.stringify({ key, offset: end } satisfies Cursor)).toString('base64url') : undefined;
    resourceVersion += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        apiVersion: spec.apiVersion,
        kind: spec.kind,
        metadata: { resourceVersion: String(resourceVersion), ...(next === undefined ? {} : { continue: next }) },
        items: all.slice(offset, end),
      }),
    );
  };

  const server: Server = createServer(
    { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true, rejectUnauthorized: false },
    handle,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  const url = `https://127.0.0.1:${address.port}`;

  const writeKubeconfig = async (name: string, yaml: string): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, yaml, { mode: 0o600 });
    return path;
  };
  const kubeconfigPath = await writeKubeconfig('kubeconfig.yaml', kubeconfigYaml({ server: url, caCert: pki.caCert, token, pki }));

  return {
    url,
    dir,
    pki,
    token,
    kubeconfigPath,
    requests,
    get forbid() {
      return state.forbid;
    },
    set forbid(value: Forbid[]) {
      state.forbid = value;
    },
    expireNextContinue: (resource) => void expiring.add(resource),
    writeKubeconfig,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
