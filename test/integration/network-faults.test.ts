/**
 * The registry client and copier behind a network that stalls, breaks, truncates and throttles: a
 * fault-injecting proxy in front of real registries. Each defect a user met has its test here: every
 * stall costs the stall timeout, not minutes; every read is inside the retry; a refusal fails at
 * once with its reason; a throttled registry slows everyone, honouring Retry-After; every retry is
 * reported; an answer lost after the registry acted is sent again or resumed, never a failed task.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageCopier } from '../../shared/copy/image-copier.js';
import { RegistryError } from '../../shared/registry/registry-error.js';
import { RegistryClient, type RegistryClientOptions } from '../../shared/registry/client.js';
import type { RetryEvent } from '../../shared/registry/retry.js';
import { runCli, workdir } from '../support/cli-run.js';
import { startForwardingProxy, type ForwardingProxy } from '../support/forwarding-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, randomBytes } from '../support/seed.js';
import { seedFetch } from '../support/seed-http.js';

const MiB = 1024 * 1024;
/** A generous margin for a loaded 2-core machine. */
const MARGIN_MS = 15_000;

/** The one retry line in the log of a run in `dir`; the test fails when there is not exactly one. */
async function onlyRetry(dir: string): Promise<string> {
  const log = await readFile(join(dir, 'image-migrator.log'), 'utf8');
  const retries = log.split('\n').filter((l) => / retry /.test(l));
  assert.equal(retries.length, 1, log);
  return retries[0] ?? '';
}

describe('network faults', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  let srcProxy: ForwardingProxy;
  let dstProxy: ForwardingProxy;

  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
    [srcProxy, dstProxy] = await Promise.all([startForwardingProxy(src.url), startForwardingProxy(dst.url, { rewriteLocation: true })]);
  });
  after(async () => {
    await Promise.all([srcProxy?.stop(), dstProxy?.stop()]);
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  function client(extra: Partial<RegistryClientOptions> = {}) {
    const retries: RetryEvent[] = [];
    const c = new RegistryClient({
      credentials: { lookup: () => ({ insecure: true }) },
      retry: { baseDelayMs: 20 },
      onRetry: (e) => retries.push(e),
      ...extra,
    });
    return { client: c, retries };
  }

  it('abandons a blob download that stalls after the stall timeout and resumes it where it stopped', async () => {
    const layer = randomBytes(3 * MiB, 31);
    const image = await pushImage(src, 'stall/app', 'v1', { layers: [layer] });
    const { client: c, retries } = client({ stallTimeoutMs: 1500 });
    srcProxy.stallNext(`/blobs/${image.layers[0]}`, 1, MiB);
    const events: RetryEvent[] = [];
    const started = Date.now();
    const result = await new ImageCopier(c, { retry: { baseDelayMs: 20 } }).copy(
      { source: `${srcProxy.host}/stall/app:v1`, destination: `${dst.host}/stall/app:v1` },
      { onRetry: (e) => events.push(e) },
    );
    const elapsed = Date.now() - started;
    assert.equal(result.digest, image.digest);
    assert.equal(await getManifestDigest(dst, 'stall/app', 'v1'), image.digest);
    assert.ok(elapsed < 1500 + MARGIN_MS, `took ${elapsed} ms`);
    const resume = events.find((e) => e.kind === 'blob-resume');
    assert.ok(resume !== undefined, JSON.stringify(events));
    assert.match(resume.what, /resumed at byte \d+/);
    assert.equal(resume.registry, srcProxy.host);
    // The second GET asked for the rest only.
    const gets = srcProxy.log.filter((l) => l.method === 'GET' && l.path.includes(image.layers[0] ?? '-'));
    assert.equal(gets.length, 2);
    assert.match(gets[1]?.range ?? '', /^bytes=\d+-$/);
    assert.ok((gets[0]?.bytesOut ?? 0) + (gets[1]?.bytesOut ?? 0) < layer.length + MiB, 'the stalled part is not sent again');
    assert.equal(retries.length, 0, 'no request was retried: the body was resumed');
    await c.close();
  });

  it('fetches a manifest whose body stalls again within the stall timeout', async () => {
    const image = await pushImage(src, 'stall/manifest', 'v1');
    const { client: c, retries } = client({ stallTimeoutMs: 1000 });
    srcProxy.stallNext('/v2/stall/manifest/manifests/v1', 1, 20);
    const started = Date.now();
    assert.equal((await c.getManifest({ registry: srcProxy.host, repository: 'stall/manifest' }, 'v1')).digest, image.digest);
    assert.ok(Date.now() - started < 1000 + MARGIN_MS);
    assert.deepEqual(
      retries.map((r) => r.kind),
      ['manifest-get'],
    );
    assert.match(retries[0]?.reason ?? '', /stalled: the answer took no data for the stall timeout/);
    await c.close();
  });

  it('abandons an upload the destination stops reading after the stall timeout, and uploads again', async () => {
    const layer = randomBytes(24 * MiB, 32);
    const image = await pushImage(src, 'stall/upload', 'v1', { layers: [layer] });
    const { client: c } = client({ stallTimeoutMs: 1500 });
    // The layer's upload, not the config's (a few hundred bytes, which the socket would take whole).
    dstProxy.stallUploadNext(`/v2/stall/upload/blobs/uploads/`, 1, MiB);
    const events: RetryEvent[] = [];
    const started = Date.now();
    await new ImageCopier(c, { retry: { baseDelayMs: 20 } }).copy(
      { source: `${src.host}/stall/upload:v1`, destination: `${dstProxy.host}/stall/upload:v1` },
      { onRetry: (e) => events.push(e) },
    );
    assert.ok(Date.now() - started < 1500 + MARGIN_MS, `took ${Date.now() - started} ms`);
    assert.equal(await getManifestDigest(dst, 'stall/upload', 'v1'), image.digest);
    const restart = events.find((e) => e.kind === 'blob-restart' || e.kind === 'blob-put');
    assert.ok(restart !== undefined, JSON.stringify(events));
    assert.match(restart.reason, /^stalled: the connection took no data for 2 s$/);
    dstProxy.reset();
    await c.close();
  });

  it('gives up an upload whose whole body was taken but never answered after the stall timeout, and uploads again', async () => {
    const layer = randomBytes(MiB, 34);
    const image = await pushImage(src, 'stall/answer', 'v1', { layers: [layer] });
    const { client: c } = client({ stallTimeoutMs: 1500 });
    dstProxy.swallowUploadNext('/v2/stall/answer/blobs/uploads/', 1);
    const events: RetryEvent[] = [];
    const started = Date.now();
    await new ImageCopier(c, { retry: { baseDelayMs: 20 } }).copy(
      { source: `${src.host}/stall/answer:v1`, destination: `${dstProxy.host}/stall/answer:v1` },
      { onRetry: (e) => events.push(e) },
    );
    assert.ok(Date.now() - started < 1500 + MARGIN_MS, `took ${Date.now() - started} ms`);
    assert.equal(await getManifestDigest(dst, 'stall/answer', 'v1'), image.digest);
    assert.deepEqual(
      events.map((e) => `${e.kind}: ${e.reason}`),
      ["blob-restart: stalled: no answer 2 s after the upload's last byte"],
    );
    dstProxy.reset();
    await c.close();
  });

  it('logs the stall of an upload body (one PUT, and a chunk) after --stall-timeout and goes on', async () => {
    const image = await pushImage(src, 'stall/cli', 'v1', { layers: [randomBytes(24 * MiB + 5, 35)] });
    const layer = image.layers[0] ?? '-';
    for (const [repository, args, kind] of [
      ['stall/put', [], 'blob-restart'],
      ['stall/chunk', ['--resumable-above', '8', '--chunk-size', '16'], 'upload-resume'],
    ] as const) {
      // Only the layer's upload (the config is a few hundred bytes).
      dstProxy.stallUploadNext(`/v2/${repository}/blobs/uploads/`, 1, MiB);
      const dir = await workdir({
        'auth.json': { [src.host]: { insecure: true }, [dstProxy.host]: { insecure: true } },
        'images.json': { [`${src.host}/stall/cli:v1`]: `${dstProxy.host}/${repository}` },
      });
      const run = await runCli(['--stall-timeout', '2', '--no-state', ...args], { cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(await getManifestDigest(dst, repository, 'v1'), image.digest);
      assert.match(
        await onlyRetry(dir),
        new RegExp(
          `retry ${src.host}/stall/cli:v1 -> ${dstProxy.host}/${repository}:v1 level=blob kind=${kind} registry=${dstProxy.host} attempt=1 in=\\d+ms: blob ${layer} to ${dstProxy.host}/${repository} \\(from byte 0\\): stalled: the connection took no data for 2 s$`,
        ),
      );
    }
    dstProxy.reset();
  });

  it('lists tags again from the page it reached when a page is cut short', async () => {
    const image = await pushImage(src, 'paged/cut', 't0');
    for (const t of ['t1', 't2', 't3', 't4']) await pushImage(src, 'paged/cut', t, { layers: [] }).catch(() => undefined);
    const { client: c, retries } = client({ tagPageSize: 2 });
    srcProxy.paginateTags(true);
    srcProxy.cutNext('/tags/list?last=t1', 1, 10);
    try {
      const before = srcProxy.log.length;
      assert.deepEqual(await c.listTags({ registry: srcProxy.host, repository: 'paged/cut' }), ['t0', 't1', 't2', 't3', 't4']);
      const pages = srcProxy.log
        .slice(before)
        .filter((l) => l.path.includes('/tags/list'))
        .map((l) => l.path);
      assert.deepEqual(pages, [
        '/v2/paged/cut/tags/list?n=2',
        '/v2/paged/cut/tags/list?last=t1&n=2',
        '/v2/paged/cut/tags/list?last=t1&n=2',
        '/v2/paged/cut/tags/list?last=t3&n=2',
      ]);
      assert.deepEqual(
        retries.map((r) => r.kind),
        ['tag-list'],
      );
      assert.ok(image.digest);
    } finally {
      srcProxy.paginateTags(false);
      srcProxy.reset();
    }
    await c.close();
  });

  it('lists a registry that refuses n= without it', async () => {
    await pushImage(src, 'paged/refuse', 'only');
    const { client: c } = client();
    srcProxy.refusePageSize(true);
    try {
      const before = srcProxy.log.length;
      assert.deepEqual(await c.listTags({ registry: srcProxy.host, repository: 'paged/refuse' }), ['only']);
      assert.deepEqual(
        srcProxy.log.slice(before).map((l) => l.path),
        ['/v2/paged/refuse/tags/list?n=1000', '/v2/paged/refuse/tags/list'],
      );
      // Remembered for the registry: the next listing goes without n= at once.
      assert.deepEqual(await c.listTags({ registry: srcProxy.host, repository: 'paged/refuse' }), ['only']);
      assert.equal(srcProxy.log.at(-1)?.path, '/v2/paged/refuse/tags/list');
    } finally {
      srcProxy.refusePageSize(false);
    }
    await c.close();
  });

  it('copies an image whose manifest, blob or chunk the destination stored but whose answer was lost: sent again or resumed, the retry logged and reported', async () => {
    const image = await pushImage(src, 'lost/app', 'v1', { layers: [randomBytes(24 * MiB + 7, 36)] });
    const chunked = ['--resumable-above', '8', '--chunk-size', '16'];
    const cases = [
      // A manifest PUT is sent again: the registry takes the same bytes twice.
      {
        repository: 'lost/manifest',
        args: [],
        match: '/manifests/v1',
        method: 'PUT',
        keep: false,
        kind: 'manifest-put',
        level: 'request',
        what: 'PUT http://DST/v2/lost/manifest/manifests/v1',
      },
      // The commit of a blob is sent again: the session is gone, so the blob is uploaded again.
      {
        repository: 'lost/blob',
        args: [],
        match: '/blobs/uploads/',
        method: 'PUT',
        keep: false,
        kind: 'blob-restart',
        level: 'blob',
        what: 'blob sha256:[0-9a-f]{64} to DST/lost/blob \\(from byte 0\\): PUT http://DST/v2/lost/blob/blobs/uploads/\\S+',
      },
      // distribution 2.8 puts the session's offset in the Location of each answer: the one lost leaves a
      // session nobody can go on with, and the upload starts again.
      {
        repository: 'lost/chunk',
        args: chunked,
        match: '/blobs/uploads/',
        method: 'PATCH',
        keep: false,
        kind: 'blob-restart',
        level: 'blob',
        what: `blob ${image.layers[0]} to DST/lost/chunk \\(from byte 0\\): PATCH http://DST/v2/lost/chunk/blobs/uploads/\\S+`,
      },
      // A registry that keeps its sessions says how much it holds: the upload goes on from there.
      {
        repository: 'lost/kept',
        args: chunked,
        match: '/blobs/uploads/',
        method: 'PATCH',
        keep: true,
        kind: 'upload-resume',
        level: 'blob',
        what: `blob ${image.layers[0]} to DST/lost/kept \\(resumed at byte ${16 * MiB}\\): PATCH http://DST/v2/lost/kept/blobs/uploads/\\S+`,
      },
    ];
    try {
      for (const c of cases) {
        dstProxy.keepUploadSessions(c.keep);
        dstProxy.loseAnswerNext(`/v2/${c.repository}${c.match}`, 1, c.method);
        const dir = await workdir({
          'auth.json': { [src.host]: { insecure: true }, [dstProxy.host]: { insecure: true } },
          'images.json': { [`${src.host}/lost/app:v1`]: `${dstProxy.host}/${c.repository}` },
        });
        const run = await runCli(['--no-state', '--report', 'report.json', ...c.args], { cwd: dir });
        assert.equal(run.code, 0, `${c.repository}: ${run.stderr}`);
        assert.equal(await getManifestDigest(dst, c.repository, 'v1'), image.digest, c.repository);
        assert.match(
          await onlyRetry(dir),
          new RegExp(
            `retry ${src.host}/lost/app:v1 -> ${dstProxy.host}/${c.repository}:v1 level=${c.level} kind=${c.kind} registry=${dstProxy.host} attempt=1 in=\\d+ms: ${c.what.replaceAll('DST', dstProxy.host)}: network error: ECONNRESET$`,
          ),
        );
        const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as {
          counts: { copied: number; failed: number };
          tasks: { outcome: string; retried?: Record<string, number> }[];
        };
        assert.deepEqual([report.counts.copied, report.counts.failed], [1, 0], c.repository);
        assert.deepEqual(report.tasks[0]?.retried, { [c.kind]: 1 }, c.repository);
      }
    } finally {
      dstProxy.keepUploadSessions(false);
      dstProxy.reset();
    }
  });

  it('fails at once, naming the cause, when a destination refuses a manifest with a 500', async () => {
    const image = await pushImage(src, 'refused/app', 'v1');
    const { client: c, retries } = client();
    const body = JSON.stringify({
      errors: [{ code: 'UNKNOWN', message: 'manifest invalid', detail: `foreign layer ${image.layers[0]} not allowed` }],
    });
    dstProxy.failNext('/v2/refused/app/manifests/v1', 500, 100, {}, body, 'PUT');
    try {
      const error = await new ImageCopier(c)
        .copy({ source: `${src.host}/refused/app:v1`, destination: `${dstProxy.host}/refused/app:v1` })
        .catch((e: unknown) => e);
      assert.ok(error instanceof RegistryError && !error.retryable, String(error));
      assert.match(error.message, /500 Internal Server Error: UNKNOWN: manifest invalid \(foreign layer sha256:[0-9a-f]{64} not allowed\)/);
      assert.equal(dstProxy.log.filter((l) => l.method === 'PUT' && l.path === '/v2/refused/app/manifests/v1').length, 1);
      assert.deepEqual(retries, []);
    } finally {
      dstProxy.reset();
    }
    await c.close();
  });

  it('holds every worker back from a registry that answered 429, for as long as Retry-After says, then recovers', async () => {
    const images = await Promise.all(['a', 'b', 'c', 'd'].map((t) => pushImage(src, `throttle/${t}`, 'v1')));
    const { client: c, retries } = client();
    srcProxy.failNext('/v2/throttle/a/manifests/v1', 429, 1, { 'retry-after': '2' });
    const before = srcProxy.log.length;
    const copier = new ImageCopier(c);
    // The first copy meets the 429; the others start while its wait is on.
    const first = copier.copy({ source: `${srcProxy.host}/throttle/a:v1`, destination: `${dst.host}/throttle/a:v1` });
    while (retries.length === 0) await new Promise((r) => setTimeout(r, 5));
    const others = ['b', 'c', 'd'].map((t) =>
      copier.copy({ source: `${srcProxy.host}/throttle/${t}:v1`, destination: `${dst.host}/throttle/${t}:v1` }),
    );
    await Promise.all([first, ...others]);
    const seen = srcProxy.log.slice(before);
    const throttled = seen.find((l) => l.path === '/v2/throttle/a/manifests/v1');
    assert.ok(throttled !== undefined);
    const later = seen.filter((l) => l.at > (throttled.at ?? 0));
    assert.ok(later.length >= 4);
    // 2 s asked for; 100 ms of leeway for the clocks of the proxy and the client.
    for (const l of later) assert.ok(l.at - throttled.at >= 1900, `${l.method} ${l.path} ${l.at - throttled.at} ms after the 429`);
    assert.equal(retries.length, 1);
    assert.deepEqual(
      { kind: retries[0]?.kind, unavailable: retries[0]?.unavailable, delayMs: retries[0]?.delayMs },
      { kind: 'manifest-get', unavailable: true, delayMs: 2000 },
    );
    for (const [i, t] of ['a', 'b', 'c', 'd'].entries())
      assert.equal(await getManifestDigest(dst, `throttle/${t}`, 'v1'), images[i]?.digest);
    await c.close();
  });

  it('never completes a corrupted blob at the destination: the last chunk is held back until the digest matches', async (t) => {
    const layer = randomBytes(2 * MiB, 33);
    const image = await pushImage(src, 'corrupt/app', 'v1', { layers: [layer] });
    const digest = image.layers[0] ?? '-';
    const isPut = (l: { method: string; path: string }): boolean =>
      l.method === 'PUT' && l.path.includes('/blobs/uploads/') && l.path.includes(encodeURIComponent(digest));
    // The changed last bytes come once the upload has begun (or after 10 s): whatever the machine's
    // load, the copy has streamed the rest on by the time the digest can show the change.
    const putBegun = async (): Promise<void> => {
      for (const until = Date.now() + 10_000; Date.now() < until && !dstProxy.log.some(isPut);) await new Promise((r) => setTimeout(r, 10));
    };
    srcProxy.tamperNext(`/blobs/${digest}`, 10, putBegun);
    const { client: c } = client({ retry: { attempts: 1 } });
    try {
      const error = await new ImageCopier(c, { retry: { attempts: 1 } })
        .copy({ source: `${srcProxy.host}/corrupt/app:v1`, destination: `${dstProxy.host}/corrupt/app:v1` })
        .catch((e: unknown) => e);
      assert.match(String(error), /digest mismatch/);
      const put = dstProxy.log.find(isPut);
      // A PUT whose connection closed before its first write never reaches the destination at all
      // (undici still pulls its body, which then fails the digest): nothing of the blob was sent.
      if (put === undefined) {
        const seen = dstProxy.log.filter((l) => l.path.includes('/corrupt/app/')).map((l) => `${l.method} ${l.path.split('?')[0]}`);
        t.diagnostic(`no PUT reached the destination; it saw ${seen.join(', ')}; ${String(error)}`);
      } else assert.ok(put.bytesIn < layer.length, `${put.bytesIn} of ${layer.length} bytes reached the destination`);
      const held = await seedFetch(dst, 'corrupt/app', `/v2/corrupt/app/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(held.status, 404, 'the destination holds no blob under the digest');
    } finally {
      srcProxy.reset();
    }
    await c.close();
  });
});
