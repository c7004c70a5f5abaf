/**
 * A blob that cannot be uploaded within one copier invocation, on the emulators: the copier's
 * deadline (a short function timeout given to the handler's Lambda context) stops its upload at a
 * chunk boundary, the session is recorded with the blob's claim in the table, the task is sent on,
 * and the next invocation goes on where the registry is. Real handlers, fauxqs, DynamoDB Local, real
 * registries, and a proxy in front of the destination that counts the bytes uploaded.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DynamoBlobClaims } from '../../functions/adapters/dynamo-blob-claims.js';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { SqsTaskQueue } from '../../functions/adapters/sqs-task-queue.js';
import { createCopierHandler } from '../../functions/handlers/copier.js';
import { createDlqRecorderHandler } from '../../functions/handlers/dlq-recorder.js';
import { createPlannerHandler } from '../../functions/handlers/planner.js';
import { createSummaryHandler } from '../../functions/handlers/summary.js';
import { countRequest } from '../../shared/pipeline/request-count.js';
import type { RegistryClient } from '../../shared/registry/client.js';
import { CountingNotifier, secretBackedRegistry, silentLogger } from '../support/aws-fixture.js';
import { startAwsEmulators, type AwsEmulators } from '../support/aws-emulators.js';
import { startForwardingProxy, type ForwardingProxy } from '../support/forwarding-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, randomBytes, type SeededImage } from '../support/seed.js';
import { driveUntilDone, type SqsHandler } from '../support/sqs-lambda-driver.js';

const MiB = 1024 * 1024;
/** Deliveries of a message: one try and one retry. */
const MAX_RECEIVE_COUNT = 2;
/**
 * The copier's function timeout: its deadline (a fifth less) has passed by the end of the first
 * chunk, so each invocation uploads exactly one chunk of the layer, whatever the machine's speed.
 */
const FUNCTION_TIMEOUT_MS = 100;

describe('AWS: a blob larger than one copier invocation', () => {
  let aws: AwsEmulators;
  let src: TestRegistry;
  let dst: TestRegistry;
  let proxy: ForwardingProxy;
  let registry: RegistryClient;
  let layer: Buffer;
  let image: SeededImage;
  let blobBytes: number;

  before(async () => {
    [aws, src, dst] = await Promise.all([startAwsEmulators(), startRegistry(), startRegistry()]);
    proxy = await startForwardingProxy(dst.url, { rewriteLocation: true });
    // Five chunks: four of 16 MiB and a last one of 8 MiB and a bit.
    layer = randomBytes(72 * MiB + 999, 81);
    image = await pushImage(src, 'huge/app', 'v1', { layers: [layer] });
    const manifest = JSON.parse(image.manifest.toString('utf8')) as { config: { size: number } };
    blobBytes = layer.length + manifest.config.size;
    registry = await secretBackedRegistry(
      { [src.host]: { insecure: true }, [proxy.host]: { insecure: true } },
      { retry: { attempts: MAX_RECEIVE_COUNT, baseDelayMs: 20, maxDelayMs: 200 }, onRequest: countRequest },
    );
  });
  after(async () => {
    await registry?.close();
    await proxy?.stop();
    await Promise.all([aws?.stop(), src?.stop(), dst?.stop()]);
  });

  /** Runs one rule through the planner and copiers with a short function timeout; `between` runs after each copier invocation. */
  async function run(name: string, destination: string, between?: (invocation: number) => void) {
    const table = await aws.createTable(name);
    const store = new DynamoResultStore(aws.dynamo, table);
    const claims: string[] = [];
    const coordinator = new DynamoBlobClaims(aws.dynamo, table, { onClaim: (answer) => void claims.push(answer) });
    const { queueUrl, dlqUrl } = await aws.createQueues(name, { maxReceiveCount: MAX_RECEIVE_COUNT, visibilityTimeoutSeconds: 60 });
    const notifier = new CountingNotifier();
    const queue = new SqsTaskQueue(aws.sqs, queueUrl);
    const common = { store, notifier, logger: silentLogger };
    const planner = createPlannerHandler({ ...common, queue, readRules: () => Promise.reject(new Error('no stored rules')) });
    const copier = createCopierHandler({
      ...common,
      registry,
      queue,
      sqs: aws.sqs,
      queueUrl,
      maxReceiveCount: MAX_RECEIVE_COUNT,
      backoff: { baseMs: 100, maxMs: 500 },
      coordinator,
    });
    let invocations = 0;
    const handler: SqsHandler = async (event, context) => {
      const response = await copier(event, context);
      invocations += 1;
      between?.(invocations);
      return response;
    };
    const { runId } = await planner({ images: { [`${src.host}/huge/app:v1`]: `${proxy.host}/${destination}` } });
    const stats = await driveUntilDone({
      sqs: aws.sqs,
      main: { queueUrl, handler, batchSize: 1, workers: 1, functionTimeoutMs: FUNCTION_TIMEOUT_MS },
      dlq: {
        queueUrl: dlqUrl,
        handler: createDlqRecorderHandler({ ...common, maxReceiveCount: MAX_RECEIVE_COUNT }),
        batchSize: 10,
        workers: 1,
      },
      isDone: async () => (await store.getRunState(runId))?.finishedAt !== undefined,
      timeoutMs: 180_000,
    });
    const summary = await createSummaryHandler({ store })({ runId });
    const [result] = await store.listResults(runId);
    const uploaded = proxy.log
      .filter((l) => (l.method === 'PATCH' || l.method === 'PUT') && l.path.startsWith(`/v2/${destination}/blobs/uploads/`))
      .reduce((n, l) => n + l.bytesIn, 0);
    return { stats, summary, result, uploaded, invocations, claims, notifier };
  }

  it('lands after several invocations, counted once, with no retry spent and less than 1.5x the blob uploaded', async () => {
    const { stats, summary, result, uploaded, invocations, claims, notifier } = await run('large-blob', 'huge/once');
    assert.equal(summary.line, 'Images(1) migration finished, 0 images tasks failed, 0 tasks generate failed');
    assert.equal(await getManifestDigest(dst, 'huge/once', 'v1'), image.digest);
    // One chunk per invocation: five for the layer.
    assert.equal(invocations, 5);
    assert.ok(invocations >= 3);
    // Every message was delivered once: the task went on in new messages, no SQS retry was spent.
    assert.deepEqual(
      [...stats.main.receives.values()],
      Array.from({ length: invocations }, () => 1),
    );
    assert.equal(stats.main.itemFailures, 0);
    assert.equal(stats.dlq.deliveries, 0);
    assert.equal(notifier.finished.length, 1);
    assert.equal(result?.outcome, 'copied');
    assert.equal(result?.attempts, 1);
    assert.equal(result?.bytes, blobBytes, 'the bytes of every invocation add up to the blobs, once');
    assert.equal(result?.retried?.['upload-resume'], invocations - 1, 'each invocation after the first resumed the session');
    assert.ok(uploaded < 1.5 * layer.length, `${uploaded} bytes uploaded for a ${layer.length}-byte layer`);
    assert.deepEqual(
      claims.filter((c) => c === 'suspend' || c === 'resume'),
      ['suspend', 'resume', 'suspend', 'resume', 'suspend', 'resume', 'suspend', 'resume'],
    );
    console.log(
      `large blob on AWS: ${layer.length} B layer in ${invocations} invocations, ${uploaded} B uploaded (${(uploaded / layer.length).toFixed(3)}x), ${result?.requests} requests, ${result?.durationMs} ms of copy`,
    );
  });

  it('starts a new session when the registry has forgotten the recorded one', async () => {
    // After the second invocation the destination forgets every upload session it gave out.
    const { summary, result, invocations } = await run('large-blob-stale', 'huge/stale', (n) => {
      if (n === 2) proxy.forgetUploadSessions();
    });
    assert.equal(summary.line, 'Images(1) migration finished, 0 images tasks failed, 0 tasks generate failed');
    assert.equal(await getManifestDigest(dst, 'huge/stale', 'v1'), image.digest);
    assert.equal(result?.retried?.['blob-restart'], 1);
    // Two invocations lost with the session, then five for the layer from byte 0.
    assert.equal(invocations, 7);
  });
});
