/**
 * Mirroring that runs by itself, with real parts: the real planner, copier, summary and webhook
 * handlers, SQS (fauxqs) and DynamoDB (DynamoDB Local) through the real SDK clients, the event
 * source driver, and real registries. Stored rules are read through the same port the SSM adapter
 * fills (no SSM emulator here); the planner gets exactly the event a schedule sends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { NoRunNotifier } from '../../functions/adapters/run-notifier.js';
import { SecretCredentials } from '../../functions/adapters/secret-credentials.js';
import { SqsTaskQueue } from '../../functions/adapters/sqs-task-queue.js';
import { createCopierHandler } from '../../functions/handlers/copier.js';
import { createPlannerHandler } from '../../functions/handlers/planner.js';
import { createSummaryHandler } from '../../functions/handlers/summary.js';
import { createWebhookHandler } from '../../functions/handlers/webhook.js';
import { DynamoReplayGuard } from '../../functions/push/replay-guard.js';
import { signBody } from '../../functions/push/signature.js';
import { scheduledPlannerEvent } from '../../infra/constructs/rule-schedules.js';
import { countRequest } from '../../shared/pipeline/request-count.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { silentLogger as silent } from '../support/aws-fixture.js';
import { startAwsEmulators, type AwsEmulators } from '../support/aws-emulators.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, randomBytes } from '../support/seed.js';
import { driveUntilDone, queueDepth } from '../support/sqs-lambda-driver.js';

const PREFIX = '/image-migrator/ImageMigrator/rules/';
const SECRET = 'mirror-test-signing-key';

describe('mirroring on schedule and on push', () => {
  let aws: AwsEmulators;
  let src: TestRegistry;
  let dst: TestRegistry;
  let registry: RegistryClient;
  let store: DynamoResultStore;
  let queueUrl: string;
  let stored: Record<string, string>;
  const notifier = new NoRunNotifier();

  before(async () => {
    [aws, src, dst] = await Promise.all([startAwsEmulators(), startRegistry(), startRegistry({ auth: 'basic' })]);
    const base = randomBytes(100_000, 3);
    await pushImage(src, 'team/app', '1.0', { layers: [base, randomBytes(20_000, 4)] });
    await pushImage(src, 'team/app', '1.1', { layers: [base, randomBytes(20_000, 5)] });
    await pushImage(src, 'team/tool', '2.0');
    await pushImage(src, 'team/tool', '2.1');
    const credentials = new SecretCredentials(async () =>
      JSON.stringify({
        [src.host]: { insecure: true },
        [dst.host]: { username: dst.username, password: dst.password, insecure: true },
      }),
    );
    await credentials.refresh();
    registry = new RegistryClient({ credentials, retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 200 }, onRequest: countRequest });
    store = new DynamoResultStore(aws.dynamo, await aws.createTable('image-migrator-mirror'));
    ({ queueUrl } = await aws.createQueues('mirror', { maxReceiveCount: 3, visibilityTimeoutSeconds: 2 }));
    stored = {
      [`${PREFIX}nightly`]: JSON.stringify({
        [`${src.host}/team/app`]: `${dst.host}/mirror/app`,
        [`${src.host}/team/tool:2.0`]: `${dst.host}/mirror/tool`,
      }),
    };
  });

  after(async () => {
    await registry?.close();
    await Promise.all([aws?.stop(), src?.stop(), dst?.stop()]);
  });

  const common = () => ({ store, notifier, logger: silent });
  const planner = () =>
    createPlannerHandler({
      ...common(),
      queue: new SqsTaskQueue(aws.sqs, queueUrl),
      readRules: async (name) => stored[name] ?? Promise.reject(new Error(`no parameter ${name}`)),
    });
  const webhook = () =>
    createWebhookHandler({
      logger: silent,
      signingSecret: async () => SECRET,
      replayGuard: new DynamoReplayGuard(aws.dynamo, 'image-migrator-mirror'),
      storedRules: async () => Object.entries(stored).map(([name, text]) => ({ name, text })),
      plan: planner(),
    });
  async function finish(runId: string) {
    const copier = createCopierHandler({
      ...common(),
      registry,
      queue: new SqsTaskQueue(aws.sqs, queueUrl),
      sqs: aws.sqs,
      queueUrl,
      maxReceiveCount: 3,
      backoff: { baseMs: 100, maxMs: 500 },
    });
    await driveUntilDone({
      sqs: aws.sqs,
      main: { queueUrl, handler: copier, batchSize: 1, workers: 2 },
      isDone: async () => (await store.getRunState(runId))?.finishedAt !== undefined,
      timeoutMs: 30_000,
    });
    return createSummaryHandler({ store })({ runId });
  }
  function signedPush(
    body: string,
    signature: string | null = signBody(SECRET, Math.floor(Date.now() / 1000), body),
  ): LambdaFunctionURLEvent {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-image-migrator-timestamp': String(Math.floor(Date.now() / 1000)),
    };
    if (signature !== null) headers['x-image-migrator-signature'] = signature;
    return {
      version: '2.0',
      routeKey: '$default',
      rawPath: '/',
      rawQueryString: '',
      headers,
      body,
      isBase64Encoded: false,
      requestContext: {
        accountId: 'anonymous',
        apiId: 'x',
        domainName: 'x',
        domainPrefix: 'x',
        requestId: 'r',
        routeKey: '$default',
        stage: '$default',
        time: '',
        timeEpoch: 0,
        http: { method: 'POST', path: '/', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      },
    };
  }

  it('mirrors every covered tag on the first scheduled run, and copies nothing on the second', async () => {
    const first = await planner()(scheduledPlannerEvent(PREFIX, 'nightly'));
    const one = await finish(first.runId);
    assert.equal(one.trigger, 'schedule:nightly');
    assert.equal(one.line, 'Images(3) migration finished, 0 images tasks failed, 0 tasks generate failed');
    assert.deepEqual({ copied: one.copied, upToDate: one.upToDate }, { copied: 3, upToDate: 0 });
    for (const [repo, tag, to] of [
      ['team/app', '1.0', 'mirror/app'],
      ['team/app', '1.1', 'mirror/app'],
      ['team/tool', '2.0', 'mirror/tool'],
    ] as const) {
      assert.equal(await getManifestDigest(dst, to, tag), await getManifestDigest(src, repo, tag), `${to}:${tag}`);
    }
    assert.equal(await getManifestDigest(dst, 'mirror/tool', '2.1'), undefined, 'a tag no rule covers stays behind');

    const second = await planner()(scheduledPlannerEvent(PREFIX, 'nightly'));
    const two = await finish(second.runId);
    assert.deepEqual(
      { tasks: two.tasks, copied: two.copied, upToDate: two.upToDate, bytes: two.bytes },
      { tasks: 3, copied: 0, upToDate: 3, bytes: 0 },
    );
    const event = notifier.sent.find((d) => d.runId === second.runId);
    assert.deepEqual(
      { trigger: event?.trigger, copied: event?.copied, upToDate: event?.upToDate, failed: event?.failed },
      { trigger: 'schedule:nightly', copied: 0, upToDate: 3, failed: 0 },
    );
    // A no-op run costs a source GET and a destination HEAD per tag, plus at most a token per repository and side.
    assert.ok(event !== undefined && event.requests >= 6 && event.requests <= 6 + 4, `requests of the no-op run: ${event?.requests}`);
    assert.equal(two.requests, event?.requests);
  });

  it('copies a tag pushed to a covered repository when the signed notification arrives', async () => {
    const pushed = await pushImage(src, 'team/app', '1.2', { layers: [randomBytes(30_000, 9)] });
    const body = JSON.stringify({
      events: [{ action: 'push', target: { repository: 'team/app', tag: '1.2', digest: pushed.digest }, request: { host: src.host } }],
    });
    const request = signedPush(body);
    const response = await webhook()(request);
    assert.equal(response.statusCode, 202);
    const answer = JSON.parse(response.body) as { queued: number; runId: string };
    assert.equal(answer.queued, 1);
    const summary = await finish(answer.runId);
    assert.equal(summary.trigger, 'webhook');
    assert.deepEqual({ tasks: summary.tasks, copied: summary.copied }, { tasks: 1, copied: 1 });
    assert.equal(await getManifestDigest(dst, 'mirror/app', '1.2'), pushed.digest);

    // The same request again (a captured one, sent within the window): refused, nothing queued.
    const replay = await webhook()(request);
    assert.deepEqual(
      [replay.statusCode, JSON.parse(replay.body)],
      [409, { error: 'this request was already received (replayed signature)' }],
    );
    assert.equal(await queueDepth(aws.sqs, queueUrl), 0);
  });

  it('refuses an unsigned push and queues nothing; ignores a tag no rule covers', async () => {
    const body = JSON.stringify({ repository: `${src.host}/team/app`, tag: '1.0' });
    const unsigned = await webhook()(signedPush(body, null));
    assert.deepEqual(
      [unsigned.statusCode, JSON.parse(unsigned.body)],
      [401, { error: 'the X-Image-Migrator-Signature header is missing' }],
    );
    const uncovered = await webhook()(signedPush(JSON.stringify({ repository: `${src.host}/team/tool`, tag: '2.1' })));
    assert.deepEqual([uncovered.statusCode, JSON.parse(uncovered.body)], [202, { format: 'plain', pushed: 1, queued: 0 }]);
    assert.equal(await queueDepth(aws.sqs, queueUrl), 0);
  });
});
