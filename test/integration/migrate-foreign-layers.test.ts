/**
 * Foreign (non-distributable) layers, against real registries: by default such a layer is left out
 * (the manifest pushed unchanged, its digest kept) and the report, the log and the progress say so;
 * a destination that refuses the manifest because of it (distribution's default config) fails the
 * task at once, with one manifest PUT and a message naming the layer; with --include-foreign-layers
 * or `"foreignLayers": true`, the layer's blob is copied from the source, or from its https `urls`
 * (without the source's login), and a layer nobody serves fails the task with a clear message. The
 * CLI runs in its own process.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, workdir } from '../support/cli-run.js';
import { startForwardingProxy, type ForwardingProxy } from '../support/forwarding-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { pushForeignImage, type SeededForeignLayer } from '../support/seed-foreign.js';
import { seedFetch } from '../support/seed-http.js';
import { getManifestDigest, pushBlob, type SeededImage } from '../support/seed.js';
import { createTestPki, type TestPki } from '../support/test-pki.js';
import { startTlsFront, type TlsFront } from '../support/tls-front.js';

interface ReportTask {
  source: string;
  outcome: string;
  digest?: string;
  bytes: number;
  attempts: number;
  error?: string;
  retried?: Record<string, number>;
  leftOut?: { digest: string; size: number; mediaType: string; urls?: string[]; reason: string }[];
}
interface Report {
  summary: string;
  requests: Record<string, number>;
  tasks: ReportTask[];
}

type ForeignImage = SeededImage & { foreign: SeededForeignLayer };

const ACCEPT_URLS = ['^https?://'];

describe('image-migrator with foreign layers', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  let strict: TestRegistry;
  let blobHost: TestRegistry;
  let hostProxy: ForwardingProxy;
  let front: TlsFront;
  let pki: TestPki;
  let auth: Record<string, unknown>;
  const images: Record<string, ForeignImage> = {};

  before(async () => {
    [src, dst, strict, blobHost, pki] = await Promise.all([
      startRegistry({ auth: 'basic', foreignLayerUrls: ACCEPT_URLS }),
      startRegistry({ foreignLayerUrls: ACCEPT_URLS }),
      startRegistry(),
      startRegistry(),
      createTestPki(),
    ]);
    // Where a foreign layer's urls point: an https host that is not the source registry (like
    // mcr.microsoft.com for Windows base layers), with a proxy that sees every request's Authorization.
    hostProxy = await startForwardingProxy(blobHost.url);
    front = await startTlsFront({ target: hostProxy.url, certificate: await pki.server('blobs', ['127.0.0.1']) });
    auth = {
      [src.host]: { username: src.username, password: src.password, insecure: true },
      [dst.host]: { insecure: true },
      [strict.host]: { insecure: true },
    };
    images.docker = await pushForeignImage(src, 'win/app', 'docker');
    images.oci = await pushForeignImage(src, 'win/app', 'oci', { format: 'oci' });
    images.served = await pushForeignImage(src, 'win/served', '1', { serveBlob: true });
    images.elsewhere = await pushForeignImage(src, 'win/elsewhere', '1', {
      urls: (digest) => [`https://${front.host}/v2/windows/servercore/blobs/${digest}`],
    });
    await pushBlob(blobHost, 'windows/servercore', images.elsewhere.foreign.bytes);
    images.nowhere = await pushForeignImage(src, 'win/nowhere', '1', {
      urls: (digest) => [`http://${blobHost.host}/v2/windows/servercore/blobs/${digest}`],
    });
  });
  after(async () => {
    await Promise.all([front?.stop(), hostProxy?.stop()]);
    await Promise.all([src?.stop(), dst?.stop(), strict?.stop(), blobHost?.stop(), pki?.remove()]);
  });

  const run = async (
    rules: Record<string, unknown>,
    args: string[] = [],
    env: Record<string, string> = {},
  ): Promise<{ code: number | null; report: Report; stdout: string; stderr: string; log: string }> => {
    const dir = await workdir({ 'auth.json': auth, 'images.json': rules });
    const result = await runCli(['--auth', 'auth.json', '--report', 'r.json', '--no-state', ...args], { cwd: dir, env });
    const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as Report;
    const log = await readFile(join(dir, 'image-migrator.log'), 'utf8');
    return { code: result.code, report, stdout: result.stdout, stderr: result.stderr, log };
  };
  const blobStatus = async (registry: TestRegistry, repository: string, digest: string): Promise<number> => {
    const res = await seedFetch(registry, repository, `/v2/${repository}/blobs/${digest}`, { method: 'HEAD' });
    await res.arrayBuffer();
    return res.status;
  };
  const blobBytes = async (registry: TestRegistry, repository: string, digest: string): Promise<Buffer> => {
    const res = await seedFetch(registry, repository, `/v2/${repository}/blobs/${digest}`);
    return Buffer.from(await res.arrayBuffer());
  };

  it('leaves a foreign layer out by default: the digest is kept, the report, the log and the progress list the layer', async () => {
    const image = images.docker!;
    const { code, report, stdout, stderr, log } = await run({ [`${src.host}/win/app:docker`]: `${dst.host}/plain/app` });
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim().split('\n').at(-1), 'Images(1) migration finished, 0 images tasks failed, 0 tasks generate failed');
    assert.equal(await getManifestDigest(dst, 'plain/app', 'docker'), image.digest);
    assert.equal(await blobStatus(dst, 'plain/app', image.foreign.digest), 404);
    assert.equal(await blobStatus(dst, 'plain/app', image.layers[1]!), 200);
    const task = report.tasks[0];
    assert.equal(task?.outcome, 'copied');
    assert.deepEqual(task?.leftOut, [
      {
        digest: image.foreign.digest,
        size: 3000,
        mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
        urls: image.foreign.urls,
        reason: 'foreign (non-distributable) layer, not copied as docker push does; pulls fetch it from its urls',
      },
    ]);
    // The image's blobs cost what those of an image without the foreign layer cost: it is not even asked for.
    const { 'blob-head': head, 'blob-get': get, 'upload-start': start, 'blob-put': put, 'manifest-put': manifestPut } = report.requests;
    assert.deepEqual([head, get, start, put, manifestPut], [2, 2, 2, 2, 1]);
    assert.match(
      log,
      new RegExp(
        `left-out ${src.host}/win/app:docker -> ${dst.host}/plain/app:docker layer=${image.foreign.digest} size=3000 media-type=application/vnd.docker.image.rootfs.foreign.diff.tar.gzip urls=${image.foreign.urls[0]}: foreign \\(non-distributable\\) layer, not copied`,
      ),
    );
    assert.match(stderr, /\[1\/1\] copied .*win\/app:docker -> .*plain\/app:docker \(.*, 1 foreign layer left out\)/);
  });

  it("leaves OCI's non-distributable layer out the same way", async () => {
    const image = images.oci!;
    const { code, report, stderr } = await run({ [`${src.host}/win/app:oci`]: `${dst.host}/plain/app` });
    assert.equal(code, 0, stderr);
    assert.equal(await getManifestDigest(dst, 'plain/app', 'oci'), image.digest);
    assert.deepEqual(
      report.tasks[0]?.leftOut?.map((l) => [l.digest, l.mediaType]),
      [[image.foreign.digest, 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip']],
    );
  });

  it('fails at once, with one manifest PUT and a message naming the layer, where the destination refuses it', async () => {
    const image = images.docker!;
    const { code, report, stdout, stderr } = await run({ [`${src.host}/win/app:docker`]: `${strict.host}/refused/app` });
    assert.equal(code, 1);
    assert.equal(stdout.trim().split('\n').at(-1), 'Images(1) migration finished, 1 images tasks failed, 0 tasks generate failed');
    const task = report.tasks[0];
    assert.equal(task?.outcome, 'failed');
    assert.equal(task?.attempts, 1);
    assert.equal(task?.retried, undefined);
    assert.equal(report.requests['manifest-put'], 1);
    assert.ok(
      task?.error?.startsWith(
        `the manifest ${strict.host}/refused/app:docker was refused because of its foreign layer ${image.foreign.digest} (application/vnd.docker.image.rootfs.foreign.diff.tar.gzip, 3000 bytes, urls ${image.foreign.urls[0]}): the layer was left out (foreign layers are not copied by default) and the destination does not accept a manifest referring to it; let the destination accept foreign layers (distribution: validation.manifests.urls.allow), or copy the layer with --include-foreign-layers (or "foreignLayers": true in the rule) where the source serves it: PUT http://${strict.host}/v2/refused/app/manifests/docker: 500 Internal Server Error`,
      ),
      task?.error,
    );
    assert.match(
      stderr,
      new RegExp(
        `failed .*win/app:docker -> .*refused/app:docker: the manifest .* was refused because of its foreign layer ${image.foreign.digest}`,
      ),
    );
    assert.equal(await getManifestDigest(strict, 'refused/app', 'docker'), undefined);
  });

  it('copies the layer with --include-foreign-layers, and with "foreignLayers": true, where the source serves it', async () => {
    const image = images.served!;
    const flag = await run({ [`${src.host}/win/served:1`]: `${dst.host}/flag/served` }, ['--include-foreign-layers']);
    const rule = await run({ [`${src.host}/win/served:1`]: { to: `${dst.host}/rule/served`, foreignLayers: true } });
    for (const [{ code, report, stderr }, repository] of [
      [flag, 'flag/served'],
      [rule, 'rule/served'],
    ] as const) {
      assert.equal(code, 0, stderr);
      assert.equal(await getManifestDigest(dst, repository, '1'), image.digest);
      assert.deepEqual(await blobBytes(dst, repository, image.foreign.digest), image.foreign.bytes);
      assert.equal(report.tasks[0]?.leftOut, undefined);
      assert.equal(report.requests['blob-get'], 3);
    }
    // A rule's own "foreignLayers": false wins over the flag.
    const off = await run({ [`${src.host}/win/served:1`]: { to: `${dst.host}/off/served`, foreignLayers: false } }, [
      '--include-foreign-layers',
    ]);
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.report.tasks[0]?.leftOut?.length, 1);
    assert.equal(await blobStatus(dst, 'off/served', image.foreign.digest), 404);
  });

  it("copies the layer from its https urls when the source does not serve it, without the source's login", async () => {
    const image = images.elsewhere!;
    const before = hostProxy.log.length;
    const { code, report, stderr } = await run(
      { [`${src.host}/win/elsewhere:1`]: { to: `${dst.host}/urls/elsewhere`, foreignLayers: true } },
      [],
      { NODE_EXTRA_CA_CERTS: pki.caFile },
    );
    assert.equal(code, 0, stderr);
    assert.equal(await getManifestDigest(dst, 'urls/elsewhere', '1'), image.digest);
    assert.deepEqual(await blobBytes(dst, 'urls/elsewhere', image.foreign.digest), image.foreign.bytes);
    assert.equal(report.requests['foreign-blob-get'], 1);
    const seen = hostProxy.log.slice(before);
    assert.deepEqual(
      seen.map((l) => [l.method, l.path, l.authorization]),
      [['GET', `/v2/windows/servercore/blobs/${image.foreign.digest}`, undefined]],
    );
  });

  it('fails with a clear message when neither the source nor an https url serves the layer', async () => {
    const image = images.nowhere!;
    const { code, report, stderr } = await run({ [`${src.host}/win/nowhere:1`]: `${dst.host}/nowhere/app` }, ['--include-foreign-layers']);
    assert.equal(code, 1, stderr);
    const task = report.tasks[0];
    assert.equal(task?.attempts, 1);
    assert.equal(report.requests['manifest-put'], undefined);
    assert.equal(
      task?.error,
      `the foreign layer ${image.foreign.digest} (application/vnd.docker.image.rootfs.foreign.diff.tar.gzip, 3000 bytes, urls ${image.foreign.urls[0]}) cannot be copied: the source registry does not serve it (GET http://${src.host}/v2/win/nowhere/blobs/${image.foreign.digest}: 404 Not Found: BLOB_UNKNOWN: blob unknown to registry (${image.foreign.digest})); ${image.foreign.urls[0]}: GET ${image.foreign.urls[0]}: not fetched: only https URLs are; without --include-foreign-layers (or "foreignLayers": true in the rule) the manifest is pushed without it (source ${src.host}/win/nowhere)`,
    );
    assert.equal(await getManifestDigest(dst, 'nowhere/app', '1'), undefined);
  });

  it('fails at once when the destination refuses foreign layer URLs even with the blob copied', async () => {
    const image = images.served!;
    const { code, report } = await run({ [`${src.host}/win/served:1`]: `${strict.host}/strict/served` }, ['--include-foreign-layers']);
    assert.equal(code, 1);
    assert.equal(report.requests['manifest-put'], 1);
    assert.equal(await blobStatus(strict, 'strict/served', image.foreign.digest), 200);
    assert.match(
      report.tasks[0]?.error ?? '',
      new RegExp(
        `^the manifest ${strict.host}/strict/served:1 was refused because of its foreign layer ${image.foreign.digest} .*, although its blob was copied: the destination does not accept foreign layer URLs`,
      ),
    );
  });
});
