/**
 * A CA of the tests and certificates it signs (server certificates for given names, a client
 * certificate), made by the `openssl` command in a temporary folder. Files and PEM texts both.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
// EC keys keep generation fast on a small machine.
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A certificate and its key, as files and PEM. */
export interface IssuedCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

/** The CA and what it issued. */
export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: string;
  /** A server certificate for DNS names and IP addresses. */
  server(name: string, altNames: readonly string[]): Promise<IssuedCert>;
  /** A client certificate for mutual TLS; the subject defaults to `/CN=NAME`. */
  client(name: string, subject?: string): Promise<IssuedCert>;
  remove(): Promise<void>;
}

/** Creates a fresh CA in a new folder under `parent` (the system's temporary folder by default). */
export async function createTestPki(parent: string = tmpdir()): Promise<TestPki> {
  const dir = await mkdtemp(join(parent, 'im-pki-'));
  const caFile = join(dir, 'ca.crt');
  await run('openssl', [
    'req',
    '-x509',
    ...NEW_KEY,
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    caFile,
    '-days',
    '2',
    '-subj',
    '/CN=image-migrator test CA',
  ]);
  const issue = async (name: string, extensions: string, subject: string): Promise<IssuedCert> => {
    const keyFile = join(dir, `${name}.key`);
    const certFile = join(dir, `${name}.crt`);
    await writeFile(join(dir, `${name}.ext`), extensions);
    await run('openssl', ['req', ...NEW_KEY, '-keyout', keyFile, '-out', join(dir, `${name}.csr`), '-subj', subject]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      join(dir, `${name}.csr`),
      '-CA',
      caFile,
      '-CAkey',
      join(dir, 'ca.key'),
      '-CAcreateserial',
      '-out',
      certFile,
      '-days',
      '2',
      '-extfile',
      join(dir, `${name}.ext`),
    ]);
    return { certFile, keyFile, cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  };
  return {
    dir,
    caFile,
    ca: await readFile(caFile, 'utf8'),
    server: (name, altNames) =>
      issue(
        name,
        `subjectAltName=${altNames.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')}\nextendedKeyUsage=serverAuth\n`,
        `/CN=${altNames[0] ?? name}`,
      ),
    client: (name, subject = `/CN=${name}`) => issue(name, 'extendedKeyUsage=clientAuth\n', subject),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
