/**
 * The AWS pipeline at fleet scale on the emulators: the real planner, copier and summary handlers,
 * SQS (fauxqs) and DynamoDB Local through the real SDK, real registries. Many images of two
 * repositories share one large layer; 50 copier invocations run at once, each with a blob tracker of
 * its own as on Lambda, so only the table's blob claims keep them from streaming the layer 50 times.
 * Some deliveries are duplicated (a message enqueued twice, a delete that is lost), as SQS does.
 *
 * `npm test` runs 200 tasks; `npm run test:fleet` runs 1,000 (FLEET_TASKS, FLEET_WORKERS and
 * FLEET_LAYER_MIB override). The figures are printed as a `fleet:` line.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoBlobClaims } from '../../functions/adapters/dynamo-blob-claims.js';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { SecretCredentials } from '../../functions/adapters/secret-credentials.js';
import { SqsTaskQueue } from '../../functions/adapters/sqs-task-queue.js';
import { createCopierHandler } from '../../functions/handlers/copier.js';
import { createPlannerHandler } from '../../functions/handlers/planner.js';
import { createSummaryHandler } from '../../functions/handlers/summary.js';
import { mapLimit } from '../../shared/copy/limit.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { startAwsEmulators, type AwsEmulators } from '../support/aws-emulators.js';
import { CountingNotifier } from '../support/aws-fixture.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, randomBytes, type SeededImage } from '../support/seed.js';
import { driveUntilDone, type SqsHandler } from '../support/sqs-lambda-driver.js';

const TASKS = Number(process.env.FLEET_TASKS ?? 200);
const WORKERS = Number(process.env.FLEET_WORKERS ?? 50);
const LAYER_BYTES = Math.round(Number(process.env.FLEET_LAYER_MIB ?? 4) * 1024 * 1024);
const silent = new Logger({ logLevel: 'SILENT' });

describe(`AWS pipeline at fleet scale: ${TASKS} tasks, ${WORKERS} copiers at once, one shared layer`, () => {
  let aws: AwsEmulators;
  let src: TestRegistry;
  let dst: TestRegistry;
  let registry: RegistryClient;
  const images = new Map<string, SeededImage>();
  let uniqueBytes = 0;

  before(async () => {
    [aws, src, dst] = await Promise.all([startAwsEmulators(), startRegistry(), startRegistry()]);
    const seeding = Date.now();
    const shared = randomBytes(LAYER_BYTES, 1);
    const tags = Array.from({ length: TASKS }, (_, i) => ({ i, repository: i % 2 === 0 ? 'fleet/web' : 'fleet/api', tag: `v${i}` }));
    await mapLimit(tags, 8, async ({ i, repository, tag }) => {
      const own = randomBytes(1024 + (i % 7), 1000 + i);
      const image = await pushImage(src, repository, tag, { layers: [shared, own] });
      images.set(`${repository}:${tag}`, image);
    });
    // Unique bytes: the shared layer once, each image's own layer and config.
    uniqueBytes = LAYER_BYTES;
    for (const image of images.values()) {
      const manifest = JSON.parse(image.manifest.toString('utf8')) as { config: { size: number }; layers: { size: number }[] };
      uniqueBytes += manifest.config.size + (manifest.layers[1]?.size ?? 0);
    }
    const auth = JSON.stringify({ [src.host]: { insecure: true }, [dst.host]: { insecure: true } });
    console.log(`fleet: seeded ${TASKS} images in ${((Date.now() - seeding) / 1000).toFixed(1)} s`);
    const credentials = new SecretCredentials(async () => auth);
    await credentials.refresh();
    registry = new RegistryClient({ credentials, retry: { attempts: 3, baseDelayMs: 50, maxDelayMs: 500 } });
  });

  after(async () => {
    await registry?.close();
    await Promise.all([aws?.stop(), src?.stop(), dst?.stop()]);
  });

  it('uploads the shared layer about once, records no spurious failure and finishes once despite duplicate deliveries', async () => {
    const table = await aws.createTable('fleet-runs');
    const store = new DynamoResultStore(aws.dynamo, table);
    const claims = { claimed: 0, busy: 0, present: 0, takeover: 0, resume: 0, suspend: 0 };
    const coordinator = new DynamoBlobClaims(aws.dynamo, table, { onClaim: (answer) => void claims[answer]++ });
    const { queueUrl } = await aws.createQueues('fleet', { maxReceiveCount: 4, visibilityTimeoutSeconds: 30 });
    const notifier = new CountingNotifier();
    const queue = new SqsTaskQueue(aws.sqs, queueUrl);
    const common = { store, notifier, logger: silent };
    const planner = createPlannerHandler({ ...common, queue, readRules: () => Promise.reject(new Error('no stored rules')) });
    // Bytes uploaded, counted at the client: every completed blob upload (one PUT, or a chunk of a
    // resumable one), whichever delivery's result was recorded; also through the views a copy makes
    // of the client to count its retries.
    let uploaded = 0;
    const counting = (client: RegistryClient): RegistryClient =>
      new Proxy(client, {
        get(target, property, receiver) {
          if (property === 'uploadBlob') {
            return async (...args: Parameters<RegistryClient['uploadBlob']>) => {
              const out = await target.uploadBlob(...args);
              uploaded += args[2];
              return out;
            };
          }
          if (property === 'uploadChunk') {
            return async (...args: Parameters<RegistryClient['uploadChunk']>) => {
              const out = await target.uploadChunk(...args);
              uploaded += args[2];
              return out;
            };
          }
          if (property === 'withRetryListener')
            return (...args: Parameters<RegistryClient['withRetryListener']>) => counting(target.withRetryListener(...args));
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    const copier = createCopierHandler({
      ...common,
      registry: counting(registry),
      queue,
      sqs: aws.sqs,
      queueUrl,
      maxReceiveCount: 4,
      backoff: { baseMs: 100, maxMs: 500 },
      coordinator,
      copierOptions: { blobWait: { pollMs: 50, maxPollMs: 500 } },
    });
    // Every 9th invocation loses its delete: SQS delivers those messages again.
    let invocations = 0;
    const handler: SqsHandler = async (event, context) => {
      const response = await copier(event, context);
      return ++invocations % 9 === 0 ? { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) } : response;
    };

    const rules = { [`${src.host}/fleet/web`]: `${dst.host}/mirror/web`, [`${src.host}/fleet/api`]: `${dst.host}/mirror/api` };
    const planned = await planner({ images: rules, trigger: 'fleet' });
    const started = Date.now();
    // Duplicates enqueued at once: every 10th tag of fleet/web is sent a second time.
    const duplicates = [...images.keys()]
      .filter((k, i) => k.startsWith('fleet/web') && i % 10 === 0)
      .map((key) => {
        const tag = key.split(':')[1] ?? '';
        return {
          Id: tag,
          MessageBody: JSON.stringify({
            type: 'copy',
            runId: planned.runId,
            taskId: `1:${tag}`,
            source: `${src.host}/${key}`,
            destination: `${dst.host}/mirror/web:${tag}`,
          }),
        };
      });
    const drive = driveUntilDone({
      sqs: aws.sqs,
      main: { queueUrl, handler, batchSize: 1, workers: WORKERS },
      isDone: async () => (await store.getRunState(planned.runId))?.finishedAt !== undefined,
      timeoutMs: 60_000 + TASKS * 600,
    });
    // After the expansions have enqueued the tasks, so that both copies of a message are in flight under load.
    for (let i = 0; i < duplicates.length; i += 10)
      await aws.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: duplicates.slice(i, i + 10) }));
    const stats = await drive;
    const seconds = (Date.now() - started) / 1000;

    const summary = await createSummaryHandler({ store })({ runId: planned.runId });
    assert.equal(summary.tasks, TASKS);
    assert.equal(summary.failed, 0, JSON.stringify(summary.failures.slice(0, 3)));
    assert.equal(summary.copied + summary.upToDate, TASKS);
    assert.equal(notifier.finished.length, 1, 'one finish event');
    // Every tag landed with the source's digest.
    const wrong = (
      await mapLimit([...images.entries()], 16, async ([key, image]) => {
        const [repository = '', tag = ''] = key.split(':');
        return (await getManifestDigest(dst, repository.replace('fleet/', 'mirror/'), tag)) === image.digest ? 0 : 1;
      })
    ).reduce((a: number, b) => a + b, 0);
    assert.equal(wrong, 0);
    const unique = uniqueBytes;
    const ratio = uploaded / unique;
    const usage = summary.usage;
    console.log(
      `fleet: ${TASKS} tasks, ${WORKERS} workers, ${seconds.toFixed(1)} s (${(TASKS / seconds).toFixed(1)} tasks/s), ` +
        `bytes uploaded ${uploaded} for ${unique} unique (${ratio.toFixed(3)}x), recorded ${summary.bytes}, failed ${summary.failed}, claims ${JSON.stringify(claims)}, ` +
        `deliveries ${stats.main.deliveries} (${stats.main.itemFailures} lost deletes), per 1,000 tasks: ${Math.round((usage.dynamoRequests * 1000) / TASKS)} DynamoDB and ` +
        `${Math.round((usage.sqsRequests * 1000) / TASKS)} SQS requests, ${Math.round((usage.writeUnits * 1000) / TASKS)} WCU, ${Math.round((usage.readUnits * 1000) / TASKS)} RCU`,
    );
    assert.ok(ratio <= 1.1, `uploaded ${uploaded} bytes for ${unique} unique bytes (${ratio.toFixed(2)}x)`);
    assert.ok(stats.main.deliveries > TASKS + 2, 'some messages were delivered more than once');
    assert.ok(claims.busy + claims.present > 0, 'copiers met on the shared layer and waited or mounted');
  });
});
