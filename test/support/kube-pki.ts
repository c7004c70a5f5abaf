/**
 * Certificates for the test Kubernetes API server, from the tests' CA helper (test-pki.ts): a cluster
 * CA, a server certificate for 127.0.0.1 signed by it, a client certificate signed by it (for
 * kubeconfig client-certificate auth), and an unrelated CA (for the "wrong CA" TLS failure).
 */
import { createTestPki } from './test-pki.js';

/** PEM texts of the generated certificates and keys. */
export interface KubePki {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A CA that signed nothing the server presents. */
  readonly otherCaCert: string;
}

/** Generates the whole set in folders under `dir` and returns the PEM texts. */
export async function makeKubePki(dir: string): Promise<KubePki> {
  const cluster = await createTestPki(dir);
  const other = await createTestPki(dir);
  const server = await cluster.server('server', ['127.0.0.1', 'localhost']);
  const client = await cluster.client('client', '/O=system:masters/CN=kube-admin');
  return {
    caCert: cluster.ca,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    otherCaCert: other.ca,
  };
}
