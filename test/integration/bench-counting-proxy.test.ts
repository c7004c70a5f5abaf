/**
 * The bench's counting proxy in front of a real registry: what passes through it arrives intact
 * (pushes, chunked uploads, HEADs, bodies to the connection's end), and every request is counted by
 * kind, with its body bytes, 401s, connections and TLS probes, however the bytes are split.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { startCountingProxy, type CountingProxy } from '../bench/counting-proxy.js';
import { HttpFraming, type BodyFraming } from '../bench/http-framing.js';
import { startProxyProcess } from '../bench/proxy-process.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, randomBytes } from '../support/seed.js';

/** Sends one request through node:http (chunked when `chunked`), returns status, headers and body. */
function send(
  url: string,
  method: string,
  options: { body?: Buffer; chunked?: boolean; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined && options.chunked !== true) headers['content-length'] = String(options.body.length);
    const req = request(url, { method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body !== undefined && options.chunked === true) {
      // Written in uneven pieces, so that chunk headers fall anywhere in the proxy's reads.
      for (let at = 0; at < options.body.length; at += 70_001) req.write(options.body.subarray(at, at + 70_001));
      req.end();
    } else req.end(options.body);
  });
}

describe('bench counting proxy', () => {
  let registry: TestRegistry;
  let proxy: CountingProxy;
  const basic = (): string => `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`;

  before(async () => {
    registry = await startRegistry({ auth: 'basic' });
    proxy = await startCountingProxy(registry.url);
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  it('passes pushes through intact and counts each request by kind, with its bytes and 401s', async () => {
    const target = { url: proxy.url, username: registry.username ?? '', password: registry.password ?? '' };
    const image = await pushImage(target, 'counted/app', 'v1', { layers: [randomBytes(3 * 1024 * 1024, 1)] });
    assert.equal(await getManifestDigest(registry, 'counted/app', 'v1'), image.digest, 'the pushed image is whole at the registry');
    proxy.take();

    const manifest = `${proxy.url}/v2/counted/app/manifests/v1`;
    const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
    const challenged = await send(manifest, 'GET');
    assert.equal(challenged.status, 401);
    const head = await send(manifest, 'HEAD', { headers: { authorization: basic(), accept } });
    assert.equal(head.headers['docker-content-digest'], image.digest);
    const got = await send(manifest, 'GET', { headers: { authorization: basic(), accept } });
    assert.equal(`sha256:${createHash('sha256').update(got.body).digest('hex')}`, image.digest);

    // A chunked upload of 1 MiB in one PATCH, then the PUT that ends it.
    const blob = randomBytes(1024 * 1024, 2);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const posted = await send(`${proxy.url}/v2/counted/app/blobs/uploads/`, 'POST', { headers: { authorization: basic() } });
    assert.equal(posted.status, 202);
    const location = new URL(String(posted.headers.location), proxy.url);
    assert.equal(location.host, proxy.host, 'the upload stays on the proxy');
    const patched = await send(location.href, 'PATCH', {
      body: blob,
      chunked: true,
      headers: { authorization: basic(), 'content-type': 'application/octet-stream' },
    });
    assert.equal(patched.status, 202);
    const end = new URL(String(patched.headers.location), proxy.url);
    end.searchParams.set('digest', digest);
    const put = await send(end.href, 'PUT', { headers: { authorization: basic() } });
    assert.equal(put.status, 201);
    const blobBack = await send(`${proxy.url}/v2/counted/app/blobs/${digest}`, 'GET', { headers: { authorization: basic() } });
    assert.ok(blobBack.body.equals(blob), 'the blob comes back as it went');

    const counts = { ...proxy.counts };
    assert.equal(counts.manifestGet, 2);
    assert.equal(counts.manifestHead, 1);
    assert.equal(counts.uploadPost, 1);
    assert.equal(counts.uploadPatch, 1);
    assert.equal(counts.blobPut, 1);
    assert.equal(counts.blobGet, 1);
    assert.equal(proxy.challenges, 1);
    // Body bytes both ways: the 401's error body, the manifest, the blob up and down.
    assert.ok(proxy.bytes >= got.body.length + 2 * blob.length + challenged.body.length, `${proxy.bytes} bytes`);
    assert.ok(proxy.bytes < got.body.length + 2 * blob.length + challenged.body.length + 4096, `${proxy.bytes} bytes`);
    assert.ok(proxy.connections >= 1);
  });

  it('counts a TLS hello sent to its plain port as a probe and refuses it', async () => {
    proxy.take();
    const [host, port] = proxy.host.split(':');
    await new Promise<void>((resolve) => {
      const socket = tlsConnect({ host, port: Number(port), rejectUnauthorized: false });
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
    });
    assert.equal(proxy.counts.tlsProbe, 1);
  });
});

describe('bench counting proxy with BENCH_DELAY_MS', () => {
  it('holds each answer back by the delay, as from a registry far away, and passes it on intact, even when the registry closes after it', async () => {
    const registry = await startRegistry();
    process.env.BENCH_DELAY_MS = '300';
    const proxy = await startCountingProxy(registry.url).finally(() => delete process.env.BENCH_DELAY_MS);
    try {
      const image = await pushImage(registry, 'far/app', 'v1', { layers: [randomBytes(2 * 1024 * 1024, 3)] });
      const manifest = `${proxy.url}/v2/far/app/manifests/v1`;
      const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
      for (const method of ['HEAD', 'GET']) {
        const started = performance.now();
        const answer = await send(manifest, method, { headers: { accept } });
        const took = performance.now() - started;
        assert.ok(took >= 300, `${method} answered after ${Math.round(took)} ms`);
        assert.equal(answer.headers['docker-content-digest'], image.digest);
        if (method === 'GET') assert.equal(`sha256:${createHash('sha256').update(answer.body).digest('hex')}`, image.digest);
      }
      // A registry closes the connection after its answer when asked to (skopeo's pings do): the
      // answer held back still goes out whole before the proxy closes the client's side.
      const closing = await send(manifest, 'GET', { headers: { accept, connection: 'close' } });
      assert.equal(closing.status, 200);
      assert.equal(`sha256:${createHash('sha256').update(closing.body).digest('hex')}`, image.digest);
      assert.equal(proxy.counts.manifestHead + proxy.counts.manifestGet, 3);
    } finally {
      await proxy.stop();
      await registry.stop();
    }
  });
});

describe('bench proxy process', () => {
  it('runs the counting proxies in a process of its own and hands their counts back on request', async () => {
    const registry = await startRegistry();
    const proxies = await startProxyProcess();
    try {
      assert.notEqual(proxies.pid, process.pid);
      const proxy = await proxies.proxy(registry.url);
      const image = await pushImage({ url: proxy.url }, 'apart/app', 'v1', { layers: [randomBytes(2 * 1024 * 1024, 4)] });
      assert.equal(await getManifestDigest(registry, 'apart/app', 'v1'), image.digest, 'the push went through to the registry');
      const pushed = await proxy.take();
      assert.equal(pushed.counts.manifestPut, 1);
      assert.ok(pushed.counts.blobPut >= 2, `${pushed.counts.blobPut} blob PUTs`);
      assert.ok(pushed.bytes >= 2 * 1024 * 1024, `${pushed.bytes} bytes`);
      assert.ok(pushed.connections >= 1);

      const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
      const head = await send(`${proxy.url}/v2/apart/app/manifests/v1`, 'HEAD', { headers: { accept } });
      assert.equal(head.headers['docker-content-digest'], image.digest);
      const after = await proxy.take();
      assert.equal(after.counts.manifestHead, 1, 'a take starts the counts again from zero');
      assert.equal(after.counts.manifestPut, 0);
      await proxy.stop();
      await assert.rejects(proxy.take(), /proxy process: no proxy at 127\.0\.0\.1:\d+/);
    } finally {
      await proxies.stop();
      await registry.stop();
    }
    assert.throws(() => process.kill(proxies.pid, 0), /ESRCH/, 'the proxy process is gone once stopped');
  });
});

describe('http framing', () => {
  /** Feeds `bytes` in pieces of `size` and returns the events seen. */
  function follow(bytes: Buffer, size: number, framing: (head: string) => BodyFraming): string[] {
    const seen: string[] = [];
    let body = 0;
    const reader = new HttpFraming({
      head: (text) => {
        seen.push(`head ${text.split('\r\n')[0]}`);
        return framing(text);
      },
      body: (n) => void (body += n),
      end: () => {
        seen.push(`end ${body}`);
        body = 0;
      },
    });
    for (let at = 0; at < bytes.length; at += size) reader.push(bytes.subarray(at, at + size));
    reader.close();
    return seen;
  }

  it('finds every message of a connection whatever the size of the reads', () => {
    const stream = Buffer.from(
      [
        'PUT /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello',
        'PATCH /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: t\r\n\r\n',
        'HEAD /c HTTP/1.1\r\nContent-Length: 99\r\n\r\n',
        'GET /d HTTP/1.1\r\n\r\n',
        'HTTP/1.1 200 OK\r\n\r\nto the end',
      ].join(''),
    );
    const framing = (head: string): BodyFraming => {
      if (head.startsWith('HEAD')) return { length: 0 };
      if (/chunked/.test(head)) return 'chunked';
      const length = /Content-Length: (\d+)/.exec(head)?.[1];
      if (length !== undefined) return { length: Number(length) };
      return head.startsWith('HTTP/') ? 'until-close' : { length: 0 };
    };
    const expected = [
      'head PUT /a HTTP/1.1',
      'end 5',
      'head PATCH /b HTTP/1.1',
      'end 19',
      'head HEAD /c HTTP/1.1',
      'end 0',
      'head GET /d HTTP/1.1',
      'end 0',
      'head HTTP/1.1 200 OK',
      'end 10',
    ];
    for (const size of [1, 2, 3, 7, 64, stream.length]) assert.deepEqual(follow(stream, size, framing), expected, `reads of ${size}`);
  });
});
