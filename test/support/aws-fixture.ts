/**
 * The AWS side of the pipeline wired for a test, once for every aws-*.test.ts: a silent logger, a
 * registry client whose credentials are an auth.json read the way the copier reads its secret, and
 * a work queue with its dead-letter queue and the planner, copier, dead-letter recorder and summary
 * handlers over the emulated SQS and DynamoDB.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import type { RulesReader } from '../../functions/adapters/rules-parameter.js';
import { NoRunNotifier, type RunFinishedDetail, type RunNotifier } from '../../functions/adapters/run-notifier.js';
import { SecretCredentials } from '../../functions/adapters/secret-credentials.js';
import { SqsTaskQueue } from '../../functions/adapters/sqs-task-queue.js';
import { createCopierHandler } from '../../functions/handlers/copier.js';
import { createDlqRecorderHandler } from '../../functions/handlers/dlq-recorder.js';
import { createPlannerHandler } from '../../functions/handlers/planner.js';
import { createSummaryHandler } from '../../functions/handlers/summary.js';
import type { CopyStateTable } from '../../functions/ports.js';
import type { RedeliveryBackoff } from '../../functions/tasks/retry-later.js';
import { RegistryClient, type RegistryClientOptions } from '../../shared/registry/client.js';
import type { AwsEmulators } from './aws-emulators.js';

/** A notifier that keeps every run-finished event, to count them. */
export class CountingNotifier implements RunNotifier {
  public readonly finished: RunFinishedDetail[] = [];
  public async runFinished(detail: RunFinishedDetail): Promise<void> {
    this.finished.push(detail);
  }
}

/** The functions' logger, silenced. */
export const silentLogger = new Logger({ logLevel: 'SILENT' });

/** A registry client over `auth` (an auth.json document), as the copier builds it from its secret. */
export async function secretBackedRegistry(
  auth: Record<string, unknown>,
  options: Omit<RegistryClientOptions, 'credentials'> = {},
): Promise<RegistryClient> {
  const text = JSON.stringify(auth);
  const credentials = new SecretCredentials(async () => text);
  await credentials.refresh();
  return new RegistryClient({ ...options, credentials });
}

/** How the test's queues and copier behave. */
export interface TestPipelineOptions {
  /** Deliveries before SQS moves a message to the dead-letter queue (retries + 1). */
  readonly maxReceiveCount: number;
  readonly visibilityTimeoutSeconds: number;
  readonly backoff?: RedeliveryBackoff;
  /** Stored rules for `rulesParameter` events; none by default. */
  readonly readRules?: RulesReader;
  /** The run state the copier reads and writes (the table's, as the stack's default); none by default. */
  readonly copyState?: CopyStateTable;
}

/** Queues and handlers of one test. */
export interface TestPipeline {
  readonly queueUrl: string;
  readonly dlqUrl: string;
  readonly queue: SqsTaskQueue;
  readonly notifier: NoRunNotifier;
  readonly planner: ReturnType<typeof createPlannerHandler>;
  readonly copier: ReturnType<typeof createCopierHandler>;
  readonly recorder: ReturnType<typeof createDlqRecorderHandler>;
  readonly summary: ReturnType<typeof createSummaryHandler>;
  /** For the driver's `isDone`: the run has finished. */
  readonly finished: (runId: string) => () => Promise<boolean>;
}

/** Creates the queues `name` and `name`-dlq and the handlers over them, `store` and `registry`. */
export async function testPipeline(
  aws: AwsEmulators,
  store: DynamoResultStore,
  registry: RegistryClient,
  name: string,
  options: TestPipelineOptions,
): Promise<TestPipeline> {
  const { maxReceiveCount } = options;
  const { queueUrl, dlqUrl } = await aws.createQueues(name, {
    maxReceiveCount,
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
  });
  const notifier = new NoRunNotifier();
  const common = { store, notifier, logger: silentLogger };
  const queue = new SqsTaskQueue(aws.sqs, queueUrl);
  const readRules = options.readRules ?? (() => Promise.reject(new Error('no stored rules')));
  return {
    queueUrl,
    dlqUrl,
    queue,
    notifier,
    planner: createPlannerHandler({ ...common, queue, readRules }),
    copier: createCopierHandler({
      ...common,
      registry,
      queue,
      sqs: aws.sqs,
      queueUrl,
      maxReceiveCount,
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.copyState ? { copyState: options.copyState } : {}),
    }),
    recorder: createDlqRecorderHandler({ ...common, maxReceiveCount }),
    summary: createSummaryHandler({ store }),
    finished: (runId) => async () => (await store.getRunState(runId))?.finishedAt !== undefined,
  };
}
