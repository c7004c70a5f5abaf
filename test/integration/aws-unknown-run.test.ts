/**
 * Messages of a run that has no run item (expired by TTL, or sent by hand): the copier and the
 * dead-letter recorder acknowledge them instead of failing them, so they neither cycle through the
 * work queue into the dead-letter queue nor stay there for its whole retention. DynamoDB Local
 * through the real SDK client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SQSEvent } from 'aws-lambda';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { NoRunNotifier } from '../../functions/adapters/run-notifier.js';
import { SqsTaskQueue } from '../../functions/adapters/sqs-task-queue.js';
import { createCopierHandler } from '../../functions/handlers/copier.js';
import { createDlqRecorderHandler } from '../../functions/handlers/dlq-recorder.js';
import { ConfigError } from '../../shared/errors.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { silentLogger as silent } from '../support/aws-fixture.js';
import { startAwsEmulators, type AwsEmulators } from '../support/aws-emulators.js';

function sqsEvent(body: Record<string, unknown>, receiveCount: number): SQSEvent {
  return {
    Records: [
      {
        messageId: 'm-1',
        receiptHandle: 'rh-1',
        body: JSON.stringify(body),
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:tasks',
        awsRegion: 'us-east-1',
        messageAttributes: {},
        attributes: {
          ApproximateReceiveCount: String(receiveCount),
          SentTimestamp: '0',
          SenderId: 'x',
          ApproximateFirstReceiveTimestamp: '0',
        },
      },
    ],
  };
}

const orphan = {
  type: 'copy',
  runId: 'expired-run',
  taskId: '1:1.0',
  source: 'reg.example.com/team/app:1.0',
  destination: 'dst.example.com/team/app:1.0',
};

describe('messages of an unknown run', () => {
  let aws: AwsEmulators;
  let store: DynamoResultStore;
  const registry = new RegistryClient({ credentials: { lookup: () => ({ insecure: false }) } });

  before(async () => {
    aws = await startAwsEmulators();
    store = new DynamoResultStore(aws.dynamo, await aws.createTable('unknown-run'));
  });
  after(async () => {
    await registry.close();
    await aws?.stop();
  });

  it('the copier acknowledges a task it cannot record instead of sending it back to the queue', async () => {
    const { queueUrl } = await aws.createQueues('unknown-run', { maxReceiveCount: 2, visibilityTimeoutSeconds: 30 });
    const copier = createCopierHandler({
      store,
      notifier: new NoRunNotifier(),
      logger: silent,
      registry,
      queue: new SqsTaskQueue(aws.sqs, queueUrl),
      sqs: aws.sqs,
      queueUrl,
      maxReceiveCount: 2,
      // Every task fails at once without a registry request, so the copier goes straight to recording.
      credentials: { refresh: () => Promise.reject(new ConfigError('auth secret', undefined, 'not valid')) },
    });
    assert.deepEqual(await copier(sqsEvent(orphan, 2)), { batchItemFailures: [] });
    assert.equal(await store.getRunState('expired-run'), undefined);
  });

  it('the dead-letter recorder acknowledges a dead letter of an unknown run instead of keeping it in its queue', async () => {
    const recorder = createDlqRecorderHandler({ store, notifier: new NoRunNotifier(), logger: silent, maxReceiveCount: 2 });
    assert.deepEqual(await recorder(sqsEvent(orphan, 1)), { batchItemFailures: [] });
    const expand = {
      type: 'expand',
      runId: 'expired-run',
      rule: { index: 1, key: 'reg.example.com/team/app', value: '', source: {}, destination: {}, allTags: true },
    };
    assert.deepEqual(await recorder(sqsEvent(expand, 1)), { batchItemFailures: [] });
  });
});
