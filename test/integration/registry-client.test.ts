/**
 * The registry client against real distribution registries (anonymous, htpasswd, token auth).
 * Faults are injected by a small forwarding proxy in front of a registry.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DigestMismatchError } from '../../shared/errors.js';
import { RegistryError } from '../../shared/registry/registry-error.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { pushBlob, pushImage, pushMultiArch, randomBytes } from '../support/seed.js';
import { startForwardingProxy, type ForwardingProxy } from '../support/forwarding-proxy.js';
import { clientFor, count } from '../support/client-probe.js';
import { collectGarbage } from '../support/collect-garbage.js';

const MiB = 1024 * 1024;

describe('registry client against real registries', () => {
  let anon: TestRegistry;
  let basic: TestRegistry;
  let token: TestRegistry;
  let shortToken: TestRegistry;
  before(async () => {
    [anon, basic, token, shortToken] = await Promise.all([
      startRegistry(),
      startRegistry({ auth: 'basic' }),
      startRegistry({ auth: 'token' }),
      startRegistry({ auth: 'token', tokenTtlSeconds: 2 }),
    ]);
  });
  after(async () => {
    await Promise.all([anon, basic, token, shortToken].map((r) => r?.stop()));
  });

  it('returns manifest bytes exactly as pushed for all four media types, by tag and by digest', async () => {
    const { client, seen, repo } = clientFor(anon);
    const docker = await pushImage(anon, 'types/img', 'docker', { format: 'docker' });
    const oci = await pushImage(anon, 'types/img', 'oci', { format: 'oci', indent: '\t' });
    const list = (await pushMultiArch(anon, 'types/img', 'list', { format: 'docker' })).index;
    const index = (await pushMultiArch(anon, 'types/img', 'index', { format: 'oci' })).index;
    for (const [tag, seeded] of [
      ['docker', docker],
      ['oci', oci],
      ['list', list],
      ['index', index],
    ] as const) {
      for (const ref of [tag, seeded.digest]) {
        const got = await client.getManifest(repo('types/img'), ref);
        assert.ok(got.bytes.equals(seeded.manifest), `bytes of ${ref}`);
        assert.equal(got.digest, seeded.digest);
        assert.equal(got.mediaType, seeded.mediaType);
      }
      assert.deepEqual(await client.headManifest(repo('types/img'), tag), {
        digest: seeded.digest,
        mediaType: seeded.mediaType,
        size: seeded.size,
      });
    }
    assert.equal(await client.headManifest(repo('types/img'), 'nope'), undefined);
    // No /v2/ ping: the first request was tried once over https (no answer from a plain-http
    // registry), then over plain http, which every later request used at once.
    assert.equal(count(seen, 'ping'), 0);
    assert.deepEqual(
      seen.filter(([, s]) => s === 0),
      [['manifest-get', 0]],
    );
    assert.deepEqual(seen.slice(0, 2), [
      ['manifest-get', 0],
      ['manifest-get', 200],
    ]);
    await client.close();
  });

  it('reports a missing repository with the spec code NAME_UNKNOWN', async () => {
    const { client, repo } = clientFor(anon);
    const err = await client.listTags(repo('no/such')).catch((e: unknown) => e);
    assert.ok(err instanceof RegistryError);
    assert.equal(err.status, 404);
    assert.deepEqual(
      err.codes.map((c) => c.code),
      ['NAME_UNKNOWN'],
    );
    assert.equal(
      err.message,
      `GET http://${anon.host}/v2/no/such/tags/list?n=1000: 404 Not Found: NAME_UNKNOWN: repository name not known to registry`,
    );
    assert.equal(err.retryable, false);
    const missing = await client.getManifest(repo('no/such'), 'v1').catch((e: unknown) => e);
    assert.ok(missing instanceof RegistryError && missing.hasCode('MANIFEST_UNKNOWN'), String(missing));
    await client.close();
  });

  it('authenticates with Basic up front after the first challenge', async () => {
    const { client, seen, repo } = clientFor(basic, { username: basic.username, password: basic.password });
    const image = await pushImage(basic, 'b/app', 'v1');
    assert.equal((await client.getManifest(repo('b/app'), 'v1')).digest, image.digest);
    assert.equal(await client.headBlob(repo('b/app'), image.layers[0] ?? ''), 1024);
    assert.deepEqual(await client.listTags(repo('b/app')), ['v1']);
    // One 401 (the first request's) teaches the scheme; no request after it is refused.
    assert.deepEqual(
      seen.filter(([, s]) => s === 401),
      [['manifest-get', 401]],
    );
    await client.close();
  });

  it('refuses a wrong Basic password without leaking it', async () => {
    const { client, repo } = clientFor(basic, { username: basic.username, password: 'wrong-secret-pw' });
    const err = await client.listTags(repo('b/app')).catch((e: unknown) => e);
    assert.ok(err instanceof RegistryError);
    assert.equal(err.status, 401);
    assert.doesNotMatch(`${err.message} ${JSON.stringify(err)}`, /wrong-secret-pw/);
    await client.close();
  });

  it('reuses one token per scope and asks pull,push plus the source pull for a mount', async () => {
    const { client, seen, repo } = clientFor(token, { username: token.username, password: token.password });
    const ts = token.tokenServer;
    assert.ok(ts);
    const image = await pushImage(token, 't/src', 'v1');
    const before = ts.requests;
    await client.getManifest(repo('t/src'), 'v1');
    await client.headManifest(repo('t/src'), 'v1');
    for (const layer of image.layers) await client.headBlob(repo('t/src'), layer);
    assert.equal(ts.requests - before, 1);
    const scopesBefore = ts.scopes.length;
    assert.equal(await client.mountBlob(repo('t/dst'), image.layers[0] ?? '', 't/src'), true);
    assert.deepEqual(ts.scopes.slice(scopesBefore).sort(), ['repository:t/dst:pull,push', 'repository:t/src:pull']);
    assert.equal(await client.headBlob(repo('t/dst'), image.layers[0] ?? ''), 1024);
    // Only the first request met a 401: every later request carried its token up front.
    assert.deepEqual(
      seen.filter(([, s]) => s === 401),
      [['manifest-get', 401]],
    );
    await client.close();
  });

  it('lets concurrent first requests share one https attempt, one challenge and one token', async () => {
    const image = await pushImage(token, 't/many', 'v1');
    const { client, seen, repo } = clientFor(token, { username: token.username, password: token.password });
    const ts = token.tokenServer;
    assert.ok(ts);
    const before = ts.requests;
    const heads = await Promise.all(Array.from({ length: 8 }, () => client.headManifest(repo('t/many'), 'v1')));
    assert.deepEqual(new Set(heads.map((h) => h?.digest)), new Set([image.digest]));
    assert.equal(ts.requests - before, 1);
    // One https attempt (refused by the plain-http port) and one 401 in all, both the first request's.
    assert.deepEqual(
      seen.filter(([, s]) => s !== 200),
      [
        ['manifest-head', 0],
        ['manifest-head', 401],
      ],
    );
    assert.equal(count(seen, 'manifest-head', 200), 8);
    await client.close();
  });

  it('fails the requests that waited for an unanswered first request with their own path and the failure of the first', async () => {
    // A port nothing listens on (a server's, closed again): every connection is refused.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const { client, repo } = clientFor({ host: `127.0.0.1:${port}` }, {}, { retry: { attempts: 2, baseDelayMs: 1, outageMs: 200 } });
    const failures = await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        client.listTags(repo(`down/${name}`)).then(
          () => assert.fail('listed a registry that does not answer'),
          (e: unknown) => e,
        ),
      ),
    );
    const [first, ...waiters] = failures;
    assert.ok(first instanceof RegistryError && first.retryable, String(first));
    assert.match(
      first.message,
      new RegExp(`^GET http://127\\.0\\.0\\.1:${port}/v2/down/a/tags/list\\?n=\\d+: network error: ECONNREFUSED`),
    );
    for (const [i, waiter] of waiters.entries()) {
      const name = ['b', 'c'][i] ?? '';
      // Failed with what the first request met: it sent nothing of its own.
      assert.ok(waiter instanceof RegistryError && waiter.retryable && waiter.cause === first.cause, String(waiter));
      assert.equal(
        waiter.message,
        `GET http://127.0.0.1:${port}/v2/down/${name}/tags/list?n=1000: registry 127.0.0.1:${port} did not answer its first request (GET ${first.url}): ${first.problem}`,
      );
    }
    await client.close();
  });

  it('gets anonymous tokens for pulls and a NAME_UNKNOWN/UNAUTHORIZED error for refused pushes', async () => {
    const image = await pushImage(token, 't/anon', 'v1');
    const { client, repo } = clientFor(token);
    assert.equal((await client.getManifest(repo('t/anon'), 'v1')).digest, image.digest);
    const err = await client.putManifest(repo('t/anon'), 'v2', image.mediaType, image.manifest).catch((e: unknown) => e);
    assert.ok(err instanceof RegistryError);
    assert.equal(err.status, 401);
    assert.ok(err.hasCode('UNAUTHORIZED'), err.message);
    await client.close();
  });

  it('reports a refused token request without the password', async () => {
    const { client, repo } = clientFor(token, { username: token.username, password: 'not-the-token-pw' });
    const err = await client.listTags(repo('t/src')).catch((e: unknown) => e);
    assert.ok(err instanceof RegistryError);
    assert.equal(err.status, 401);
    assert.match(
      err.message,
      new RegExp(`^GET ${token.tokenServer?.realm}\\?service=.*&scope=repository%3At%2Fsrc%3Apull: 401 Unauthorized$`),
    );
    assert.doesNotMatch(`${err.message} ${JSON.stringify(err)}`, /not-the-token-pw/);
    await client.close();
  });

  it('drops a token the registry refuses and retries once with a fresh one', async () => {
    const ts = token.tokenServer;
    assert.ok(ts);
    const proxy = await startForwardingProxy(token.url);
    try {
      const image = await pushImage(token, 't/refused', 'v1');
      const { client, seen, repo } = clientFor(proxy, { username: token.username, password: token.password });
      await client.headManifest(repo('t/refused'), 'v1');
      const before = ts.requests;
      proxy.failNext('/manifests/v1', 401, 1, {
        'www-authenticate': `Bearer realm="${ts.realm}",service="${ts.service}",error="invalid_token"`,
      });
      assert.equal((await client.getManifest(repo('t/refused'), 'v1')).digest, image.digest);
      assert.equal(ts.requests - before, 1);
      assert.deepEqual(
        seen.filter(([k]) => k === 'manifest-get').map(([, s]) => s),
        [401, 200],
      );
      await client.close();
    } finally {
      await proxy.stop();
    }
  });

  it('refreshes a 2 s token before it expires without a 401', async () => {
    const { client, seen, repo } = clientFor(shortToken, { username: shortToken.username, password: shortToken.password });
    await pushImage(shortToken, 's/app', 'v1');
    const ts = shortToken.tokenServer;
    assert.ok(ts);
    const before = ts.requests;
    await client.headManifest(repo('s/app'), 'v1');
    await client.headManifest(repo('s/app'), 'v1');
    assert.equal(ts.requests - before, 1);
    await new Promise((r) => setTimeout(r, 1700));
    await client.headManifest(repo('s/app'), 'v1');
    assert.equal(ts.requests - before, 2);
    // The one 401 is the first request's, which teaches the scheme; the refresh met none.
    assert.deepEqual(
      seen.filter(([, s]) => s === 401),
      [['manifest-head', 401]],
    );
    await client.close();
  });

  it('mounts between repositories, and cancels the upload a refused mount starts', async () => {
    const { client, seen, repo } = clientFor(anon);
    const digest = await pushBlob(anon, 'm/a', randomBytes(4096, 7));
    assert.equal(await client.mountBlob(repo('m/b'), digest, 'm/a'), true);
    assert.equal(await client.headBlob(repo('m/b'), digest), 4096);
    const unknown = `sha256:${'0'.repeat(64)}`;
    assert.equal(await client.mountBlob(repo('m/c'), unknown, 'm/a'), false);
    assert.equal(count(seen, 'upload-cancel', 204), 1);
    assert.equal(await client.headBlob(repo('m/c'), unknown), undefined);
    await client.close();
  });

  it('streams a 64 MiB blob up and down with flat memory', async () => {
    const size = 64 * 1024 * 1024;
    const chunk = randomBytes(1024 * 1024, 3);
    const make = () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < size / chunk.length; i++) yield Buffer.from(chunk);
        })(),
      );
    const hash = createHash('sha256');
    for (let i = 0; i < size / chunk.length; i++) hash.update(chunk);
    const digest = `sha256:${hash.digest('hex')}`;
    const { client, repo } = clientFor(anon);
    // What the transfer holds, not what the collector has yet to free: the JS heap and the buffers in use
    // right after a collection. RSS also counts dead buffers waiting for one, which on a loaded machine
    // reached 46 MiB while the live memory stayed flat.
    const live = (): number => {
      collectGarbage();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const baseline = live();
    let peak = baseline;
    const timer = setInterval(() => (peak = Math.max(peak, live())), 50);
    try {
      await client.uploadBlob(repo('big/blob'), digest, size, make());
      assert.equal(await client.headBlob(repo('big/blob'), digest), size);
      const down = await client.getBlob(repo('big/blob'), digest);
      const check = createHash('sha256');
      for await (const c of down.body) check.update(c as Buffer);
      assert.equal(`sha256:${check.digest('hex')}`, digest);
      assert.equal(down.size, size);
    } finally {
      clearInterval(timer);
    }
    assert.ok(peak - baseline < 40 * 1024 * 1024, `live memory grew by ${Math.round((peak - baseline) / 1048576)} MiB`);
    await client.close();
  });

  describe('faults injected by a proxy', () => {
    let proxy: ForwardingProxy;
    before(async () => {
      proxy = await startForwardingProxy(anon.url);
    });
    after(async () => proxy?.stop());

    it('lists every tag across relative and absolute Link pages', async () => {
      const { client, seen, repo } = clientFor(proxy, {}, { tagPageSize: 2 });
      const image = await pushImage(anon, 'paged/app', 't0');
      const tags = ['t0', 't1', 't2', 't3', 't4'];
      for (const t of tags.slice(1)) await client.putManifest(repo('paged/app'), t, image.mediaType, image.manifest);
      proxy.paginateTags(true);
      try {
        assert.deepEqual(await client.listTags(repo('paged/app')), tags);
        assert.equal(count(seen, 'tag-list'), 3);
        assert.deepEqual(
          proxy.log.filter((l) => l.path.includes('/tags/list')).map((l) => l.path),
          ['/v2/paged/app/tags/list?n=2', '/v2/paged/app/tags/list?last=t1&n=2', '/v2/paged/app/tags/list?last=t3&n=2'],
        );
        assert.deepEqual(await client.listTags(repo('paged/app'), { pageSize: 1000 }), tags);
      } finally {
        proxy.paginateTags(false);
      }
      await client.close();
    });

    it('fails the upload of a Readable the registry stops reading with a stall after the stall timeout, and does not retry it', async () => {
      // A front whose Locations point at itself, so that the PUT goes through it.
      const front = await startForwardingProxy(anon.url, { rewriteLocation: true });
      const { client, seen, repo } = clientFor(front, {}, { stallTimeoutMs: 1000 });
      // 48 MiB: more than the connection's buffers take while the other side reads nothing.
      const piece = randomBytes(MiB, 8);
      const body = Readable.from(
        (function* () {
          for (let i = 0; i < 48; i++) yield piece;
        })(),
      );
      // Its AbortError once given up is expected.
      body.on('error', () => undefined);
      front.stallUploadNext('/v2/stalled/blob/blobs/uploads/', 1);
      const started = Date.now();
      const error = await client.uploadBlob(repo('stalled/blob'), `sha256:${'1'.repeat(64)}`, 48 * MiB, body).catch((e: unknown) => e);
      assert.equal(String(error), 'StallError: stalled: the connection took no data for 1 s');
      assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
      // The body is given up: the connection stops pulling it, which destroys the Readable.
      if (!body.destroyed) await new Promise((resolve) => body.once('close', resolve));
      assert.deepEqual(
        seen.filter(([k]) => k === 'blob-put').map(([, s]) => s),
        [0],
      );
      await client.close();
      await front.stop();
    });

    it('retries a 503 and then succeeds', async () => {
      const image = await pushImage(anon, 'f/app', 'v1');
      const { client, seen, repo } = clientFor(proxy);
      proxy.failNext('/manifests/v1', 503, 2);
      assert.equal((await client.getManifest(repo('f/app'), 'v1')).digest, image.digest);
      // The client's first request is tried once over https (no answer: the proxy speaks plain http).
      assert.deepEqual(
        seen.filter(([k]) => k === 'manifest-get').map(([, s]) => s),
        [0, 503, 503, 200],
      );
      await client.close();
    });

    it('gives up after the configured attempts with a retryable RegistryError', async () => {
      const { client, repo } = clientFor(proxy, {}, { retry: { attempts: 2, baseDelayMs: 1 } });
      proxy.failNext('/manifests/v1', 500, 5);
      const err = await client.getManifest(repo('f/app'), 'v1').catch((e: unknown) => e);
      assert.ok(err instanceof RegistryError && err.status === 500 && err.retryable, String(err));
      proxy.reset();
      await client.close();
    });

    it('waits as long as Retry-After says on a 429', async () => {
      const { client, repo } = clientFor(proxy);
      proxy.failNext('/tags/list', 429, 1, { 'retry-after': '1' });
      const started = Date.now();
      assert.deepEqual(await client.listTags(repo('f/app')), ['v1']);
      assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
      await client.close();
    });

    it('retries a reset connection', async () => {
      const { client, seen, repo } = clientFor(proxy);
      await client.listTags(repo('f/app'));
      proxy.resetNext('/manifests/v1', 1);
      assert.ok(await client.headManifest(repo('f/app'), 'v1'));
      assert.deepEqual(
        seen.filter(([k]) => k === 'manifest-head').map(([, s]) => s),
        [0, 200],
      );
      await client.close();
    });

    it('follows a blob redirect to another host without sending Authorization there', async () => {
      const { client, repo } = clientFor(proxy, { username: 'u', password: 'p' });
      const bytes = randomBytes(3000, 9);
      const digest = await pushBlob(anon, 'f/app', bytes);
      proxy.forceAuthChallenge(true);
      proxy.redirectBlobs(true);
      try {
        const blob = await client.getBlob(repo('f/app'), digest);
        const chunks: Buffer[] = [];
        for await (const c of blob.body) chunks.push(c as Buffer);
        assert.ok(Buffer.concat(chunks).equals(bytes));
        assert.equal(proxy.redirected.length, 1);
        assert.equal(proxy.redirected[0]?.authorization, undefined);
        // This client's first request goes without credentials and learns the challenge; its retry carries them.
        const blobAuth = proxy.log.filter((l) => l.path.includes('/blobs/')).map((l) => l.authorization?.split(' ')[0]);
        assert.deepEqual(blobAuth, [undefined, 'Basic']);
      } finally {
        proxy.redirectBlobs(false);
        proxy.forceAuthChallenge(false);
      }
      await client.close();
    });

    it('fetches a manifest again when the served bytes do not match, and fails with DigestMismatchError when they never do', async () => {
      const image = await pushImage(anon, 'f/tamper', 'v1');
      const retries: string[] = [];
      const { client, repo } = clientFor(
        proxy,
        {},
        { retry: { attempts: 2, baseDelayMs: 1 }, onRetry: (e) => retries.push(`${e.kind} ${e.reason}`) },
      );
      proxy.tamperNext('/manifests/', 1);
      assert.equal((await client.getManifest(repo('f/tamper'), image.digest)).digest, image.digest);
      assert.equal(retries.length, 1);
      assert.match(retries[0] ?? '', /^manifest-get digest mismatch/);
      proxy.tamperNext('/manifests/', 2);
      await assert.rejects(client.getManifest(repo('f/tamper'), image.digest), DigestMismatchError);
      proxy.tamperNext('/manifests/', 2);
      await assert.rejects(client.getManifest(repo('f/tamper'), 'v1'), DigestMismatchError);
      proxy.reset();
      await client.close();
    });
  });
});
