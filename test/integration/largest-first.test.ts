/**
 * A local run starts its largest copies first: each task's first step (source manifest, destination
 * HEAD, an index's children) is taken ahead of its copy, and the free --workers slot goes to the
 * largest copy known, so a large image planned last does not end the run alone. Looking ahead costs
 * no request: the copy does not fetch again what was fetched for it. Real registries on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { runLocal, type RunEvent } from '../../shared/pipeline/local-run.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, pushMultiArch, randomBytes } from '../support/seed.js';

describe('largest copies first', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry({ auth: 'token' })]);
  });
  after(async () => {
    await Promise.all([src, dst].map((r) => r?.stop()));
  });

  async function migrate(images: Record<string, string>, workers: number): Promise<{ requests: Record<string, number>; done: string[] }> {
    const requests: Record<string, number> = {};
    const client = new RegistryClient({
      credentials: {
        lookup: (registry) => ({ insecure: true, ...(registry === dst.host ? { username: dst.username, password: dst.password } : {}) }),
      },
      // Answered requests only: not the https attempt each plain-http registry gets, nor auth challenges.
      onRequest: (kind, status) => {
        if (status !== 0 && status !== 401) requests[kind] = (requests[kind] ?? 0) + 1;
      },
    });
    const rules = parseImagesFile(JSON.stringify(images), 'images.json', {});
    const done: string[] = [];
    const onEvent = (e: RunEvent): void => {
      if (e.type === 'done') done.push(`${e.result.destination.split('/').slice(1).join('/')} ${e.result.outcome}`);
    };
    await runLocal({ rules, registry: client, workers, retries: 0, onEvent });
    await client.close();
    return { requests, done };
  }

  it('copies a large image planned last before the small ones planned ahead of it, with one manifest GET each', async () => {
    const small = ['s1', 's2', 's3', 's4', 's5'];
    const smallImages = await Promise.all(small.map((tag) => pushImage(src, 'team/small', tag)));
    const big = await pushImage(src, 'team/big', 'v1', { layers: [randomBytes(6 * 1024 * 1024, 42)] });
    // One slot: copies run one after another, in the order the scheduler chose.
    const run = await migrate(
      { [`${src.host}/team/small`]: `${dst.host}/mirror/small`, [`${src.host}/team/big:v1`]: `${dst.host}/mirror/big:v1` },
      1,
    );
    assert.equal(run.done.length, 6);
    // The first slot goes to whichever look-ahead answered first; the next one to the largest.
    assert.ok(
      run.done.indexOf('mirror/big:v1 copied') <= 1,
      `the large image was copied as ${run.done.indexOf('mirror/big:v1 copied') + 1} of 6: ${run.done.join(', ')}`,
    );
    assert.equal(await getManifestDigest(dst, 'mirror/big', 'v1'), big.digest);
    for (const [i, tag] of small.entries()) assert.equal(await getManifestDigest(dst, 'mirror/small', tag), smallImages[i]?.digest);
    assert.equal(run.requests['manifest-get'], 6, 'each source manifest fetched once, by the look-ahead');
  });

  it('fetches the children of an index once, for its size and its copy', async () => {
    const { index } = await pushMultiArch(src, 'team/multi', 'v1', { format: 'oci' });
    const run = await migrate({ [`${src.host}/team/multi`]: `${dst.host}/mirror/multi` }, 2);
    assert.deepEqual(run.done, ['mirror/multi:v1 copied']);
    assert.equal(await getManifestDigest(dst, 'mirror/multi', 'v1'), index.digest);
    // The index and its two children: one GET each; no HEAD, the listing found no repository.
    assert.equal(run.requests['manifest-get'], 3);
    assert.equal(run.requests['manifest-head'] ?? 0, 0);
    // Unchanged, the look-ahead finds it up to date with the index's GET and the destination HEAD alone.
    const again = await migrate({ [`${src.host}/team/multi`]: `${dst.host}/mirror/multi` }, 2);
    assert.deepEqual(again.done, ['mirror/multi:v1 up-to-date']);
    assert.equal(again.requests['manifest-get'], 1);
    assert.equal(again.requests['manifest-head'], 1);
  });
});
