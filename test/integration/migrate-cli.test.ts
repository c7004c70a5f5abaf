/**
 * The migrate command end to end, as a user runs it: real registries (anonymous, Basic, token), real
 * files, the CLI in its own process. Digests are checked at the destination with an independent client.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, workdir } from '../support/cli-run.js';
import { startForwardingProxy } from '../support/forwarding-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestBytes, getManifestDigest, listTags, pushImage, pushMultiArch, randomBytes, type SeededImage } from '../support/seed.js';

const SUMMARY = /^Images\((\d+)\) migration finished, (\d+) images tasks failed, (\d+) tasks generate failed$/m;

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

  it('prints the seed\'s three lines and exits 0', () => {
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
    for (const [repo, key] of [['mirror/multi', 'multi:v1'], ['mirror/list', 'list:v1']] as const) {
      const index = seeded.get(key);
      assert.ok(index);
      assert.deepEqual(await getManifestBytes(dst, repo, 'v1'), index.manifest);
      const children = (JSON.parse(index.manifest.toString()) as { manifests: { digest: string }[] }).manifests;
      assert.ok(children.length >= 2);
      for (const child of children) assert.equal(await getManifestDigest(dst, repo, child.digest), child.digest);
    }
  });

  it('skopeo, an independent client, reads the source\'s digest at the destination', () => {
    const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `${dst.username}:${dst.password}`, `docker://${dst.host}/mirror/multi:v1`]);
    assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, seeded.get('multi:v1')?.digest);
  });

  it('fetches each blob at most once per destination registry (shared layers are mounted)', async () => {
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as { requests: Record<string, number> };
    const blobs = new Set<string>();
    for (const image of seeded.values()) for (const d of [image.config, ...image.layers]) if (d) blobs.add(d);
    // The two arch images of each index carry their own config and layers: count them from the index children.
    const childBlobs = await Promise.all(
      [['mirror/multi', 'multi:v1'], ['mirror/list', 'list:v1']].flatMap(([repo, key]) =>
        (JSON.parse(seeded.get(key as string)?.manifest.toString() ?? '{}') as { manifests: { digest: string }[] }).manifests.map(async (c) => {
          const m = JSON.parse((await getManifestBytes(dst, repo as string, c.digest))?.toString() ?? '{}') as { config: { digest: string }; layers: { digest: string }[] };
          return [m.config.digest, ...m.layers.map((l) => l.digest)];
        }),
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
    assert.equal(report.counts.requests, Object.values(report.requests).reduce((sum, n) => sum + n, 0));
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

describe('image-migrator migrate failures', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry({ auth: 'basic' })]);
    await pushImage(src, 'team/ok', '1');
  });
  after(async () => {
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  it('counts rules whose tags cannot be listed as generate failures and copies the rest', async () => {
    const dir = await workdir({
      'auth.json': { [src.host]: { insecure: true }, [dst.host]: { username: dst.username, password: dst.password, insecure: true } },
      'images.json': {
        [`${src.host}/team/ok:1`]: `${dst.host}/m/ok`,
        [`${src.host}/team/missing`]: `${dst.host}/m/missing`,
        [`${dst.host}/team/locked`]: `${src.host}/m/locked`,
      },
    });
    // The third rule lists tags on the Basic registry with wrong credentials; the first then cannot push there.
    const authWrong = { [src.host]: { insecure: true }, [dst.host]: { username: dst.username, password: 'wrong', insecure: true } };
    await writeFile(join(dir, 'auth-wrong.json'), JSON.stringify(authWrong));
    const result = await runCli(['--auth', 'auth-wrong.json', '--images', 'images.json', '--report', 'r.json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /Images\(1\) migration finished, 1 images tasks failed, 2 tasks generate failed/);
    const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as { generateFailures: { source: string; error: string }[] };
    assert.deepEqual(report.generateFailures.map((f) => f.source).sort(), [`${dst.host}/team/locked`, `${src.host}/team/missing`].sort());
    assert.ok(report.generateFailures.every((f) => !f.error.includes('wrong')));
  });

  it('retries a failing task, then counts and reports it while the others succeed', async () => {
    await pushImage(src, 'team/flaky', '1');
    const proxy = await startForwardingProxy(src.url);
    try {
      proxy.failNext('/v2/team/flaky/manifests/1', 503, 1000, { 'retry-after': '0' });
      const dir = await workdir({
        'auth.json': { [proxy.host]: { insecure: true }, [dst.host]: { username: dst.username, password: dst.password, insecure: true } },
        'images.json': { [`${proxy.host}/team/ok:1`]: `${dst.host}/r/ok`, [`${proxy.host}/team/flaky:1`]: `${dst.host}/r/flaky` },
      });
      const result = await runCli(['--retries', '2', '--report', 'r.json'], { cwd: dir });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /Images\(2\) migration finished, 1 images tasks failed, 0 tasks generate failed/);
      const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as { tasks: { source: string; outcome: string; attempts: number; error?: string }[] };
      const flaky = report.tasks.find((t) => t.source.endsWith('team/flaky:1'));
      assert.equal(flaky?.outcome, 'failed');
      assert.equal(flaky?.attempts, 3);
      assert.match(flaky?.error ?? '', /503 Service Unavailable/);
      assert.equal(report.tasks.find((t) => t.source.endsWith('team/ok:1'))?.outcome, 'copied');
      assert.deepEqual(await listTags(dst, 'r/flaky').catch(() => []), [], 'no tag for a failed image');
      const log = await readFile(join(dir, 'image-migrator.log'), 'utf8');
      assert.equal(log.match(/^\S+ retry .*team\/flaky:1/gm)?.length, 2);
      assert.match(log, /^\S+ failed .*team\/flaky:1 .*attempts=3/m);
    } finally {
      await proxy.stop();
    }
  });

  it('catches a corrupted blob while streaming: retried, then failed with a digest mismatch and no tag', async () => {
    const image = await pushImage(src, 'team/corrupt', '1');
    const proxy = await startForwardingProxy(src.url);
    try {
      for (const layer of image.layers) proxy.tamperNext(`/blobs/${layer}`, 1000);
      const dir = await workdir({
        'auth.json': { [proxy.host]: { insecure: true }, [dst.host]: { username: dst.username, password: dst.password, insecure: true } },
        'images.json': { [`${proxy.host}/team/corrupt:1`]: `${dst.host}/r/corrupt` },
      });
      const result = await runCli(['--retries', '0', '--report', 'r.json'], { cwd: dir });
      assert.equal(result.code, 1, result.stderr);
      const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as { tasks: { outcome: string; error?: string }[]; requests: Record<string, number> };
      assert.equal(report.tasks[0]?.outcome, 'failed');
      assert.match(report.tasks[0]?.error ?? '', /digest mismatch/);
      assert.ok((report.requests['blob-get'] ?? 0) >= 3, 'the blob is fetched again before the task gives up');
      assert.deepEqual(await listTags(dst, 'r/corrupt').catch(() => []), [], 'no tag for a failed image');
    } finally {
      await proxy.stop();
    }
  });

  it('rejects a bad images.json with exit 2, names the file and rule, and copies nothing', async () => {
    const dir = await workdir({
      'auth.json': {},
      'images.json': { [`${src.host}/team`]: `${dst.host}/m/x` },
    });
    const result = await runCli(['--images', 'images.json'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^image-migrator: images\.json: ".*\/team": rule 1: /m);
  });

  it('rejects an auth.json with an unset variable, naming it, with exit 2', async () => {
    const dir = await workdir({
      'auth.json': { [dst.host]: { username: 'u', password: '${NOT_SET_ANYWHERE}' } },
      'images.json': { [`${src.host}/team/ok:1`]: `${dst.host}/m/ok` },
    });
    const result = await runCli([], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /auth\.json: .*NOT_SET_ANYWHERE/);
    assert.deepEqual(await listTags(dst, 'm/ok').catch(() => []), []);
  });

  it('--dry-run prints the tasks and copies nothing', async () => {
    const dir = await workdir({
      'auth.json': { [src.host]: { insecure: true }, [dst.host]: { username: dst.username, password: dst.password, insecure: true } },
      'images.json': { [`${src.host}/team/ok`]: `${dst.host}/dry/ok` },
    });
    const result = await runCli(['--dry-run'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`${src.host}/team/ok:1 -> ${dst.host}/dry/ok:1`));
    assert.deepEqual(await listTags(dst, 'dry/ok').catch(() => []), []);
  });

  it('exits 2 with a clear message for a bad flag value', async () => {
    const dir = await workdir({});
    const result = await runCli(['--workers', 'many'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--workers takes a whole number from 1 to 256, not "many"/);
  });
});
