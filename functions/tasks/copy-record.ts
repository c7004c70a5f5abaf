/**
 * One copy message: copy the tag with the shared copier, record the result, retry through SQS.
 * - retryable failure before the last allowed delivery: backoff via the message's visibility, and
 *   the record is reported failed so SQS delivers it again;
 * - retryable failure on the last allowed delivery, or a failure no retry can fix: the task is
 *   recorded failed now and the record succeeds, so it is not moved to the dead-letter queue;
 * - a copy that reached the invocation's deadline and handed its work over (its uploads stopped at a
 *   chunk boundary with their sessions recorded in the blob claims, or it was waiting for another
 *   copier's upload): the task is sent again as a new message carrying what this invocation did, and
 *   the record succeeds. The next delivery goes on with the recorded sessions; no SQS delivery, hence
 *   no retry, is spent on it, and the task is recorded once, by the invocation that finishes it. A
 *   copy stopped without handing over (a session that could not be recorded) is retried as usual.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { CopySuspendedError, type Deadline } from '../../shared/copy/deadline.js';
import type { ImageCopy } from '../../shared/copy/image-copier.js';
import { isRetryable } from '../../shared/registry/retry.js';
import { attemptTask, failedResult, RetryTally, type AttemptOutcome } from '../../shared/pipeline/copy-task.js';
import type { TaskResult } from '../../shared/pipeline/task.js';
import { taskOf, type CopyMessage, type HandedOn } from '../adapters/queue-message.js';
import type { RunMetrics } from '../adapters/run-metrics.js';
import type { PipelineQueue } from '../ports.js';
import { receiveCountOf, scheduleRedelivery, type RedeliveryBackoff } from './retry-later.js';
import { finishRunIfComplete, type CompletionDeps } from '../runs/run-completion.js';

/** What a copy needs besides the copier of the invocation. */
export interface CopyRecordDeps extends CompletionDeps {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** Where a task that outlasts its invocation is sent again. */
  readonly queue: PipelineQueue;
  readonly maxReceiveCount: number;
  readonly backoff: RedeliveryBackoff;
  /** Fleet metrics (EMF); none in tests that do not look at them. */
  readonly metrics?: RunMetrics;
}

/**
 * Copies and records one task; throws RetryLaterError when SQS should deliver it again. With a
 * `deadline` (the invocation's), a copy that reaches it goes on in the next delivery.
 */
export async function processCopyMessage(
  deps: CopyRecordDeps,
  copier: ImageCopy,
  message: CopyMessage,
  record: SQSRecord,
  deadline?: Deadline,
): Promise<void> {
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
  const tally = new RetryTally();
  let moved = 0;
  const outcome = await attemptTask(copier, task, attempt, {
    countRequests: true,
    tally,
    deadline,
    onProgress: (bytes) => (moved += bytes),
  });
  const before = message.handedOn;
  let result: TaskResult;
  if (!outcome.ok && outcome.error instanceof CopySuspendedError && outcome.error.handedOver) {
    const next = handedOn(before, outcome, moved, tally);
    await deps.queue.send([{ ...message, handedOn: next }]);
    deps.store.meter.sqs(task.runId, 1);
    const stopped = outcome.error.upload;
    deps.logger.info('task goes on in the next invocation', {
      ...log,
      invocation: next.invocations,
      blob: stopped.digest,
      registry: stopped.registry,
      offset: stopped.offset,
      size: stopped.size,
      bytes: moved,
    });
    return;
  }
  if (outcome.ok) {
    result = withEarlierInvocations(outcome.result, before);
  } else if (isRetryable(outcome.error) && attempt < deps.maxReceiveCount) {
    const retry = await scheduleRedelivery(deps.sqs, deps.queueUrl, record, outcome.error, deps.backoff);
    deps.store.meter.sqs(task.runId, 1);
    deps.metrics?.taskRetried(task.runId);
    deps.logger.warn('task will be retried', { ...log, retryInSeconds: retry.delaySeconds, error: retry.message });
    throw retry;
  } else {
    const failed = failedResult(task, outcome.error, attempt, outcome.durationMs, outcome.requests, tally);
    result = withEarlierInvocations(failed, before);
  }
  const counted = await deps.store.recordResult(task.runId, result);
  if (counted) deps.metrics?.taskRecorded(task.runId, result);
  deps.logger.info(counted ? 'task recorded' : 'task result was already recorded', {
    ...log,
    outcome: result.outcome,
    digest: result.digest,
    bytes: result.bytes,
    error: result.error,
  });
  await finishRunIfComplete(deps, task.runId);
}

/** What this invocation adds to what earlier ones handed on. */
function handedOn(before: HandedOn | undefined, outcome: AttemptOutcome, moved: number, tally: RetryTally): HandedOn {
  const durationMs = outcome.ok ? outcome.result.durationMs : outcome.durationMs;
  const requests = (outcome.ok ? outcome.result.requests : outcome.requests) ?? 0;
  const retried = sumCounts(before?.retried, tally.counts);
  return {
    invocations: (before?.invocations ?? 0) + 1,
    bytes: (before?.bytes ?? 0) + moved,
    requests: (before?.requests ?? 0) + requests,
    durationMs: (before?.durationMs ?? 0) + durationMs,
    ...(retried === undefined ? {} : { retried }),
  };
}

/** The result of the invocation that ends a task, with what earlier invocations did for it. */
function withEarlierInvocations(result: TaskResult, before: HandedOn | undefined): TaskResult {
  if (before === undefined) return result;
  const retried = sumCounts(before.retried, result.retried);
  return {
    ...result,
    bytes: result.bytes + (result.outcome === 'failed' ? 0 : before.bytes),
    durationMs: result.durationMs + before.durationMs,
    requests: (result.requests ?? 0) + before.requests,
    ...(retried === undefined ? {} : { retried }),
  };
}

function sumCounts(
  a: Readonly<Record<string, number>> | undefined,
  b: Readonly<Record<string, number>> | undefined,
): Record<string, number> | undefined {
  if (a === undefined && b === undefined) return undefined;
  const sum: Record<string, number> = { ...a };
  for (const [kind, n] of Object.entries(b ?? {})) sum[kind] = (sum[kind] ?? 0) + n;
  return sum;
}
