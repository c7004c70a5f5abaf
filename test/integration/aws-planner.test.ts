/**
 * The planner's fan-out and inputs, the summary of an unknown run, and the run-finished event. SQS
 * and DynamoDB are emulated; SSM and EventBridge, which have no emulator here, are small HTTP
 * endpoints speaking their JSON protocol to the real SDK clients.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { EventBridgeRunNotifier, EVENT_SOURCE, RUN_FINISHED } from '../../functions/adapters/run-notifier.js';
import { ssmRulesReader } from '../../functions/adapters/rules-parameter.js';
import { EnqueueError, SqsTaskQueue } from '../../functions/adapters/sqs-task-queue.js';
import { createPlannerHandler } from '../../functions/handlers/planner.js';
import { finishRunIfComplete } from '../../functions/runs/run-completion.js';
import { createSummaryHandler, UnknownRunError } from '../../functions/handlers/summary.js';
import { ConfigError } from '../../shared/errors.js';
import { silentLogger as silent } from '../support/aws-fixture.js';
import { startAwsEmulators, TEST_AWS, type AwsEmulators } from '../support/aws-emulators.js';

/** A JSON-protocol endpoint: `answer(target, body)` gives the status and response body. */
async function jsonEndpoint(
  answer: (target: string, body: Record<string, unknown>) => [number, unknown],
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const [status, body] = answer(String(req.headers['x-amz-target']), JSON.parse(text || '{}') as Record<string, unknown>);
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}` };
}

describe('planner, summary and run-finished event', () => {
  let aws: AwsEmulators;
  let store: DynamoResultStore;
  let ssm: { server: Server; url: string };
  let events: { server: Server; url: string };
  const putEvents: Record<string, unknown>[] = [];
  const parameters = new Map<string, string>();

  before(async () => {
    aws = await startAwsEmulators();
    store = new DynamoResultStore(aws.dynamo, await aws.createTable('image-migrator-planner'));
    ssm = await jsonEndpoint((target, body) => {
      const value = parameters.get(String(body.Name));
      if (target !== 'AmazonSSM.GetParameter' || value === undefined) return [400, { __type: 'ParameterNotFound', message: 'not found' }];
      return [200, { Parameter: { Name: body.Name, Type: 'String', Value: value, Version: 1 } }];
    });
    events = await jsonEndpoint((_target, body) => {
      putEvents.push(body);
      return [200, { FailedEntryCount: 0, Entries: [{ EventId: String(putEvents.length) }] }];
    });
  });

  after(async () => {
    await aws?.stop();
    for (const s of [ssm?.server, events?.server]) await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
  });

  async function planner(name: string) {
    const { queueUrl } = await aws.createQueues(name, { maxReceiveCount: 4, visibilityTimeoutSeconds: 30 });
    const notifier = new EventBridgeRunNotifier(new EventBridgeClient({ ...TEST_AWS, endpoint: events.url }), 'image-migrator-bus');
    const readRules = ssmRulesReader(new SSMClient({ ...TEST_AWS, endpoint: ssm.url }), '/image-migrator/rules/');
    const handler = createPlannerHandler({ store, notifier, logger: silent, queue: new SqsTaskQueue(aws.sqs, queueUrl), readRules });
    return { handler, queueUrl };
  }

  it('hands 1,000 all-tags rules to the queue as expand messages without contacting a registry', async () => {
    const p = await planner('fan-out');
    // Port 9 on loopback: any registry request would fail, so a passing test proves none was made.
    const images = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`127.0.0.1:9/team/app${i}`, `127.0.0.1:9/mirror/app${i}`]));
    const started = Date.now();
    const result = await p.handler({ images });
    const elapsed = Date.now() - started;
    assert.deepEqual(
      { tasks: result.tasks, expanding: result.expanding, generateFailed: result.generateFailed },
      { tasks: 0, expanding: 1000, generateFailed: 0 },
    );
    assert.ok(elapsed < 20_000, `planning took ${elapsed} ms`);
    const attributes = await aws.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: p.queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    assert.equal(attributes.Attributes?.ApproximateNumberOfMessages, '1000');
    const one = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: p.queueUrl, MaxNumberOfMessages: 1 }));
    const body = JSON.parse(one.Messages?.[0]?.Body ?? '{}') as { type: string; runId: string; rule: { allTags: boolean } };
    assert.equal(body.type, 'expand');
    assert.equal(body.runId, result.runId);
    assert.equal(body.rule.allTags, true);
    const state = await store.getRunState(result.runId);
    assert.deepEqual({ pending: state?.pendingExpansions, finished: state?.finishedAt }, { pending: 1000, finished: undefined });
  });

  it('records messages that never reached the queue as failed, so the run still finishes with every task counted', async () => {
    const { queueUrl } = await aws.createQueues('unsent', { maxReceiveCount: 4, visibilityTimeoutSeconds: 30 });
    const gone = queueUrl.replace(/unsent[^/]*$/, 'no-such-queue');
    const notifier = new EventBridgeRunNotifier(new EventBridgeClient({ ...TEST_AWS, endpoint: events.url }), 'image-migrator-bus');
    const queue = new SqsTaskQueue(aws.sqs, gone, { resends: 1, backoffBaseMs: 1 });
    const handler = createPlannerHandler({ store, notifier, logger: silent, queue, readRules: () => Promise.reject(new Error('unused')) });
    await assert.rejects(
      handler({
        images: {
          '127.0.0.1:9/team/a:1': '127.0.0.1:9/m/a',
          '127.0.0.1:9/team/b:2': '127.0.0.1:9/m/b',
          '127.0.0.1:9/team/c': '127.0.0.1:9/m/c',
        },
        trigger: 'test',
      }),
      (error: unknown) => error instanceof EnqueueError && error.failedCount === 3,
    );
    const runs = putEvents.map(
      (e) =>
        JSON.parse(String((e.Entries as { Detail: string }[])[0]?.Detail)) as {
          runId: string;
          trigger: string;
          tasks: number;
          failed: number;
          generateFailed: number;
        },
    );
    const run = runs.find((r) => r.trigger === 'test');
    const runId = run?.runId ?? '';
    assert.deepEqual(
      { tasks: run?.tasks, failed: run?.failed, generateFailed: run?.generateFailed },
      { tasks: 2, failed: 2, generateFailed: 1 },
    );
    assert.equal((await store.getRunState(runId))?.recorded, 2);
  });

  it('plans stored rules of a schedule from SSM and names the schedule as the trigger', async () => {
    const p = await planner('stored');
    parameters.set('/image-migrator/rules/nightly', '{"127.0.0.1:9/team/app:1.0": "127.0.0.1:9/mirror/app"}');
    const result = await p.handler({ rulesParameter: '/image-migrator/rules/nightly' });
    assert.equal(result.tasks, 1);
    assert.equal((await store.getRunState(result.runId))?.trigger, 'schedule:nightly');
  });

  it('rejects a missing rules parameter and one outside the prefix with ConfigError', async () => {
    const p = await planner('stored-missing');
    await assert.rejects(
      p.handler({ rulesParameter: '/image-migrator/rules/none' }),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message === 'planner event: "rulesParameter": the SSM parameter /image-migrator/rules/none does not exist',
    );
    await assert.rejects(
      p.handler({ rulesParameter: '/other/secret' }),
      (e: Error) => e instanceof ConfigError && /not under this stack's rules prefix/.test(e.message),
    );
  });

  it('rejects empty stored rules, and puts one run-finished event with the summary line when the last rule of a run is counted', async () => {
    const p = await planner('empty-run');
    parameters.set('/image-migrator/rules/empty', '{}');
    await assert.rejects(p.handler({ rulesParameter: '/image-migrator/rules/empty' }), /there are no rules/);
    // A run whose only rule is an all-tags rule that failed to list finishes with one generate failure.
    const { runId } = await p.handler({ images: { '127.0.0.1:9/team/x': '127.0.0.1:9/mirror/x' } });
    putEvents.length = 0;
    await store.failExpansion(runId, 1, { source: '127.0.0.1:9/team/x', destination: '127.0.0.1:9/mirror/x', error: 'connection refused' });
    const notifier = new EventBridgeRunNotifier(new EventBridgeClient({ ...TEST_AWS, endpoint: events.url }), 'image-migrator-bus');
    assert.equal(await finishRunIfComplete({ store, notifier, logger: silent }, runId), true);
    assert.equal(await finishRunIfComplete({ store, notifier, logger: silent }, runId), false);
    assert.equal(putEvents.length, 1);
    const entry = (putEvents[0]?.Entries as Record<string, string>[])[0];
    assert.deepEqual(
      { source: entry?.Source, type: entry?.DetailType, bus: entry?.EventBusName },
      { source: EVENT_SOURCE, type: RUN_FINISHED, bus: 'image-migrator-bus' },
    );
    const detail = JSON.parse(entry?.Detail ?? '{}') as { runId: string; line: string };
    assert.equal(detail.runId, runId);
    assert.equal(detail.line, 'Images(0) migration finished, 0 images tasks failed, 1 tasks generate failed');
  });

  it('answers an unknown run id with UnknownRunError', async () => {
    await assert.rejects(createSummaryHandler({ store })({ runId: 'no-such-run' }), UnknownRunError);
  });
});
