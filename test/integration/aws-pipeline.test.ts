/**
 * The AWS pipeline end to end with real parts: the real planner, copier and summary handlers, SQS
 * (fauxqs) and DynamoDB (DynamoDB Local) through the real SDK clients, a driver that delivers
 * batches as Lambda's event source mapping does, and real registries. The same images.json is run
 * by the local pipeline (the CLI's core) into another registry: digests and summary line must match.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { runLocal } from '../../shared/pipeline/local-run.js';
import { summaryLine } from '../../shared/pipeline/run-counts.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { secretBackedRegistry, testPipeline } from '../support/aws-fixture.js';
import { startAwsEmulators, type AwsEmulators } from '../support/aws-emulators.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, pushMultiArch, randomBytes, type SeededImage } from '../support/seed.js';
import { driveUntilDone, queueDepth, type SqsHandler } from '../support/sqs-lambda-driver.js';

describe('AWS pipeline: planner -> SQS -> copier -> DynamoDB -> summary', () => {
  let aws: AwsEmulators;
  let src: TestRegistry;
  let dstAws: TestRegistry;
  let dstLocal: TestRegistry;
  let registry: RegistryClient;
  let store: DynamoResultStore;
  const seeded = new Map<string, SeededImage>();

  /** Everyone may pull; only a known user may push, and nobody into readonly/. */
  const acl = (user: string | undefined, repository: string, action: 'pull' | 'push'): boolean =>
    action === 'pull' || (user !== undefined && !repository.startsWith('readonly/'));

  function imagesFor(dst: TestRegistry): Record<string, string> {
    return {
      [`${src.host}/team/app`]: `${dst.host}/mirror/app`,
      [`${src.host}/team/app:1.0`]: `${dst.host}/renamed/application:stable`,
      [`${src.host}/team/multi:v1`]: `${dst.host}/mirror/multi`,
      [`${src.host}/team/pinned@${seeded.get('pinned')?.digest}`]: `${dst.host}/mirror/pinned:pin`,
      [`${src.host}/coreos/etcd:3.5`]: '',
      [`${src.host}/team/missing`]: `${dst.host}/mirror/missing`,
      [`${src.host}/team/app:1.1`]: `${dst.host}/readonly/app`,
      // Also covered by the all-tags rule above, as in the example of Huawei's image-migrator's documentation: copied and counted once.
      [`${src.host}/team/app:2.0`]: `${dst.host}/mirror/app:2.0`,
    };
  }

  before(async () => {
    [aws, src, dstAws, dstLocal] = await Promise.all([
      startAwsEmulators(),
      startRegistry(),
      startRegistry({ auth: 'token', acl }),
      startRegistry({ auth: 'token', acl }),
    ]);
    const base = randomBytes(200_000, 7);
    for (const [i, tag] of ['1.0', '1.1', '2.0'].entries()) {
      seeded.set(`app:${tag}`, await pushImage(src, 'team/app', tag, { layers: [base, randomBytes(30_000 + i, 20 + i)] }));
    }
    seeded.set('multi:v1', (await pushMultiArch(src, 'team/multi', 'v1', { format: 'oci', sharedLayers: [base] })).index);
    seeded.set('pinned', await pushImage(src, 'team/pinned', 'x', { format: 'oci' }));
    seeded.set('etcd:3.5', await pushImage(src, 'coreos/etcd', '3.5', { layers: [base] }));

    const auth = {
      [src.host]: { insecure: true },
      [dstAws.host]: { username: dstAws.username, password: dstAws.password, insecure: true },
      [dstLocal.host]: { username: dstLocal.username, password: dstLocal.password, insecure: true },
    };
    registry = await secretBackedRegistry(auth, { retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 200 } });
    store = new DynamoResultStore(aws.dynamo, await aws.createTable('image-migrator-runs'));
  });

  after(async () => {
    await registry?.close();
    await Promise.all([aws?.stop(), src?.stop(), dstAws?.stop(), dstLocal?.stop()]);
  });

  async function pipeline(name: string, options: { wrap?: (handler: SqsHandler, queueUrl: string) => SqsHandler } = {}) {
    const { queueUrl, dlqUrl, planner, copier, notifier, summary, finished } = await testPipeline(aws, store, registry, name, {
      maxReceiveCount: 4,
      visibilityTimeoutSeconds: 2,
      backoff: { baseMs: 100, maxMs: 500 },
    });
    const handler: SqsHandler = options.wrap?.(copier, queueUrl) ?? copier;
    const drive = (runId: string) =>
      driveUntilDone({
        sqs: aws.sqs,
        main: { queueUrl, handler, batchSize: 5, workers: 3 },
        isDone: finished(runId),
        timeoutMs: 45_000,
      });
    const drain = () =>
      driveUntilDone({
        sqs: aws.sqs,
        main: { queueUrl, handler, batchSize: 5, workers: 3 },
        isDone: async () => (await queueDepth(aws.sqs, queueUrl)) === 0,
        timeoutMs: 15_000,
      });
    return { planner, drive, drain, notifier, queueUrl, dlqUrl, summary };
  }

  it('migrates a multi-repository images.json with the same digests and summary line as the local run', async () => {
    const p = await pipeline('full-run');
    const planned = await p.planner({ images: imagesFor(dstAws), registry: dstAws.host, namespace: 'defaults', trigger: 'test' });
    assert.deepEqual({ tasks: planned.tasks, expanding: planned.expanding }, { tasks: 6, expanding: 2 });
    await p.drive(planned.runId);
    const summary = await p.summary({ runId: planned.runId });

    const local = await runLocal({
      rules: parseImagesFile(JSON.stringify(imagesFor(dstLocal)), 'images.json', { registry: dstLocal.host, namespace: 'defaults' }),
      registry,
      workers: 3,
      retries: 1,
      retryBaseMs: 50,
    });
    const localLine = summaryLine(local.counts);
    assert.equal(localLine, 'Images(8) migration finished, 1 images tasks failed, 1 tasks generate failed');
    assert.equal(summary.line, localLine);
    assert.deepEqual(
      {
        tasks: summary.tasks,
        copied: summary.copied,
        upToDate: summary.upToDate,
        failed: summary.failed,
        generateFailed: summary.generateFailed,
        finished: summary.finished,
      },
      { tasks: 8, copied: 7, upToDate: 0, failed: 1, generateFailed: 1, finished: true },
    );
    assert.ok(summary.bytes > 200_000, `bytes ${summary.bytes}`);
    assert.deepEqual(
      summary.failures.map((f) => f.destination),
      [`${dstAws.host}/readonly/app:1.1`],
    );
    assert.match(summary.failures[0]?.error ?? '', /40[13]/);
    assert.deepEqual(
      summary.generateFailures.map((f) => f.source),
      [`${src.host}/team/missing`],
    );

    const expected: [string, string, string][] = [
      ['mirror/app', '1.0', 'app:1.0'],
      ['mirror/app', '1.1', 'app:1.1'],
      ['mirror/app', '2.0', 'app:2.0'],
      ['renamed/application', 'stable', 'app:1.0'],
      ['mirror/multi', 'v1', 'multi:v1'],
      ['mirror/pinned', 'pin', 'pinned'],
      ['defaults/etcd', '3.5', 'etcd:3.5'],
    ];
    for (const [repo, tag, key] of expected) {
      const want = seeded.get(key)?.digest;
      assert.equal(await getManifestDigest(dstAws, repo, tag), want, `${repo}:${tag} on the AWS destination`);
      assert.equal(await getManifestDigest(dstLocal, repo, tag), want, `${repo}:${tag} on the local destination`);
    }
    assert.equal(p.notifier.sent.length, 1, 'one run-finished event');
    assert.equal(p.notifier.sent[0]?.line, localLine);
  });

  it('counts a message delivered twice once', async () => {
    let duplicated = 0;
    const p = await pipeline('duplicates', {
      // Before the first batch is handled, the same bodies are sent again: every message of it
      // arrives twice, as SQS's at-least-once delivery allows.
      wrap: (handler, queueUrl) => async (event: SQSEvent, context) => {
        if (duplicated === 0) {
          duplicated = event.Records.length;
          await aws.sqs.send(
            new SendMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: event.Records.map((r, i) => ({ Id: String(i), MessageBody: r.body })),
            }),
          );
        }
        return handler(event, context);
      },
    });
    const images = { [`${src.host}/team/app`]: `${dstAws.host}/twice/app`, [`${src.host}/coreos/etcd:3.5`]: `${dstAws.host}/twice/etcd` };
    const planned = await p.planner({ images });
    const stats = await p.drive(planned.runId);
    const summary = await p.summary({ runId: planned.runId });
    assert.ok(duplicated > 0);
    assert.ok(stats.main.deliveries >= 2 + 3 + duplicated, `deliveries ${stats.main.deliveries}`);
    assert.equal(summary.line, 'Images(4) migration finished, 0 images tasks failed, 0 tasks generate failed');
    assert.equal(summary.copied + summary.upToDate, 4);
    assert.equal((await store.listResults(planned.runId)).length, 4);
    // Drain what is left (duplicates delivered after the run finished): nothing changes.
    await p.drain();
    assert.equal((await store.getRunState(planned.runId))?.recorded, 4, 'late duplicates do not count');
    assert.equal(p.notifier.sent.length, 1, 'one run-finished event');
  });

  it('rejects invalid rules with the file error and records nothing', async () => {
    const p = await pipeline('invalid');
    await assert.rejects(p.planner({ images: { [`${src.host}`]: `${dstAws.host}/x/y` } }), (error: Error) => {
      assert.match(error.message, /^images: /);
      return true;
    });
    assert.equal(await queueDepth(aws.sqs, p.queueUrl), 0);
  });
});
