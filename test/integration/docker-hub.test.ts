/**
 * Docker Hub end to end, on loopback: its host names (registry-1.docker.io, auth.docker.io) are
 * connected to a real docker-registry with token auth and to the tests' token server, both behind
 * HTTPS fronts with certificates of a CA of the tests (a connect hook only tests use). Short names and
 * library/, the token realm with service registry.docker.io, and pacing on ratelimit-remaining.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseAuthFile } from '../../shared/config/auth-file.js';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { CredentialChain } from '../../shared/credential-sources/credential-chain.js';
import { authFileSource } from '../../shared/credential-sources/login-sources.js';
import { TlsFilesLoader } from '../../shared/credential-sources/tls-files.js';
import { runLocal } from '../../shared/pipeline/local-run.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { RateLimitPacer } from '../../shared/registry/rate-limit.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, type SeededImage } from '../support/seed.js';
import { createTestPki, type TestPki } from '../support/test-pki.js';
import { startTlsFront, type TlsFront } from '../support/tls-front.js';

describe('Docker Hub', () => {
  let pki: TestPki;
  let hub: TestRegistry;
  let dst: TestRegistry;
  let registryFront: TlsFront;
  let authFront: TlsFront;
  const seeded = new Map<string, SeededImage>();
  let manifestGets = 0;

  before(async () => {
    pki = await createTestPki();
    [hub, dst] = await Promise.all([
      startRegistry({
        auth: 'token',
        users: { me: 'hub-access-token-1' },
        tokenService: 'registry.docker.io',
        tokenRealm: 'https://auth.docker.io/token',
      }),
      startRegistry(),
    ]);
    seeded.set('nginx', await pushImage(hub, 'library/nginx', '1.27'));
    seeded.set('app', await pushImage(hub, 'me/app', '1'));
    const [registryCert, authCert] = await Promise.all([
      pki.server('hub', ['registry-1.docker.io']),
      pki.server('auth', ['auth.docker.io']),
    ]);
    [registryFront, authFront] = await Promise.all([
      startTlsFront({
        target: hub.url,
        certificate: registryCert,
        // As Docker Hub counts pulls: manifest GETs, with the budget falling.
        extraHeaders: (req): Record<string, string> => {
          if (req.method !== 'GET' || !/\/manifests\//.test(req.url ?? '')) return {};
          manifestGets++;
          return { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': `${Math.max(0, 6 - manifestGets)};w=21600` };
        },
      }),
      startTlsFront({ target: hub.tokenServer!.url, certificate: authCert }),
    ]);
  });

  after(async () => {
    await Promise.all([registryFront?.stop(), authFront?.stop(), hub?.stop(), dst?.stop()]);
    await pki?.remove();
  });

  it('copies short names, library/ and namespaced images with a token from auth.docker.io, pacing pulls before the limit', async () => {
    const ports: Record<string, number> = { 'registry-1.docker.io': registryFront.port, 'auth.docker.io': authFront.port };
    const paced: number[] = [];
    const auth = parseAuthFile(
      JSON.stringify({ 'docker.io': { username: 'me', password: 'hub-access-token-1', ca: pki.caFile }, [dst.host]: { insecure: true } }),
      'auth.json',
      {},
    );
    const served: string[] = [];
    const client = new RegistryClient({
      credentials: new CredentialChain({
        sources: [authFileSource(auth, 'auth.json')],
        tls: new TlsFilesLoader([]),
        onServed: (r, via) => served.push(`${r}: ${via}`),
      }),
      connectHook: (host, port) => (port === 443 && ports[host] !== undefined ? { host: '127.0.0.1', port: ports[host] } : undefined),
      pacer: new RateLimitPacer({ sleep: async () => undefined, onPace: (_registry, delay) => paced.push(delay) }),
    });
    const rules = parseImagesFile(
      JSON.stringify({
        'nginx:1.27': `${dst.host}/mirror/nginx`,
        'index.docker.io/library/nginx:1.27': `${dst.host}/mirror/nginx-again`,
        'me/app:1': `${dst.host}/mirror/app`,
        'registry-1.docker.io/me/app:1': `${dst.host}/mirror/app-again`,
      }),
      'images.json',
      {},
    );
    try {
      const result = await runLocal({ rules, registry: client, workers: 2, retries: 0 });
      assert.deepEqual(
        result.results.filter((r) => r.outcome === 'failed').map((r) => r.error),
        [],
      );
      assert.equal(result.counts.copied, 4);
    } finally {
      await client.close();
    }
    assert.equal(await getManifestDigest(dst, 'mirror/nginx', '1.27'), seeded.get('nginx')?.digest);
    assert.equal(await getManifestDigest(dst, 'mirror/nginx-again', '1.27'), seeded.get('nginx')?.digest);
    assert.equal(await getManifestDigest(dst, 'mirror/app', '1'), seeded.get('app')?.digest);
    assert.equal(await getManifestDigest(dst, 'mirror/app-again', '1'), seeded.get('app')?.digest);
    // The token server only answers service=registry.docker.io; the scopes name library/nginx.
    assert.ok(
      hub.tokenServer!.scopes.some((s) => s === 'repository:library/nginx:pull'),
      hub.tokenServer!.scopes.join(' '),
    );
    assert.ok(paced.length >= 1, 'pulls were paced once the budget ran low');
    assert.ok(served.includes('docker.io: auth.json key "docker.io"'), served.join('; '));
  });
});
