/**
 * Copies that race for the same content against a real registry. distribution's filesystem storage
 * rewrites a repository's link files in place (truncate, then write), so a manifest PUT that checks a
 * child manifest or blob while another PUT of the same content rewrites its link can see it missing
 * and answer `400 DIGEST_INVALID; MANIFEST_BLOB_UNKNOWN`. Two tags of one multi-arch index copied in
 * one run (alias tags), and two deliveries of one task on AWS (two copiers at once), both did that.
 * Each race is repeated many times: a rare failure must not slip through.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { ImageCopier } from '../../shared/copy/image-copier.js';
import { runLocal, type RunEvent } from '../../shared/pipeline/local-run.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushIndex, pushMultiArch, type SeededImage } from '../support/seed.js';

const REPEATS = 40;

describe('copies racing for the same content', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  let registry: RegistryClient;
  let index: SeededImage;

  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
    const multi = await pushMultiArch(src, 'team/multi', 'v1.0.0', { format: 'oci' });
    index = multi.index;
    // The same index under a second tag: both tags name one digest.
    assert.equal((await pushIndex(src, 'team/multi', 'latest', multi.children, 'oci')).digest, index.digest);
    registry = new RegistryClient({ credentials: { lookup: () => ({ insecure: true }) } });
  });
  after(async () => {
    await registry?.close();
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  it(`copies alias tags of one multi-arch index into one repository in one run, ${REPEATS} times, without a failure`, async () => {
    const failures: string[] = [];
    let rechecks = 0;
    for (let i = 0; i < REPEATS; i++) {
      const rules = parseImagesFile(JSON.stringify({ [`${src.host}/team/multi`]: `${dst.host}/alias${i}/app` }), 'images.json', {});
      const run = await runLocal({
        rules,
        registry,
        workers: 7,
        retries: 0,
        onEvent: (e: RunEvent) => void (e.type === 'retry' && e.retry.kind === 'manifest-recheck' && rechecks++),
      });
      for (const r of run.results) if (r.outcome === 'failed') failures.push(`run ${i}: ${r.source}: ${r.error}`);
      assert.equal(run.counts.tasks, 2);
    }
    assert.deepEqual(failures, []);
    for (const tag of ['v1.0.0', 'latest']) assert.equal(await getManifestDigest(dst, `alias${REPEATS - 1}/app`, tag), index.digest);
    // Child manifests are pushed once per repository and awaited by the other task, so nothing needed a second look.
    assert.equal(rechecks, 0);
  });

  it(`copies one task twice at once with two copiers (two deliveries), ${REPEATS} times, without a failure`, async () => {
    const failures: string[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const task = { source: `${src.host}/team/multi:v1.0.0`, destination: `${dst.host}/twice${i}/app:v1.0.0` };
      // Separate copiers share nothing, as two Lambda invocations do.
      const outcomes = await Promise.allSettled([new ImageCopier(registry).copy(task), new ImageCopier(registry).copy(task)]);
      for (const o of outcomes) if (o.status === 'rejected') failures.push(`round ${i}: ${String(o.reason)}`);
    }
    assert.deepEqual(failures, []);
    assert.equal(await getManifestDigest(dst, `twice${REPEATS - 1}/app`, 'v1.0.0'), index.digest);
  });
});
