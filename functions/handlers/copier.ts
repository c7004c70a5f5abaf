/**
 * The copier function: the SQS event source delivers batches of copy, expand and plan-slice messages; each
 * record is handled on its own and failures are reported per item (partial batch response), so one
 * bad image never makes SQS redeliver the images that were copied.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { BlobCoordinator } from '../../shared/copy/blob-coordinator.js';
import { DestinationTags } from '../../shared/copy/destination-tags.js';
import type { Deadline } from '../../shared/copy/deadline.js';
import { ImageCopier, type ImageCopierOptions, type ImageCopy } from '../../shared/copy/image-copier.js';
import { StateSnapshot } from '../../shared/state/state-snapshot.js';
import { CredentialChain } from '../../shared/credential-sources/credential-chain.js';
import { EcrAccess } from '../../shared/credential-sources/ecr-access.js';
import { authFileSource } from '../../shared/credential-sources/login-sources.js';
import { ConfigError } from '../../shared/errors.js';
import { countRequest } from '../../shared/pipeline/request-count.js';
import { RegistryClient } from '../../shared/registry/client.js';
import type { Registry } from '../../shared/registry/types.js';
import { RunNotFoundError } from '../adapters/dynamo-result-store.js';
import { MessageType, messageOrDrop } from '../adapters/queue-message.js';
import { EmfRunMetrics, type RunMetrics } from '../adapters/run-metrics.js';
import { powertoolsSecretReader, SECRET_FILE_NAME, SecretCredentials } from '../adapters/secret-credentials.js';
import type { CopyStateTable, PipelineQueue } from '../ports.js';
import {
  blobClaimsFromEnv,
  copyStateFromEnv,
  createLogger,
  maxReceiveCountFromEnv,
  notifierFromEnv,
  queueFromEnv,
  storeFromEnv,
} from '../adapters/aws-deps.js';
import { processCopyMessage, type CopyHints } from '../tasks/copy-record.js';
import { optionalEnv, lazy } from '../adapters/env.js';
import { HINT_CONCURRENCY, processExpandMessage } from '../tasks/expand-record.js';
import { invocationDeadline } from '../tasks/invocation-deadline.js';
import { processSliceMessage } from '../tasks/slice-record.js';
import { DEFAULT_REDELIVERY_BACKOFF, type RedeliveryBackoff } from '../tasks/retry-later.js';
import type { CompletionDeps } from '../runs/run-completion.js';

/** Everything the copier uses; `copierDepsFromEnv` builds it from the stack's environment. */
export interface CopierDeps extends CompletionDeps {
  readonly registry: Registry;
  readonly queue: PipelineQueue;
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** retries + 1: the delivery on which a retryable failure is recorded instead of retried. */
  readonly maxReceiveCount: number;
  /** Reloads registry credentials before a batch (cached between batches). */
  readonly credentials?: { refresh(): Promise<void> };
  readonly backoff?: RedeliveryBackoff;
  readonly copierOptions?: ImageCopierOptions;
  readonly metrics?: RunMetrics;
  /** Copiers of other invocations uploading the same blobs (the table's blob claims). */
  readonly coordinator?: BlobCoordinator;
  /** The run state in the table (see dynamo-copy-state.ts); absent when the stack turns it off. */
  readonly copyState?: CopyStateTable;
  /** The deadline of an invocation's copy (default: Lambda's remaining time less a margin, see invocation-deadline.ts). */
  readonly deadline?: (context: Context | undefined) => Deadline | undefined;
}

/** The Lambda handler over `deps`. */
export function createCopierHandler(deps: CopierDeps): (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse> {
  const recordDeps = { ...deps, backoff: deps.backoff ?? DEFAULT_REDELIVERY_BACKOFF };
  return async (event, context) => {
    // Taken at the start: a copy that would outlast the invocation stops in time and goes on in the next.
    const deadline = (deps.deadline ?? invocationDeadline)(context);
    let credentialProblem: ConfigError | undefined;
    try {
      await deps.credentials?.refresh();
    } catch (error) {
      // A secret that is not a valid auth.json fails every task the same way: say so on each task
      // rather than letting the batch bounce to the dead-letter queue. Other errors (throttling,
      // network) throw, and SQS delivers the batch again.
      if (!(error instanceof ConfigError)) throw error;
      credentialProblem = error;
    }
    // One copier per invocation: its blob tracker remembers what this batch pushed, and must not
    // outlive it in a warm container (a destination may change between runs). The registry client
    // is shared, so connections and tokens are reused.
    // The state's records and the destination listings are the invocation's too, like the tracker.
    const hints: CopyHints | undefined =
      deps.copyState === undefined
        ? undefined
        : { table: deps.copyState, snapshot: new StateSnapshot(), destinationTags: new DestinationTags(deps.registry) };
    const copier = new ImageCopier(deps.registry, {
      ...deps.copierOptions,
      ...(deps.coordinator === undefined ? {} : { coordinator: deps.coordinator }),
      ...(hints === undefined ? {} : { state: hints.snapshot, destinationTags: hints.destinationTags }),
    });
    const handleRecord = async (record: SQSRecord): Promise<void> => {
      const message = messageOrDrop(record, deps.logger, 'message');
      if (message === undefined) return;
      try {
        if (message.type === MessageType.Expand) await processExpandMessage(recordDeps, message, record);
        else if (message.type === MessageType.Slice) await processSliceMessage(recordDeps, message, record);
        else
          await processCopyMessage(
            recordDeps,
            credentialProblem === undefined ? copier : failingCopier(credentialProblem),
            message,
            record,
            hints,
            deadline,
          );
      } catch (error) {
        // No run item (expired, or a message sent by hand): no delivery can ever be recorded, so
        // retrying would only end in the dead-letter queue, where it could not be recorded either.
        if (!(error instanceof RunNotFoundError)) throw error;
        deps.logger.error('dropped a message of an unknown run', { messageId: record.messageId, runId: message.runId });
      }
    };
    const started = Date.now();
    try {
      return await processPartialResponse(event, handleRecord, new BatchProcessor(EventType.SQS), {
        ...(context === undefined ? {} : { context }),
        throwOnFullBatchFailure: false,
      });
    } finally {
      await recordUsage(deps, event, Date.now() - started, Number(context?.memoryLimitInMB ?? 0));
    }
  };
}

/**
 * The invocation's share of each run's cost: its time at its memory size, and the event source's
 * receive and delete of the batch (two queue requests), split over the runs by their records.
 * Failing to write it loses a cost estimate, never a result.
 */
async function recordUsage(deps: CopierDeps, event: SQSEvent, ms: number, memoryMb: number): Promise<void> {
  const records = event.Records.length;
  if (records === 0) return;
  const perRun = new Map<string, number>();
  for (const record of event.Records) {
    const runId = runIdOf(record.body);
    if (runId !== undefined) perRun.set(runId, (perRun.get(runId) ?? 0) + 1);
  }
  for (const [runId, count] of perRun) {
    deps.store.meter.invocation(runId, ms, memoryMb, count / records);
    deps.store.meter.sqs(runId, (2 * count) / records);
  }
  try {
    await deps.store.flushUsage();
  } catch (error) {
    deps.logger.warn('run usage not recorded', { error: error as Error });
  }
}

function runIdOf(body: string): string | undefined {
  try {
    const runId = (JSON.parse(body) as { runId?: unknown }).runId;
    return typeof runId === 'string' && runId.length > 0 ? runId : undefined;
  } catch {
    return undefined;
  }
}

/** A copier that fails every task with the credential problem (non-retryable). */
function failingCopier(problem: ConfigError): ImageCopy {
  return { copy: () => Promise.reject(problem) };
}

/** The copier's dependencies from the stack's environment variables. */
export function copierDepsFromEnv(): CopierDeps {
  const { sqs, queueUrl, queue } = queueFromEnv();
  const secretArn = optionalEnv('AUTH_SECRET_ARN');
  const credentials = new SecretCredentials(secretArn === undefined ? undefined : powertoolsSecretReader(secretArn));
  const logger = createLogger();
  const store = storeFromEnv(logger);
  const copyState = copyStateFromEnv(store.meter, logger);
  return {
    store,
    coordinator: blobClaimsFromEnv(logger),
    ...(copyState === undefined ? {} : { copyState }),
    metrics: new EmfRunMetrics(),
    notifier: notifierFromEnv(),
    logger,
    // One client per container: keep-alive connections and bearer tokens outlive the invocation.
    // ECR registries named in the secret without a login, and ECR hosts, get the role's IAM logins.
    registry: new RegistryClient({
      credentials: new CredentialChain({ sources: [authFileSource(credentials, SECRET_FILE_NAME)], ecr: new EcrAccess() }),
      onRequest: countRequest,
      // An expansion's hint checks run HINT_CONCURRENCY at once; fewer when a registry throttles them.
      maxConcurrency: HINT_CONCURRENCY,
    }),
    queue,
    sqs,
    queueUrl,
    maxReceiveCount: maxReceiveCountFromEnv(),
    credentials,
  };
}

const deps = lazy(copierDepsFromEnv);
const built = lazy(() => createCopierHandler(deps()));

/** The Lambda entry point. */
export const handler = (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => built()(event, context);
