/**
 * The planner's fan-out at fleet scale on the emulators (fauxqs, DynamoDB Local, the real SDK
 * clients): a run of many tag rules and a few all-tags rules is recorded by the real planner and
 * sent as plan slices; the real copier handler turns each slice into copy and expand messages and
 * lists the all-tags rules from test/support/tag-list-server.ts.
 * - At scale, copy messages are counted, not copied (DynamoDB Local records about 130 results a
 *   second, so 100,000 results would take the test 13 minutes), and they go to a queue of their own
 *   that nobody reads (fauxqs's receives slow down with a queue's depth: 100,000 copy messages on
 *   the work queue drained at about 90 a second): the run's task count, its pending expansions
 *   reaching exactly 0, every task enqueued, each invocation's messages and time within bounds, and
 *   a slice delivered again (during and after its first delivery) counted once.
 * - A smaller sliced run goes to its end through the real record path (copies answered by a stub
 *   copier), with a slice that dies on every delivery and reaches the dead-letter queue: one finish
 *   event, and copied + up to date + failed = tasks.
 *
 * `npm test` plans 10,000 rules; `npm run test:fanout` 100,000 (FANOUT_RULES overrides). The figures
 * are printed as a `fan-out:` line.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { SQSRecord } from 'aws-lambda';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { parseQueueMessage, type QueueMessage, type SliceMessage } from '../../functions/adapters/queue-message.js';
import { NoRunNotifier } from '../../functions/adapters/run-notifier.js';
import { SqsTaskQueue } from '../../functions/adapters/sqs-task-queue.js';
import { createCopierHandler, type CopierDeps } from '../../functions/handlers/copier.js';
import { createDlqRecorderHandler, noResultError } from '../../functions/handlers/dlq-recorder.js';
import { createPlannerHandler } from '../../functions/handlers/planner.js';
import { createSummaryHandler } from '../../functions/handlers/summary.js';
import type { PipelineQueue } from '../../functions/ports.js';
import { processCopyMessage } from '../../functions/tasks/copy-record.js';
import { SLICE_MAX_RULES } from '../../functions/tasks/plan-slices.js';
import { DEFAULT_REDELIVERY_BACKOFF } from '../../functions/tasks/retry-later.js';
import type { MigrationRule } from '../../shared/config/images-file.js';
import type { ImageCopy } from '../../shared/copy/image-copier.js';
import { ConfigError } from '../../shared/errors.js';
import type { CopyTask } from '../../shared/pipeline/task.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { silentLogger } from '../support/aws-fixture.js';
import { startAwsEmulators, type AwsEmulators } from '../support/aws-emulators.js';
import { imagesText, tagRuleLines } from '../support/large-images.js';
import { driveUntilDone, queueDepth, recordOf, type SqsHandler } from '../support/sqs-lambda-driver.js';
import { startTagListServer, type TagListServer } from '../support/tag-list-server.js';

const RULES = Number(process.env.FANOUT_RULES ?? 10_000);
/**
 * Time bounds asserted per invocation: a fifth of the planner's timeout (5 minutes) and a tenth of
 * the copier's (10 minutes), so that a test machine at load 50 still passes (at load 16 the planner
 * of 100,000 rules took 13 s and the slowest slice 11 s). The message bounds are exact.
 */
const PLANNER_BOUND_MS = 60_000;
const SLICE_BOUND_MS = 60_000;

/**
 * A PipelineQueue that counts what one invocation sends and keeps the slices; copy messages go to
 * `copies` when given (and their ids to `ids`), everything else to `inner`.
 */
class CountingQueue implements PipelineQueue {
  public sent = 0;
  public readonly slices: SliceMessage[] = [];

  public constructor(
    private readonly inner: PipelineQueue,
    private readonly copies: PipelineQueue = inner,
    private readonly ids?: Map<string, number>,
  ) {}

  public async enqueue(tasks: readonly CopyTask[]): Promise<void> {
    this.sent += tasks.length;
    await this.copies.enqueue(tasks);
    for (const task of tasks) this.ids?.set(task.taskId, (this.ids.get(task.taskId) ?? 0) + 1);
  }

  public async enqueueExpansions(
    runId: string,
    rules: readonly MigrationRule[],
    covered?: ReadonlyMap<number, readonly string[]>,
    options?: { readonly noState?: boolean },
  ): Promise<void> {
    this.sent += rules.length;
    await this.inner.enqueueExpansions(runId, rules, covered, options);
  }

  public async send(messages: readonly QueueMessage[]): Promise<void> {
    this.sent += messages.length;
    await this.inner.send(messages);
  }

  public async enqueueSlices(slices: readonly SliceMessage[]): Promise<void> {
    this.sent += slices.length;
    for (const slice of slices) this.slices.push(slice);
    await this.inner.enqueueSlices(slices);
  }
}

/** One invocation of the copier on a slice or expand message. */
interface Invocation {
  readonly type: string;
  readonly ms: number;
  readonly sent: number;
}

function typeOf(record: SQSRecord): string {
  return (JSON.parse(record.body) as { type?: string }).type ?? 'copy';
}

describe('planner fan-out: plan slices on the emulators', () => {
  let aws: AwsEmulators;
  let tags: TagListServer;
  let registry: RegistryClient;
  let store: DynamoResultStore;

  before(async () => {
    [aws, tags] = await Promise.all([startAwsEmulators(), startTagListServer()]);
    registry = new RegistryClient({ credentials: { lookup: () => ({ insecure: true }) } });
    store = new DynamoResultStore(aws.dynamo, await aws.createTable('fanout-runs'));
  });

  after(async () => {
    await registry?.close();
    await Promise.all([aws?.stop(), tags?.close()]);
  });

  /** The copier's deps over `queueUrl`, with a queue of the test's choosing. */
  function copierDeps(queueUrl: string, maxReceiveCount: number, notifier = new NoRunNotifier()): CopierDeps {
    return {
      store,
      notifier,
      logger: silentLogger,
      registry,
      queue: new SqsTaskQueue(aws.sqs, queueUrl),
      sqs: aws.sqs,
      queueUrl,
      maxReceiveCount,
    };
  }

  it(`plans ${RULES.toLocaleString('en-US')} rules in slices: every task enqueued, counts exact, each invocation bounded, a redelivered slice counted once`, async () => {
    const { queueUrl } = await aws.createQueues('fanout', { maxReceiveCount: 4, visibilityTimeoutSeconds: 300 });
    // Tag rules, with two all-tags rules in the middle: 2,000 tags (one also named by a tag rule,
    // so copied once) and the latest 100 of 3,000 versions below 2.
    const lines = tagRuleLines(RULES - 3);
    lines.splice(
      Math.floor(lines.length / 2),
      0,
      `  "${tags.host}/big/2000": "dst.example.com/copy/big"`,
      `  "${tags.host}/big/2000:t7": "dst.example.com/copy/big:t7"`,
      `  "${tags.host}/semver/3000": { "to": "dst.example.com/copy/semver", "tags": { "semver": "<2", "latest": 100 } }`,
    );
    const expectedTasks = RULES - 2 + 1999 + 100;
    const plannerQueue = new CountingQueue(new SqsTaskQueue(aws.sqs, queueUrl));
    const planner = createPlannerHandler({
      store,
      notifier: new NoRunNotifier(),
      logger: silentLogger,
      queue: plannerQueue,
      readRules: () => Promise.reject(new Error('no stored rules')),
    });
    // Gzipped, as `cloud run` sends an images.json of more than 1 MiB (100,000 rules are 7.8 MB, over Lambda's 6 MB).
    const imagesGzip = gzipSync(imagesText(lines)).toString('base64');
    const cpu = process.cpuUsage();
    const started = Date.now();
    const plan = await planner({ imagesGzip });
    const plannerMs = Date.now() - started;
    const plannerCpu = process.cpuUsage(cpu);
    const slices = plannerQueue.slices.length;
    assert.deepEqual(
      { tasks: plan.tasks, expanding: plan.expanding, slices: plan.slices, generateFailed: plan.generateFailed },
      { tasks: RULES - 2, expanding: 2, slices, generateFailed: 0 },
    );
    assert.ok(slices >= Math.ceil(RULES / SLICE_MAX_RULES), `${slices} slices`);
    assert.equal(plannerQueue.sent, slices, 'the planner sends the slices and nothing else');
    assert.ok(plannerMs < PLANNER_BOUND_MS, `the planner took ${plannerMs} ms`);

    // SQS delivers at least once: the first slice arrives a second time while it may be in flight.
    const first = plannerQueue.slices[0]!;
    await new SqsTaskQueue(aws.sqs, queueUrl).enqueueSlices([first]);

    const copies = new Map<string, number>();
    const invocations: Invocation[] = [];
    const deps = copierDeps(queueUrl, 4);
    const copiesUrl = (await aws.createQueues('fanout-copies', { maxReceiveCount: 4, visibilityTimeoutSeconds: 300 })).queueUrl;
    const copyQueue = new SqsTaskQueue(aws.sqs, copiesUrl);
    // Each slice or expand message is its own invocation (the stack's batch size is 1).
    const handler: SqsHandler = async (event, context) => {
      const batchItemFailures: { itemIdentifier: string }[] = [];
      for (const record of event.Records) {
        const type = typeOf(record);
        const queue = new CountingQueue(deps.queue, copyQueue, copies);
        const began = Date.now();
        const out = await createCopierHandler({ ...deps, queue })({ Records: [record] }, context);
        invocations.push({ type, ms: Date.now() - began, sent: queue.sent });
        for (const failure of out.batchItemFailures) batchItemFailures.push(failure);
      }
      return { batchItemFailures };
    };
    const driving = Date.now();
    await driveUntilDone({
      sqs: aws.sqs,
      main: { queueUrl, handler, batchSize: 10, workers: 8 },
      isDone: async () => (await store.getRunState(plan.runId))?.pendingExpansions === 0 && copies.size >= expectedTasks,
      timeoutMs: 600_000,
    });
    const drivenMs = Date.now() - driving;

    // The first slice once more, after it was done: nothing is sent and nothing counted again.
    const again = new CountingQueue(deps.queue, copyQueue, copies);
    const record = recordOf(
      { MessageId: 'again', ReceiptHandle: 'gone', Body: JSON.stringify(first), Attributes: { ApproximateReceiveCount: '2' } },
      queueUrl,
    );
    await createCopierHandler({ ...deps, queue: again })({ Records: [record] });
    assert.equal(again.sent, 0, 'a slice delivered after it was done sends nothing');

    const state = await store.getRunState(plan.runId);
    assert.deepEqual(
      { tasks: state?.taskCount, pending: state?.pendingExpansions, generateFailed: state?.generateFailed, finished: state?.finishedAt },
      { tasks: expectedTasks, pending: 0, generateFailed: 0, finished: undefined },
    );
    assert.equal(copies.size, expectedTasks, 'every task was enqueued');
    const enqueued = [...copies.values()].reduce((a, b) => a + b, 0);
    assert.equal(await queueDepth(aws.sqs, copiesUrl), enqueued, 'SQS holds every copy message sent');
    const sliceCalls = invocations.filter((i) => i.type === 'slice');
    const expandCalls = invocations.filter((i) => i.type === 'expand');
    assert.ok(
      sliceCalls.length >= slices && sliceCalls.length <= slices + 1,
      `${sliceCalls.length} slice invocations for ${slices} slices`,
    );
    assert.ok(expandCalls.length >= 2, `${expandCalls.length} expand invocations`);
    const slowest = Math.max(...sliceCalls.map((i) => i.ms));
    const most = Math.max(...sliceCalls.map((i) => i.sent));
    assert.ok(most <= SLICE_MAX_RULES, `a slice invocation sent ${most} messages`);
    assert.ok(slowest < SLICE_BOUND_MS, `a slice invocation took ${slowest} ms`);
    const duplicates = [...copies.values()].filter((n) => n > 1).length;
    const median = [...sliceCalls.map((i) => i.ms)].sort((a, b) => a - b)[Math.floor(sliceCalls.length / 2)];
    console.log(
      `fan-out: ${RULES} rules -> ${expectedTasks} tasks; planner ${plannerMs} ms wall, ${Math.round((plannerCpu.user + plannerCpu.system) / 1000)} ms CPU, ` +
        `${slices} slices; slice invocations median ${median} ms, slowest ${slowest} ms, at most ${most} messages; ` +
        `copiers sent every task in ${drivenMs} ms; ${duplicates} tasks enqueued twice (the duplicated slice)`,
    );
  });

  it('finishes a sliced run once, with a slice that reached the dead-letter queue recorded failed: copied + up to date + failed = tasks', async () => {
    const maxReceiveCount = 2;
    const { queueUrl, dlqUrl } = await aws.createQueues('fanout-end', { maxReceiveCount, visibilityTimeoutSeconds: 8 });
    const notifier = new NoRunNotifier();
    const queue = new CountingQueue(new SqsTaskQueue(aws.sqs, queueUrl));
    const planner = createPlannerHandler({
      store,
      notifier,
      logger: silentLogger,
      queue,
      readRules: () => Promise.reject(new Error('no stored rules')),
      sliceLimits: { rules: 100, bytes: 240 * 1024 },
    });
    // 450 tag rules (slices 1-5), then an all-tags rule of 40 tags and a tag rule it covers.
    const lines = tagRuleLines(450, tags.host, 'dst.example.com');
    lines.push(`  "${tags.host}/big/40": "dst.example.com/copy/big40"`, `  "${tags.host}/big/40:t3": "dst.example.com/copy/big40:t3"`);
    await assert.rejects(
      planner({ imagesGzip: 'bm90IGd6aXA=' }),
      (e: Error) =>
        e instanceof ConfigError && /^planner event: "imagesGzip": is not gzip data of at most 256 MiB in base64: /.test(e.message),
    );
    const plan = await planner({ images: imagesText(lines) });
    assert.deepEqual({ tasks: plan.tasks, expanding: plan.expanding, slices: plan.slices }, { tasks: 451, expanding: 1, slices: 5 });
    await new SqsTaskQueue(aws.sqs, queueUrl).enqueueSlices([queue.slices[0]!]);

    const deps = { ...copierDeps(queueUrl, maxReceiveCount, notifier), backoff: DEFAULT_REDELIVERY_BACKOFF };
    const copier = createCopierHandler(deps);
    const denied = 'team5/app5:v5';
    const stub: ImageCopy = {
      copy: async (task) => {
        if (task.source.endsWith(denied))
          throw Object.assign(new Error('denied: requested access to the resource is denied'), { retryable: false });
        return { outcome: 'up-to-date', digest: `sha256:${'0'.repeat(64)}`, bytes: 0 };
      },
    };
    // Slice 3 fails on every delivery, as with a copier that crashes on it: it reaches the dead-letter queue.
    const dies = (r: SQSRecord): boolean => r.body.includes('"slice":3,');
    const handler: SqsHandler = async (event, context) => {
      const copies = event.Records.filter((r) => typeOf(r) === 'copy');
      const others = event.Records.filter((r) => typeOf(r) !== 'copy' && !dies(r));
      const out = others.length === 0 ? { batchItemFailures: [] } : await copier({ Records: others }, context);
      for (const r of event.Records.filter(dies)) out.batchItemFailures.push({ itemIdentifier: r.messageId });
      await Promise.all(
        copies.map(async (record) => {
          const message = parseQueueMessage(record.body);
          if (message.type === 'copy') await processCopyMessage(deps, stub, message, record);
        }),
      );
      return out;
    };
    const stats = await driveUntilDone({
      sqs: aws.sqs,
      main: { queueUrl, handler, batchSize: 10, workers: 4 },
      dlq: {
        queueUrl: dlqUrl,
        handler: createDlqRecorderHandler({ store, notifier, logger: silentLogger, maxReceiveCount }),
        batchSize: 10,
        workers: 1,
      },
      isDone: async () => (await store.getRunState(plan.runId))?.finishedAt !== undefined,
      timeoutMs: 300_000,
    });
    assert.ok(stats.dlq.deliveries >= 1, 'slice 3 reached the dead-letter queue');

    const summary = await createSummaryHandler({ store })({ runId: plan.runId, failures: 1000 });
    assert.deepEqual(
      { tasks: summary.tasks, upToDate: summary.upToDate, failed: summary.failed, generateFailed: summary.generateFailed },
      { tasks: 490, upToDate: 389, failed: 101, generateFailed: 0 },
    );
    assert.equal(summary.line, 'Images(490) migration finished, 101 images tasks failed, 0 tasks generate failed');
    const errors = new Map<string, number>();
    for (const failure of summary.failures) errors.set(failure.error, (errors.get(failure.error) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(errors), {
      [noResultError(maxReceiveCount)]: 100,
      'denied: requested access to the resource is denied': 1,
    });
    assert.equal(notifier.sent.filter((d) => d.runId === plan.runId).length, 1, 'one run-finished event');
  });
});
