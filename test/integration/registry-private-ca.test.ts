/**
 * Registries behind a private CA, with and without mutual TLS, reached directly and through an HTTPS
 * proxy: a real docker-registry behind an HTTPS front whose certificates come from a CA of the tests.
 * TLS stays verified throughout.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAuthFile } from '../../shared/config/auth-file.js';
import { CredentialChain } from '../../shared/credential-sources/credential-chain.js';
import { authFileSource } from '../../shared/credential-sources/login-sources.js';
import { TlsFilesLoader } from '../../shared/credential-sources/tls-files.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { RegistryError } from '../../shared/registry/registry-error.js';
import { runCli, workdir } from '../support/cli-run.js';
import { startConnectProxy, type ConnectProxy } from '../support/connect-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, type SeededImage } from '../support/seed.js';
import { createTestPki, type IssuedCert, type TestPki } from '../support/test-pki.js';
import { startTlsFront, type TlsFront } from '../support/tls-front.js';

function chain(auth: Record<string, unknown>, certsDirectories: string[] = []): CredentialChain {
  return new CredentialChain({
    sources: [authFileSource(parseAuthFile(JSON.stringify(auth), 'auth.json', {}), 'auth.json')],
    tls: new TlsFilesLoader(certsDirectories),
  });
}

describe('registries behind a private CA', () => {
  let pki: TestPki;
  let reg: TestRegistry;
  let dst: TestRegistry;
  let front: TlsFront;
  let mutual: TlsFront;
  let proxy: ConnectProxy;
  let client: IssuedCert;
  let image: SeededImage;

  before(async () => {
    pki = await createTestPki();
    [reg, dst] = await Promise.all([startRegistry(), startRegistry()]);
    image = await pushImage(reg, 'team/app', '1');
    const server = await pki.server('registry', ['127.0.0.1', 'localhost']);
    client = await pki.client('mirror-client');
    [front, mutual, proxy] = await Promise.all([
      startTlsFront({ target: reg.url, certificate: server }),
      startTlsFront({ target: reg.url, certificate: server, clientCa: pki.ca }),
      startConnectProxy(),
    ]);
  });

  after(async () => {
    await Promise.all([front?.stop(), mutual?.stop(), proxy?.stop(), reg?.stop(), dst?.stop()]);
    await pki?.remove();
  });

  it('refuses the registry without its CA, and says how it could be trusted', async () => {
    const registry = new RegistryClient({ credentials: chain({}) });
    const error = await registry.listTags({ registry: front.host, repository: 'team/app' }).catch((e: unknown) => e);
    assert.ok(error instanceof RegistryError && /TLS certificate not trusted/.test(error.message), String(error));
    await registry.close();
  });

  it('migrates from it with "ca" in auth.json, a path relative to the file', async () => {
    const dir = await workdir({
      'auth.json': { [front.host]: { ca: 'certs/ca.pem' }, [dst.host]: { insecure: true } },
      'images.json': { [`${front.host}/team/app:1`]: `${dst.host}/mirror/app` },
    });
    await mkdir(join(dir, 'certs'));
    await copyFile(pki.caFile, join(dir, 'certs', 'ca.pem'));
    const result = await runCli(['--auth', 'auth.json', '--images', 'images.json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await getManifestDigest(dst, 'mirror/app', '1'), image.digest);
  });

  it("presents the entry's client certificate to a registry that requires one", async () => {
    const without = new RegistryClient({ credentials: chain({ [mutual.host]: { ca: pki.caFile } }), retry: { attempts: 1 } });
    await assert.rejects(without.listTags({ registry: mutual.host, repository: 'team/app' }));
    await without.close();
    const registry = new RegistryClient({
      credentials: chain({ [mutual.host]: { ca: pki.caFile, cert: client.certFile, key: client.keyFile } }),
    });
    assert.deepEqual(await registry.listTags({ registry: mutual.host, repository: 'team/app' }), ['1']);
    assert.ok(mutual.clients.includes('mirror-client'));
    await registry.close();
  });

  it("reads Docker's certs.d/HOST:PORT/ directory: *.crt as CAs, NAME.cert with NAME.key", async () => {
    const certsD = await mkdtemp(join(tmpdir(), 'im-certs-d-'));
    const hostDir = join(certsD, mutual.host);
    await mkdir(hostDir);
    await copyFile(pki.caFile, join(hostDir, 'ca.crt'));
    await writeFile(join(hostDir, 'client.cert'), client.cert);
    await writeFile(join(hostDir, 'client.key'), client.key);
    const registry = new RegistryClient({ credentials: chain({}, ['/nonexistent/certs.d', certsD]) });
    assert.deepEqual(await registry.listTags({ registry: mutual.host, repository: 'team/app' }), ['1']);
    await registry.close();
  });

  it('tunnels through HTTPS_PROXY with CONNECT, still verifying the registry, and skips it for NO_PROXY', async () => {
    const auth = { [mutual.host]: { ca: pki.caFile, cert: client.certFile, key: client.keyFile } };
    const proxied = new RegistryClient({ credentials: chain(auth), env: { HTTPS_PROXY: proxy.url } });
    assert.deepEqual(await proxied.listTags({ registry: mutual.host, repository: 'team/app' }), ['1']);
    assert.deepEqual(proxy.tunnels, [mutual.host]);
    await proxied.close();
    const untrusted = new RegistryClient({ credentials: chain({}), env: { HTTPS_PROXY: proxy.url }, retry: { attempts: 1 } });
    const error = await untrusted.listTags({ registry: front.host, repository: 'team/app' }).catch((e: unknown) => e);
    assert.ok(error instanceof RegistryError && /TLS certificate not trusted/.test(error.message), String(error));
    await untrusted.close();
    const direct = new RegistryClient({ credentials: chain(auth), env: { HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
    const before = proxy.tunnels.length;
    assert.deepEqual(await direct.listTags({ registry: mutual.host, repository: 'team/app' }), ['1']);
    assert.equal(proxy.tunnels.length, before);
    await direct.close();
  });
});
