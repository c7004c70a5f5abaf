/**
 * Foreign layers on the AWS pipeline (real planner and copier handlers, SQS and DynamoDB emulators
 * through the SDK, real registries): by default the copier leaves the layer out and the task's item
 * lists it; a rule's `"foreignLayers": true` travels in the copy message (a tag rule) and in the
 * expand message (an all-tags rule) to the copier, which copies the layer's blob; a destination that
 * refuses the manifest fails the task on its first delivery, without a redelivery.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import type { RegistryClient } from '../../shared/registry/client.js';
import { secretBackedRegistry, testPipeline } from '../support/aws-fixture.js';
import { startAwsEmulators, type AwsEmulators } from '../support/aws-emulators.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { pushForeignImage, type SeededForeignLayer } from '../support/seed-foreign.js';
import { seedFetch } from '../support/seed-http.js';
import { getManifestDigest, type SeededImage } from '../support/seed.js';
import { driveUntilDone } from '../support/sqs-lambda-driver.js';

type ForeignImage = SeededImage & { foreign: SeededForeignLayer };

describe('AWS pipeline with foreign layers', () => {
  let aws: AwsEmulators;
  let src: TestRegistry;
  let dst: TestRegistry;
  let strict: TestRegistry;
  let registry: RegistryClient;
  let store: DynamoResultStore;
  let image: ForeignImage;

  before(async () => {
    [aws, src, dst, strict] = await Promise.all([
      startAwsEmulators(),
      startRegistry({ foreignLayerUrls: ['^https?://'] }),
      startRegistry({ foreignLayerUrls: ['^https?://'] }),
      startRegistry(),
    ]);
    image = await pushForeignImage(src, 'win/app', 'ltsc2022', { serveBlob: true });
    registry = await secretBackedRegistry(
      { [src.host]: { insecure: true }, [dst.host]: { insecure: true }, [strict.host]: { insecure: true } },
      { retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 200 } },
    );
    store = new DynamoResultStore(aws.dynamo, await aws.createTable('foreign-runs'));
  });
  after(async () => {
    await registry?.close();
    await Promise.all([aws?.stop(), src?.stop(), dst?.stop(), strict?.stop()]);
  });

  const blobStatus = async (repository: string): Promise<number> => {
    const res = await seedFetch(dst, repository, `/v2/${repository}/blobs/${image.foreign.digest}`, { method: 'HEAD' });
    await res.arrayBuffer();
    return res.status;
  };

  it('leaves the layer out by default and records it; copies it for rules with "foreignLayers": true', async () => {
    const p = await testPipeline(aws, store, registry, 'foreign', { maxReceiveCount: 3, visibilityTimeoutSeconds: 2 });
    const planned = await p.planner({
      images: {
        [`${src.host}/win/app:ltsc2022`]: [`${dst.host}/default/app`, { to: `${dst.host}/tagged/app`, foreignLayers: true }],
        [`${src.host}/win/app`]: { to: `${dst.host}/all/app`, foreignLayers: true },
      },
      trigger: 'test',
    });
    await driveUntilDone({
      sqs: aws.sqs,
      main: { queueUrl: p.queueUrl, handler: p.copier, batchSize: 5, workers: 2 },
      isDone: p.finished(planned.runId),
      timeoutMs: 45_000,
    });
    const results = await store.listResults(planned.runId);
    const byDestination = new Map(results.map((r) => [r.destination, r]));
    for (const repository of ['default/app', 'tagged/app', 'all/app']) {
      assert.equal(byDestination.get(`${dst.host}/${repository}:ltsc2022`)?.outcome, 'copied', repository);
      assert.equal(await getManifestDigest(dst, repository, 'ltsc2022'), image.digest);
    }
    assert.deepEqual(byDestination.get(`${dst.host}/default/app:ltsc2022`)?.leftOut, [
      {
        digest: image.foreign.digest,
        size: 3000,
        mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
        urls: image.foreign.urls,
        reason: 'foreign (non-distributable) layer, not copied as docker push does; pulls fetch it from its urls',
      },
    ]);
    assert.equal(await blobStatus('default/app'), 404);
    for (const repository of ['tagged/app', 'all/app']) {
      assert.equal(byDestination.get(`${dst.host}/${repository}:ltsc2022`)?.leftOut, undefined);
      assert.equal(await blobStatus(repository), 200, repository);
    }
  });

  it('fails a refused manifest on its first delivery, naming the layer', async () => {
    const p = await testPipeline(aws, store, registry, 'foreign-strict', { maxReceiveCount: 3, visibilityTimeoutSeconds: 2 });
    const planned = await p.planner({ images: { [`${src.host}/win/app:ltsc2022`]: `${strict.host}/refused/app` }, trigger: 'test' });
    await driveUntilDone({
      sqs: aws.sqs,
      main: { queueUrl: p.queueUrl, handler: p.copier, batchSize: 5, workers: 1 },
      isDone: p.finished(planned.runId),
      timeoutMs: 45_000,
    });
    const [result] = await store.listResults(planned.runId);
    assert.equal(result?.outcome, 'failed');
    assert.equal(result?.attempts, 1);
    assert.match(result?.error ?? '', new RegExp(`was refused because of its foreign layer ${image.foreign.digest} `));
    assert.equal(
      (await p.summary({ runId: planned.runId })).line,
      'Images(1) migration finished, 1 images tasks failed, 0 tasks generate failed',
    );
  });
});
