/**
 * Kubeconfig YAML as kubectl writes it, for the test API server: embedded CA data, a bearer-token
 * user and a client-certificate user, one context for each.
 */
import type { KubePki } from './kube-pki.js';

/** What goes into the generated kubeconfig. */
export interface KubeconfigOptions {
  readonly server: string;
  /** PEM of the CA to trust; undefined leaves the cluster without CA data (system roots only). */
  readonly caCert?: string;
  readonly token: string;
  readonly pki: Pick<KubePki, 'clientCert' | 'clientKey'>;
  /** Defaults to `token-ctx`. */
  readonly currentContext?: string;
  /** Namespace of both contexts. */
  readonly namespace?: string;
}

const b64 = (pem: string): string => Buffer.from(pem, 'utf8').toString('base64');

/** Returns the kubeconfig text; contexts are `token-ctx` and `cert-ctx`. */
export function kubeconfigYaml(options: KubeconfigOptions): string {
  const ca = options.caCert === undefined ? '' : `\n    certificate-authority-data: ${b64(options.caCert)}`;
  const ns = options.namespace === undefined ? '' : `\n    namespace: ${options.namespace}`;
  return `apiVersion: v1
kind: Config
clusters:
- name: test-cluster
  cluster:
    server: ${options.server}${ca}
users:
- name: token-user
  user:
    token: ${options.token}
- name: cert-user
  user:
    client-certificate-data: ${b64(options.pki.clientCert)}
    client-key-data: ${b64(options.pki.clientKey)}
contexts:
- name: token-ctx
  context:
    cluster: test-cluster
    user: token-user${ns}
- name: cert-ctx
  context:
    cluster: test-cluster
    user: cert-user${ns}
current-context: ${options.currentContext ?? 'token-ctx'}
preferences: {}
`;
}
