/**
 * One copy message: copy the tag with the shared copier, record the result, retry through SQS.
 * - retryable failure before the last allowed delivery: backoff via the message's visibility, and
 *   the record is reported failed so SQS delivers it again;
 * - retryable failure on the last allowed delivery, or a failure no retry can fix: the task is
 *   recorded failed now and the record succeeds, so it is not moved to the dead-letter queue.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import type { ImageCopy } from '../../shared/copy/image-copier.js';
import { isRetryable } from '../../shared/registry/retry.js';
import { attemptTask, failedResult } from '../../shared/pipeline/copy-task.js';
import type { TaskResult } from '../../shared/pipeline/task.js';
import { taskOf, type CopyMessage } from '../adapters/queue-message.js';
import type { RunMetrics } from '../adapters/run-metrics.js';
import { receiveCountOf, scheduleRedelivery, type RedeliveryBackoff } from './retry-later.js';
import { finishRunIfComplete, type CompletionDeps } from '../runs/run-completion.js';

/** What a copy needs besides the copier of the invocation. */
export interface CopyRecordDeps extends CompletionDeps {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly maxReceiveCount: number;
  readonly backoff: RedeliveryBackoff;
  /** Fleet metrics (EMF); none in tests that do not look at them. */
  readonly metrics?: RunMetrics;
}

/** Copies and records one task; throws RetryLaterError when SQS should deliver it again. */
export async function processCopyMessage(deps: CopyRecordDeps, copier: ImageCopy, message: CopyMessage, record: SQSRecord): Promise<void> {
  const task = taskOf(message);
  const attempt = receiveCountOf(record);
  const log = { runId: task.runId, taskId: task.taskId, source: task.source, destination: task.destination, attempt };
  // A redelivery of a task that already has its result (the delete after success was lost) need
  // not touch the registries again.
  if (await deps.store.hasResult(task.runId, task.taskId)) {
    deps.logger.info('task already recorded', log);
    await finishRunIfComplete(deps, task.runId);
    return;
  }
  const outcome = await attemptTask(copier, task, attempt, { countRequests: true });
  let result: TaskResult;
  if (outcome.ok) {
    result = outcome.result;
  } else if (isRetryable(outcome.error) && attempt < deps.maxReceiveCount) {
    const retry = await scheduleRedelivery(deps.sqs, deps.queueUrl, record, outcome.error, deps.backoff);
    deps.store.meter.sqs(task.runId, 1);
    deps.metrics?.taskRetried(task.runId);
    deps.logger.warn('task will be retried', { ...log, retryInSeconds: retry.delaySeconds, error: retry.message });
    throw retry;
  } else {
    result = failedResult(task, outcome.error, attempt, outcome.durationMs, outcome.requests);
  }
  const counted = await deps.store.recordResult(task.runId, result);
  if (counted) deps.metrics?.taskRecorded(task.runId, result);
  deps.logger.info(counted ? 'task recorded' : 'task result was already recorded', {
    ...log,
    outcome: result.outcome,
    digest: result.digest,
    bytes: result.bytes,
    error: result.error,
    ...(result.leftOut === undefined ? {} : { leftOut: result.leftOut }),
  });
  await finishRunIfComplete(deps, task.runId);
}
