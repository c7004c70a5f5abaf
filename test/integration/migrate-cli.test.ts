/**
 * The migrate command end to end, as a user runs it: real registries (anonymous, Basic, token), real
 * files, the CLI in its own process. Digests are checked at the destination with an independent client.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, workdir } from '../support/cli-run.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestBytes, getManifestDigest, listTags, pushImage, pushMultiArch, randomBytes, type SeededImage } from '../support/seed.js';

describe('image-migrator migrate between real registries', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  let tok: TestRegistry;
  const seeded = new Map<string, SeededImage>();
  let auth: Record<string, unknown>;
  let images: Record<string, string>;
  let dir: string;
  let first: Awaited<ReturnType<typeof runCli>>;

  before(async () => {
    [src, dst, tok] = await Promise.all([startRegistry(), startRegistry({ auth: 'basic' }), startRegistry({ auth: 'token' })]);
    const base = randomBytes(300_000, 1);
    for (const [i, tag] of ['1.0', '1.1', '2.0'].entries()) {
      seeded.set(`app:${tag}`, await pushImage(src, 'team/app', tag, { layers: [base, randomBytes(50_000 + i, 10 + i)] }));
    }
    const multi = await pushMultiArch(src, 'team/multi', 'v1', { format: 'oci', sharedLayers: [base] });
    seeded.set('multi:v1', multi.index);
    const list = await pushMultiArch(src, 'team/list', 'v1', { format: 'docker' });
    seeded.set('list:v1', list.index);
    seeded.set('pinned', await pushImage(src, 'team/pinned', 'x', { format: 'oci' }));
    seeded.set('etcd:3.5', await pushImage(src, 'coreos/etcd', '3.5', { layers: [base] }));
    seeded.set('tool:1', await pushImage(tok, 'private/tool', '1'));

    auth = {
      [src.host]: { insecure: true },
      [dst.host]: { username: dst.username, password: '${DST_PASSWORD}', insecure: true },
      [tok.host]: { username: tok.username, password: tok.password, insecure: true },
    };
    images = {
      [`${src.host}/team/app`]: `${dst.host}/mirror/app`,
      [`${src.host}/team/app:1.0`]: `${dst.host}/renamed/application:stable`,
      [`${src.host}/team/multi:v1`]: `${dst.host}/mirror/multi`,
      [`${src.host}/team/list:v1`]: `${dst.host}/mirror/list:v1`,
      [`${src.host}/team/pinned@${seeded.get('pinned')?.digest}`]: `${dst.host}/mirror/pinned:pin`,
      [`${src.host}/coreos/etcd:3.5`]: '',
      [`${tok.host}/private/tool:1`]: `${dst.host}/mirror/tool`,
    };
    dir = await workdir({ 'auth.json': auth, 'images.json': images });
    first = await runCli(['--auth', 'auth.json', '--images', 'images.json', '--registry', dst.host, '--report', 'report.json'], {
      cwd: dir,
      env: { DST_PASSWORD: dst.password ?? '', DEFAULT_NAMESPACE: 'defaults' },
    });
  });

  after(async () => {
    await Promise.all([src?.stop(), dst?.stop(), tok?.stop()]);
  });

  it("prints the three lines of Huawei's image-migrator and exits 0", () => {
    assert.equal(first.code, 0, first.stderr);
    assert.equal(
      first.stdout,
      'Start to generate images tasks, please wait ...\nStart to handle images tasks, please wait ...\n' +
        'Images(9) migration finished, 0 images tasks failed, 0 tasks generate failed\n',
    );
  });

  it('copies every tag of an all-tags rule with the source digests', async () => {
    assert.deepEqual((await listTags(dst, 'mirror/app')).sort(), ['1.0', '1.1', '2.0']);
    for (const tag of ['1.0', '1.1', '2.0']) {
      assert.equal(await getManifestDigest(dst, 'mirror/app', tag), seeded.get(`app:${tag}`)?.digest);
    }
  });

  it('renames, takes the source tag, applies the default registry and namespace, and copies by digest', async () => {
    assert.equal(await getManifestDigest(dst, 'renamed/application', 'stable'), seeded.get('app:1.0')?.digest);
    assert.equal(await getManifestDigest(dst, 'defaults/etcd', '3.5'), seeded.get('etcd:3.5')?.digest);
    assert.equal(await getManifestDigest(dst, 'mirror/pinned', 'pin'), seeded.get('pinned')?.digest);
    assert.equal(await getManifestDigest(dst, 'mirror/tool', '1'), seeded.get('tool:1')?.digest);
  });

  it('keeps OCI index and Docker manifest list bytes identical, children included', async () => {
    for (const [repo, key] of [
      ['mirror/multi', 'multi:v1'],
      ['mirror/list', 'list:v1'],
    ] as const) {
      const index = seeded.get(key);
      assert.ok(index);
      assert.deepEqual(await getManifestBytes(dst, repo, 'v1'), index.manifest);
      const children = (JSON.parse(index.manifest.toString()) as { manifests: { digest: string }[] }).manifests;
      assert.ok(children.length >= 2);
      for (const child of children) assert.equal(await getManifestDigest(dst, repo, child.digest), child.digest);
    }
  });

  it("skopeo, an independent client, reads the source's digest at the destination", async () => {
    // Asynchronous: the token server of the test registries lives in this process and must keep answering.
    const { stdout: raw } = await promisify(execFile)(
      'skopeo',
      ['inspect', '--raw', '--tls-verify=false', '--creds', `${dst.username}:${dst.password}`, `docker://${dst.host}/mirror/multi:v1`],
      { encoding: 'buffer' },
    );
    assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, seeded.get('multi:v1')?.digest);
  });

  it('fetches each blob at most once per destination registry (shared layers are mounted)', async () => {
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as { requests: Record<string, number> };
    const blobs = new Set<string>();
    for (const image of seeded.values()) for (const d of [image.config, ...image.layers]) if (d) blobs.add(d);
    // The two arch images of each index carry their own config and layers: count them from the index children.
    const childBlobs = await Promise.all(
      [
        ['mirror/multi', 'multi:v1'],
        ['mirror/list', 'list:v1'],
      ].flatMap(([repo, key]) =>
        (JSON.parse(seeded.get(key as string)?.manifest.toString() ?? '{}') as { manifests: { digest: string }[] }).manifests.map(
          async (c) => {
            const m = JSON.parse((await getManifestBytes(dst, repo as string, c.digest))?.toString() ?? '{}') as {
              config: { digest: string };
              layers: { digest: string }[];
            };
            return [m.config.digest, ...m.layers.map((l) => l.digest)];
          },
        ),
      ),
    );
    for (const d of childBlobs.flat()) blobs.add(d);
    assert.equal(report.requests['blob-get'], blobs.size);
    assert.ok((report.requests['blob-mount'] ?? 0) > 0, 'the shared base layer is mounted, not fetched again');
  });

  it('a second run reports everything up to date and transfers no blob', async () => {
    const second = await runCli(['--auth', 'auth.json', '--images', 'images.json', '--registry', dst.host, '--report', 'report2.json'], {
      cwd: dir,
      env: { DST_PASSWORD: dst.password ?? '', DEFAULT_NAMESPACE: 'defaults' },
    });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /Images\(9\) migration finished, 0 images tasks failed, 0 tasks generate failed/);
    const report = JSON.parse(await readFile(join(dir, 'report2.json'), 'utf8')) as {
      requests: Record<string, number>;
      counts: { requests: number };
      tasks: { outcome: string }[];
    };
    assert.deepEqual(new Set(report.tasks.map((t) => t.outcome)), new Set(['up-to-date']));
    // An unchanged tag costs a source GET and a destination HEAD (a source pinned by digest only the
    // HEAD), plus at most two more on each registry's first request: an HTTPS attempt (these
    // registries are `insecure`, plain HTTP) and the auth challenge.
    const sources = 2 * 2;
    const destinations = 1 * 2;
    assert.ok((report.requests['manifest-get'] ?? 0) <= 8 + sources, `manifest GETs: ${report.requests['manifest-get']}`);
    assert.ok((report.requests['manifest-head'] ?? 0) <= 9 + destinations, `manifest HEADs: ${report.requests['manifest-head']}`);
    assert.equal(
      report.counts.requests,
      Object.values(report.requests).reduce((sum, n) => sum + n, 0),
    );
    for (const kind of ['blob-get', 'blob-put', 'blob-head', 'upload-start', 'blob-mount', 'manifest-put']) {
      assert.equal(report.requests[kind] ?? 0, 0, `${kind} requests in an up-to-date run`);
    }
  });

  it('never writes a password or token to the log, the report or the output', async () => {
    const log = await readFile(join(dir, 'image-migrator.log'), 'utf8');
    const report = await readFile(join(dir, 'report.json'), 'utf8');
    assert.match(log, /copied .*mirror\/tool:1/);
    for (const secret of [dst.password, tok.password]) {
      assert.ok(secret && secret.length > 4);
      for (const text of [log, report, first.stdout, first.stderr]) assert.ok(!text.includes(secret), 'a password leaked');
    }
    for (const text of [log, report]) assert.doesNotMatch(text, /eyJ[\w-]{10,}\.[\w-]{10,}/, 'a JWT leaked');
  });
});
