/**
 * Platforms and referrers of the object form, against real registries: a buildx-style index
 * narrowed to one and to two platforms (attestations kept with their images, the rebuilt index's
 * digest stable across runs, a second run copying nothing at the cost of an unfiltered one), no
 * matching platform, a single-platform image of another platform, a signed image copied by a tag
 * rule with its referrers (fallback tag index, cosign `.sig`, a signature of an SBOM), an existing
 * fallback index at the destination merged, and the latest 3 semver tags of linux/amd64 with their
 * signatures. The CLI runs in its own process.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, workdir } from '../support/cli-run.js';
import { startForwardingProxy } from '../support/forwarding-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import {
  fallbackTag,
  pushArtifact,
  pushBuildxIndex,
  pushCosignSignature,
  pushFallbackIndex,
  type BuildxIndex,
  type SeededDescriptor,
} from '../support/seed-artifacts.js';
import { getManifestBytes, getManifestDigest, listTags, pushImage } from '../support/seed.js';

interface ReportTask {
  source: string;
  outcome: string;
  digest?: string;
  sourceDigest?: string;
  referrers?: number;
  reason?: string;
  error?: string;
  bytes: number;
}
interface Report {
  counts: { copied: number; upToDate: number; failed: number; skipped?: number; bytes: number };
  requests: Record<string, number>;
  tasks: ReportTask[];
}

const PLATFORMS = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
];

describe('image-migrator platforms and referrers', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  let auth: Record<string, unknown>;
  let app: BuildxIndex;
  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
    auth = { [src.host]: { insecure: true }, [dst.host]: { insecure: true } };
    app = await pushBuildxIndex(src, 'team/app', '1.0', PLATFORMS);
  });
  after(async () => {
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  const run = async (
    images: Record<string, unknown> | string,
    args: string[] = [],
  ): Promise<{ code: number | null; report: Report; stderr: string; dir: string }> => {
    const dir = await workdir({ 'auth.json': auth, 'images.json': images });
    const result = await runCli(['--report', 'r.json', ...args], { cwd: dir });
    const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as Report;
    return { code: result.code, report, stderr: result.stderr, dir };
  };
  const indexOf = async (
    repo: string,
    tag: string,
  ): Promise<{ manifests: { digest: string; platform?: { architecture: string }; annotations?: Record<string, string> }[] }> =>
    JSON.parse((await getManifestBytes(dst, repo, tag))?.toString('utf8') ?? '{}');

  it('narrows an index to one platform, keeps its attestation, reports both digests, and a second run copies nothing', async () => {
    const images = { [`${src.host}/team/app:1.0`]: { to: `${dst.host}/one/app`, platforms: ['linux/amd64'] } };
    const first = await run(images);
    assert.equal(first.code, 0, first.stderr);
    const task = first.report.tasks[0];
    assert.equal(task?.outcome, 'copied');
    assert.equal(task?.sourceDigest, app.index.digest);
    const pushed = await getManifestDigest(dst, 'one/app', '1.0');
    assert.equal(task?.digest, pushed);
    assert.notEqual(pushed, app.index.digest);
    const index = await indexOf('one/app', '1.0');
    assert.deepEqual(
      index.manifests.map((m) => m.digest),
      [app.images[0]?.digest, app.attestations[0]?.digest],
    );
    assert.equal(index.manifests[1]?.annotations?.['vnd.docker.reference.digest'], app.images[0]?.digest);
    for (const kept of [app.images[0], app.attestations[0]])
      assert.ok(await getManifestBytes(dst, 'one/app', kept?.digest ?? ''), 'kept entries are at the destination');
    for (const dropped of [app.images[1], app.images[2], app.attestations[1]])
      assert.equal(await getManifestBytes(dst, 'one/app', dropped?.digest ?? ''), undefined);

    const second = await run(images);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual([second.report.counts.copied, second.report.counts.upToDate, second.report.counts.bytes], [0, 1, 0]);
    assert.equal(second.report.tasks[0]?.digest, pushed, 'the rebuilt index has the same digest on every run');

    // The same image unfiltered, warm: the filtered warm run costs no more requests.
    const plain = { [`${src.host}/team/app:1.0`]: `${dst.host}/plain/app` };
    await run(plain);
    const plainWarm = await run(plain);
    assert.equal(plainWarm.report.counts.upToDate, 1);
    const total = (r: Report): number => Object.values(r.requests).reduce((a, b) => a + b, 0);
    assert.ok(
      total(second.report) <= total(plainWarm.report),
      `filtered warm ${JSON.stringify(second.report.requests)} vs unfiltered ${JSON.stringify(plainWarm.report.requests)}`,
    );
  });

  it('with a run state, an unchanged narrowed index of an all-tags rule costs one source HEAD, as an unfiltered one does', async () => {
    const images = { [`${src.host}/team/app`]: { to: `${dst.host}/state/app`, platforms: ['linux/amd64'], referrers: false } };
    const first = await run(images, ['--state', 'state.json']);
    assert.equal(first.code, 0, first.stderr);
    const dir = first.dir;
    const second = await runCli(['--report', 'r2.json', '--state', 'state.json'], { cwd: dir });
    assert.equal(second.code, 0, second.stderr);
    const report = JSON.parse(await readFile(join(dir, 'r2.json'), 'utf8')) as Report;
    assert.equal(report.counts.upToDate, 1);
    assert.equal(report.tasks[0]?.digest, first.report.tasks[0]?.digest);
    assert.equal(report.requests['manifest-get'] ?? 0, 0, JSON.stringify(report.requests));
    assert.equal(report.requests['manifest-head'], 1, JSON.stringify(report.requests));
  });

  it('narrows to two platforms with deterministic bytes: a fresh destination gets the same digest', async () => {
    const rule = (repo: string): unknown => ({ to: `${dst.host}/${repo}/app`, platforms: ['linux/amd64', 'linux/arm64'] });
    const result = await run(
      `{"${src.host}/team/app:1.0": ${JSON.stringify(rule('two'))}, "${src.host}/team/app:1.0": ${JSON.stringify(rule('again'))}}`,
    );
    assert.equal(result.code, 0, result.stderr);
    const [a, b] = [await getManifestDigest(dst, 'two/app', '1.0'), await getManifestDigest(dst, 'again/app', '1.0')];
    assert.ok(a !== undefined && a === b, `${a} vs ${b}`);
    const index = await indexOf('two/app', '1.0');
    assert.deepEqual(
      index.manifests.map((m) => m.digest),
      [app.images[0]?.digest, app.images[1]?.digest, app.attestations[0]?.digest, app.attestations[1]?.digest],
    );
  });

  it('fails the task when no platform matches, listing what the source has, and skips a single-platform image of another platform', async () => {
    await pushImage(src, 'team/tool', '2.0', { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    const result = await run({
      [`${src.host}/team/app:1.0`]: { to: `${dst.host}/none/app`, platforms: ['linux/s390x'] },
      [`${src.host}/team/tool:2.0`]: { to: `${dst.host}/none/tool`, platforms: ['linux/amd64'] },
    });
    assert.equal(result.code, 1);
    const [failed, skipped] = result.report.tasks;
    assert.equal(failed?.outcome, 'failed');
    assert.equal(failed?.error, `${src.host}/team/app:1.0 has no image for linux/s390x; it has linux/amd64, linux/arm64/v8, linux/arm/v7`);
    assert.equal(skipped?.outcome, 'skipped');
    assert.equal(skipped?.reason, 'a single-platform image of linux/arm64/v8, not of linux/amd64');
    assert.equal(result.report.counts.skipped, 1);
    assert.deepEqual(await listTags(dst, 'none/app'), []);
    assert.deepEqual(await listTags(dst, 'none/tool'), []);
  });

  describe('referrers', () => {
    let image: { digest: string };
    let sbom: SeededDescriptor;
    let sbomSig: SeededDescriptor;
    let imageSig: SeededDescriptor;
    before(async () => {
      image = await pushImage(src, 'team/signed', '3.1');
      const subject = { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: image.digest, size: 0 };
      sbom = await pushArtifact(src, 'team/signed', '', {
        artifactType: 'application/spdx+json',
        payload: '{"spdxVersion":"SPDX-2.3"}',
        subject,
      });
      await pushFallbackIndex(src, 'team/signed', image.digest, [sbom]);
      imageSig = await pushCosignSignature(src, 'team/signed', image.digest);
      sbomSig = await pushCosignSignature(src, 'team/signed', sbom.digest);
    });

    it("copies a tag rule's image with its referrers, recursively, byte for byte; a second run copies nothing", async () => {
      const images = { [`${src.host}/team/signed:3.1`]: `${dst.host}/sig/signed` };
      const first = await run(images);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.report.tasks[0]?.referrers, 3);
      const tags = (await listTags(dst, 'sig/signed')).sort();
      assert.deepEqual(
        tags,
        ['3.1', fallbackTag(image.digest), `${fallbackTag(image.digest)}.sig`, `${fallbackTag(sbom.digest)}.sig`].sort(),
      );
      assert.equal(await getManifestDigest(dst, 'sig/signed', sbom.digest), sbom.digest, 'the SBOM, its subject intact');
      assert.equal(await getManifestDigest(dst, 'sig/signed', `${fallbackTag(image.digest)}.sig`), imageSig.digest);
      assert.equal(await getManifestDigest(dst, 'sig/signed', `${fallbackTag(sbom.digest)}.sig`), sbomSig.digest);
      assert.equal(
        await getManifestDigest(dst, 'sig/signed', fallbackTag(image.digest)),
        await getManifestDigest(src, 'team/signed', fallbackTag(image.digest)),
        'a fallback index the destination lacks is pushed as fetched',
      );
      const second = await run(images);
      assert.deepEqual([second.report.counts.copied, second.report.counts.upToDate, second.report.counts.bytes], [0, 1, 0]);
      assert.equal(second.report.tasks[0]?.referrers, 3);
      assert.equal(second.report.requests['manifest-put'] ?? 0, 0, 'nothing pushed on the second run');
    });

    it('merges the fallback index already at the destination instead of overwriting it', async () => {
      await pushImage(dst, 'merge/signed', 'base');
      const theirs = await pushArtifact(dst, 'merge/signed', '', {
        artifactType: 'application/vnd.example.scan+json',
        payload: '{"scanner":"theirs"}',
        subject: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: image.digest, size: 0 },
      });
      await pushFallbackIndex(dst, 'merge/signed', image.digest, [theirs]);
      const result = await run({ [`${src.host}/team/signed:3.1`]: `${dst.host}/merge/signed` });
      assert.equal(result.code, 0, result.stderr);
      const index = await indexOf('merge/signed', fallbackTag(image.digest));
      assert.deepEqual(
        index.manifests.map((m) => m.digest),
        [theirs.digest, sbom.digest],
      );
    });

    it('reads referrers from a source that answers the referrers API, and leaves indexing to a destination that has it', async () => {
      const api = await pushImage(src, 'team/api', '1.0');
      const subject = { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: api.digest, size: 0 };
      const attestation = await pushArtifact(src, 'team/api', '', {
        artifactType: 'application/vnd.in-toto+json',
        payload: '{"predicateType":"slsa"}',
        subject,
      });
      const [srcProxy, dstProxy] = await Promise.all([startForwardingProxy(src.url), startForwardingProxy(dst.url)]);
      try {
        srcProxy.serveReferrers(new Map([[api.digest, [attestation]]]));
        dstProxy.serveReferrers(new Map());
        auth = { ...auth, [srcProxy.host]: { insecure: true }, [dstProxy.host]: { insecure: true } };
        const result = await run({ [`${srcProxy.host}/team/api:1.0`]: `${dstProxy.host}/viaapi/api` });
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.report.tasks[0]?.referrers, 1);
        assert.equal(await getManifestDigest(dst, 'viaapi/api', attestation.digest), attestation.digest, 'found only through the API');
        assert.deepEqual(await listTags(dst, 'viaapi/api'), ['1.0'], 'no fallback tag where the destination has the API');
        assert.ok(srcProxy.log.some((r) => r.path === `/v2/team/api/referrers/${api.digest}`));
        assert.ok(
          !srcProxy.log.some((r) => r.path.includes(`/manifests/${fallbackTag(api.digest)}`)),
          'the fallback tag is not read where the API answers',
        );
      } finally {
        await Promise.all([srcProxy.stop(), dstProxy.stop()]);
      }
    });

    it('leaves referrers behind with "referrers": false', async () => {
      const result = await run({ [`${src.host}/team/signed:3.1`]: { to: `${dst.host}/nosig/signed`, referrers: false } });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await listTags(dst, 'nosig/signed'), ['3.1']);
    });
  });

  it('copies the latest 3 semver tags of linux/amd64 with their signatures', async () => {
    const signed: Record<string, BuildxIndex> = {};
    for (const [i, tag] of ['1.0.0', '1.1.0', '1.2.0', '1.3.0-rc.1', '1.3.0', 'nightly'].entries()) {
      signed[tag] = await pushBuildxIndex(src, 'team/svc', tag, PLATFORMS.slice(0, 2), 10 + i);
      await pushCosignSignature(src, 'team/svc', signed[tag].images[0]?.digest ?? '');
    }
    const images = {
      [`${src.host}/team/svc`]: { to: `${dst.host}/mirror/svc`, tags: { exclude: ['*-rc*'], latest: 3 }, platforms: ['linux/amd64'] },
    };
    const first = await run(images);
    assert.equal(first.code, 0, first.stderr);
    const amd64Sig = (tag: string): string => `${fallbackTag(signed[tag]?.images[0]?.digest ?? '')}.sig`;
    assert.deepEqual(
      (await listTags(dst, 'mirror/svc')).sort(),
      ['1.1.0', '1.2.0', '1.3.0', amd64Sig('1.1.0'), amd64Sig('1.2.0'), amd64Sig('1.3.0')].sort(),
    );
    assert.deepEqual(
      first.report.tasks.map((t) => t.referrers),
      [1, 1, 1],
    );
    const second = await run(images);
    assert.deepEqual([second.report.counts.copied, second.report.counts.upToDate, second.report.counts.bytes], [0, 3, 0]);
  });
});
