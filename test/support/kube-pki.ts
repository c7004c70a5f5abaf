/**
 * Certificates for the test Kubernetes API server, made by the `openssl` command in a temp dir:
 * a cluster CA, a server certificate for 127.0.0.1 signed by it, a client certificate signed by it
 * (for kubeconfig client-certificate auth), and an unrelated CA (for the "wrong CA" TLS failure).
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

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

// EC keys keep generation fast on a small machine; the test server does not care about key type.
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string): Promise<void> {
  await run('openssl', [
    'req',
    '-x509',
    ...NEW_KEY,
    '-keyout',
    join(dir, `${name}.key`),
    '-out',
    join(dir, `${name}.crt`),
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ]);
}

async function makeLeaf(dir: string, name: string, subject: string, extensions: string): Promise<void> {
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, extensions);
  await run('openssl', ['req', ...NEW_KEY, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.csr`), '-subj', subject]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    join(dir, `${name}.csr`),
    '-CA',
    join(dir, 'kube-ca.crt'),
    '-CAkey',
    join(dir, 'kube-ca.key'),
    '-CAcreateserial',
    '-out',
    join(dir, `${name}.crt`),
    '-days',
    '2',
    '-extfile',
    ext,
  ]);
}

/** Generates the whole set in `dir` and returns the PEM texts. */
export async function makeKubePki(dir: string): Promise<KubePki> {
  await makeCa(dir, 'kube-ca');
  await makeCa(dir, 'other-ca');
  await makeLeaf(dir, 'server', '/CN=kube-apiserver', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await makeLeaf(dir, 'client', '/O=system:masters/CN=kube-admin', 'extendedKeyUsage=clientAuth\n');
  const read = (file: string) => readFile(join(dir, file), 'utf8');
  return {
    caCert: await read('kube-ca.crt'),
    serverCert: await read('server.crt'),
    serverKey: await read('server.key'),
    clientCert: await read('client.crt'),
    clientKey: await read('client.key'),
    otherCaCert: await read('other-ca.crt'),
  };
}
