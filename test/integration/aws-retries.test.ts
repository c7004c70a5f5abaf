/**
 * Retries and failures of the AWS pipeline as SQS delivers them: redelivery with visibility
 * backoff, the last allowed delivery recording the failure, a crashed batch coming back, and a
 * task that dies on every delivery reaching the dead-letter queue and being recorded there.
 * Real handlers, fauxqs, DynamoDB Local and real registries.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SQSRecord } from 'aws-lambda';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { noResultError } from '../../functions/handlers/dlq-recorder.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { secretBackedRegistry, testPipeline } from '../support/aws-fixture.js';
import { startAwsEmulators, type AwsEmulators } from '../support/aws-emulators.js';
import { freePort } from '../support/free-port.js';
import { startForwardingProxy } from '../support/forwarding-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, type SeededImage } from '../support/seed.js';
import { driveUntilDone, queueDepth } from '../support/sqs-lambda-driver.js';

describe('AWS pipeline retries through SQS', () => {
  let aws: AwsEmulators;
  let src: TestRegistry;
  let dst: TestRegistry;
  let closedHost: string;
  let registry: RegistryClient;
  let store: DynamoResultStore;
  let image: SeededImage;

  before(async () => {
    [aws, src, dst] = await Promise.all([startAwsEmulators(), startRegistry(), startRegistry({ auth: 'basic' })]);
    image = await pushImage(src, 'team/app', '1.0');
    await pushImage(src, 'team/tool', '2.0');
    // Nothing listens there: every request fails with ECONNREFUSED, a retryable network error.
    closedHost = `127.0.0.1:${await freePort()}`;
    const auth = {
      [src.host]: { insecure: true },
      [dst.host]: { username: dst.username, password: dst.password, insecure: true },
      [closedHost]: { insecure: true },
    };
    registry = await secretBackedRegistry(auth, { retry: { attempts: 1, baseDelayMs: 10, maxDelayMs: 50 } });
    store = new DynamoResultStore(aws.dynamo, await aws.createTable('image-migrator-retries'));
  });

  after(async () => {
    await registry?.close();
    await Promise.all([aws?.stop(), src?.stop(), dst?.stop()]);
  });

  /** A queue with `retries` + 1 deliveries, its DLQ, and the handlers over them. */
  async function pipeline(name: string, retries: number, crash?: (records: readonly SQSRecord[], batch: number) => boolean, batchSize = 2) {
    // A crashed batch comes back when the visibility timeout ends, so crash tests keep it short; without
    // crashes retries come back after the copier's own backoff, and a long timeout keeps a copy that
    // is slow on a loaded machine from being delivered a second time while it still runs.
    const visibilityTimeoutSeconds = crash === undefined ? 30 : 1;
    const p = await testPipeline(aws, store, registry, name, {
      maxReceiveCount: retries + 1,
      visibilityTimeoutSeconds,
      backoff: { baseMs: 200, maxMs: 1000 },
    });
    const run = async (images: Record<string, string>) => {
      const { runId } = await p.planner({ images });
      const stats = await driveUntilDone({
        sqs: aws.sqs,
        main: { queueUrl: p.queueUrl, handler: p.copier, batchSize, workers: 2, ...(crash ? { crash } : {}) },
        dlq: { queueUrl: p.dlqUrl, handler: p.recorder, batchSize: 10, workers: 1 },
        isDone: p.finished(runId),
        timeoutMs: 40_000,
      });
      return { runId, stats, summary: await p.summary({ runId }) };
    };
    return { run, notifier: p.notifier, dlqUrl: p.dlqUrl, queueUrl: p.queueUrl };
  }

  it('retries a retryable failure `retries` times, then records it failed once and keeps it out of the DLQ', async () => {
    const p = await pipeline('always-fails', 2);
    const { runId, stats, summary } = await p.run({
      [`${src.host}/team/app:1.0`]: `${closedHost}/mirror/app`,
      [`${src.host}/team/tool:2.0`]: `${dst.host}/mirror/tool`,
    });
    assert.equal(summary.line, 'Images(2) migration finished, 1 images tasks failed, 0 tasks generate failed');
    const failed = (await store.listResults(runId)).filter((r) => r.outcome === 'failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]?.attempts, 3, 'first delivery + 2 retries');
    assert.equal(failed[0]?.destination, `${closedHost}/mirror/app:1.0`);
    assert.match(failed[0]?.error ?? '', /ECONNREFUSED|connect|request failed/i);
    assert.equal(Math.max(...stats.main.receives.values()), 3);
    assert.equal(stats.main.itemFailures, 2, 'two deliveries reported failed for redelivery');
    assert.equal(stats.dlq.deliveries, 0);
    assert.equal(await queueDepth(aws.sqs, p.dlqUrl), 0);
    assert.equal(p.notifier.sent.length, 1);
  });

  it('hands a task whose destination stays unavailable past the window back to SQS, and copies it once the registry is back', async () => {
    const proxy = await startForwardingProxy(dst.url, { rewriteLocation: true });
    // A copier container's client with a 300 ms outage window: the registry is given up within one delivery.
    const patient = await secretBackedRegistry(
      { [src.host]: { insecure: true }, [proxy.host]: { username: dst.username, password: dst.password, insecure: true } },
      { retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 100, outageMs: 300 } },
    );
    try {
      const p = await testPipeline(aws, store, patient, 'outage', {
        maxReceiveCount: 8,
        visibilityTimeoutSeconds: 30,
        backoff: { baseMs: 200, maxMs: 1000 },
      });
      // The destination refuses connections for 1.5 s from the start: longer than one delivery's window.
      const outage = proxy.down(1500);
      const { runId } = await p.planner({ images: { [`${src.host}/team/app:1.0`]: `${proxy.host}/outage/app` } });
      const stats = await driveUntilDone({
        sqs: aws.sqs,
        main: { queueUrl: p.queueUrl, handler: p.copier, batchSize: 1, workers: 1 },
        dlq: { queueUrl: p.dlqUrl, handler: p.recorder, batchSize: 10, workers: 1 },
        isDone: p.finished(runId),
        timeoutMs: 40_000,
      });
      await outage;
      const summary = await p.summary({ runId });
      assert.equal(summary.line, 'Images(1) migration finished, 0 images tasks failed, 0 tasks generate failed');
      const [result] = await store.listResults(runId);
      assert.equal(result?.outcome, 'copied');
      assert.ok((result?.attempts ?? 0) >= 2, `attempts ${result?.attempts}`);
      assert.ok(Math.max(...stats.main.receives.values()) >= 2);
      assert.equal(await getManifestDigest(dst, 'outage/app', '1.0'), image.digest);
    } finally {
      await patient.close();
      await proxy.stop();
    }
  });

  it('redelivers a batch dropped by a crashed copier and still completes the run', async () => {
    const p = await pipeline('crash-once', 3, (_records, batch) => batch === 1);
    const { stats, summary } = await p.run({
      [`${src.host}/team/app:1.0`]: `${dst.host}/crash/app`,
      [`${src.host}/team/tool:2.0`]: `${dst.host}/crash/tool`,
    });
    assert.equal(stats.main.crashedBatches, 1);
    assert.equal(summary.line, 'Images(2) migration finished, 0 images tasks failed, 0 tasks generate failed');
    assert.equal(summary.copied + summary.upToDate, 2);
    assert.equal(await getManifestDigest(dst, 'crash/app', '1.0'), image.digest);
  });

  it('records a task that crashes on every delivery as failed from the DLQ, exactly once', async () => {
    const doomed = (r: SQSRecord): boolean => r.body.includes('/doomed/');
    // Batches of one: a crash kills every record of its batch, and only the doomed task should die.
    const p = await pipeline('crash-always', 1, (records) => records.some(doomed), 1);
    const { runId, stats, summary } = await p.run({
      [`${src.host}/team/app:1.0`]: `${dst.host}/doomed/app`,
      [`${src.host}/team/tool:2.0`]: `${dst.host}/fine/tool`,
    });
    assert.equal(summary.line, 'Images(2) migration finished, 1 images tasks failed, 0 tasks generate failed');
    const failed = (await store.listResults(runId)).filter((r) => r.outcome === 'failed');
    assert.deepEqual(
      failed.map((r) => [r.destination, r.error]),
      [[`${dst.host}/doomed/app:1.0`, noResultError(2)]],
    );
    assert.ok(stats.dlq.deliveries >= 1);
    assert.equal(summary.failed + summary.copied + summary.upToDate, summary.tasks);
    assert.equal(p.notifier.sent.length, 1);
  });
});
