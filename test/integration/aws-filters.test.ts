/**
 * Filters of the object form on the AWS pipeline: the planner's expand message carries an all-tags
 * rule's tag filter and platforms through SQS to a copier, which lists, filters and copies; only the
 * selected tags reach the destination, each index narrowed to the rule's platforms. Real planner and
 * copier handlers, SQS and DynamoDB emulators through the SDK, real registries.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { NoRunNotifier } from '../../functions/adapters/run-notifier.js';
import { SecretCredentials } from '../../functions/adapters/secret-credentials.js';
import { SqsTaskQueue } from '../../functions/adapters/sqs-task-queue.js';
import { createCopierHandler } from '../../functions/handlers/copier.js';
import { createPlannerHandler } from '../../functions/handlers/planner.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { startAwsEmulators, type AwsEmulators } from '../support/aws-emulators.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { pushBuildxIndex } from '../support/seed-artifacts.js';
import { getManifestBytes, listTags } from '../support/seed.js';
import { driveUntilDone } from '../support/sqs-lambda-driver.js';

const silent = new Logger({ logLevel: 'SILENT' });

describe('AWS pipeline with tag filters and platforms', () => {
  let aws: AwsEmulators;
  let src: TestRegistry;
  let dst: TestRegistry;
  let registry: RegistryClient;
  before(async () => {
    [aws, src, dst] = await Promise.all([startAwsEmulators(), startRegistry(), startRegistry()]);
    for (const [i, tag] of ['v1.0.0', 'v1.1.0', 'v2.0.0-rc.1', 'v2.0.0', 'edge'].entries()) {
      await pushBuildxIndex(
        src,
        'team/svc',
        tag,
        [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64', variant: 'v8' },
        ],
        40 + i,
      );
    }
    const credentials = new SecretCredentials(async () =>
      JSON.stringify({ [src.host]: { insecure: true }, [dst.host]: { insecure: true } }),
    );
    await credentials.refresh();
    registry = new RegistryClient({ credentials, retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 200 } });
  });
  after(async () => {
    await registry?.close();
    await Promise.all([aws?.stop(), src?.stop(), dst?.stop()]);
  });

  it("copies only the selected tags, narrowed to the rule's platforms", async () => {
    const store = new DynamoResultStore(aws.dynamo, await aws.createTable('filters-runs'));
    const { queueUrl } = await aws.createQueues('filters', { maxReceiveCount: 3, visibilityTimeoutSeconds: 2 });
    const queue = new SqsTaskQueue(aws.sqs, queueUrl);
    const common = { store, notifier: new NoRunNotifier(), logger: silent };
    const planner = createPlannerHandler({ ...common, queue, readRules: () => Promise.reject(new Error('no stored rules')) });
    const copier = createCopierHandler({
      ...common,
      registry,
      queue,
      sqs: aws.sqs,
      queueUrl,
      maxReceiveCount: 3,
      backoff: { baseMs: 100, maxMs: 500 },
    });
    const planned = await planner({
      images: {
        [`${src.host}/team/svc`]: { to: `${dst.host}/mirror/svc`, tags: { semver: '>=1.1.0', latest: 2 }, platforms: ['linux/arm64'] },
      },
    });
    assert.equal(planned.expanding, 1);
    await driveUntilDone({
      sqs: aws.sqs,
      main: { queueUrl, handler: copier, batchSize: 5, workers: 2 },
      isDone: async () => (await store.getRunState(planned.runId))?.finishedAt !== undefined,
      timeoutMs: 45_000,
    });
    // >=1.1.0 leaves v1.1.0 and v2.0.0 (the rc is outside the range, edge is not semver); both are the latest 2.
    assert.deepEqual((await listTags(dst, 'mirror/svc')).sort(), ['v1.1.0', 'v2.0.0']);
    for (const tag of ['v1.1.0', 'v2.0.0']) {
      const index = JSON.parse((await getManifestBytes(dst, 'mirror/svc', tag))?.toString('utf8') ?? '{}') as {
        manifests: { platform?: { architecture: string } }[];
      };
      assert.deepEqual(
        index.manifests.map((m) => m.platform?.architecture),
        ['arm64', 'unknown'],
        `${tag}: the arm64 image and its attestation`,
      );
    }
    const state = await store.getRunState(planned.runId);
    assert.equal(state?.taskCount, 2);
  });
});
