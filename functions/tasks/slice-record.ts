/**
 * One plan slice (see plan-slices.ts): send a copy message per tag rule and an expand message per
 * all-tags rule of the slice, then mark the slice done. The planner counted the slice's tasks and
 * rules in the run item before sending it, and the slice among the run's pending expansions, so the
 * run cannot look finished while a slice is still being sent; a redelivered slice finds its mark and
 * sends nothing (one sent twice at once sends its messages twice, which still count once: tasks and
 * expansions are recorded under stable ids).
 *
 * Messages SQS will not take are retried through SQS (the slice comes back after a backoff); on the
 * last allowed delivery they are recorded as failed instead, and the slice is done.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { sliceKey } from '../adapters/dynamo-items.js';
import type { SliceMessage } from '../adapters/queue-message.js';
import { EnqueueError } from '../adapters/sqs-task-queue.js';
import type { PipelineQueue, RunTable } from '../ports.js';
import { recordAbandoned } from '../runs/abandon-message.js';
import { finishRunIfComplete, type CompletionDeps } from '../runs/run-completion.js';
import { sliceContents } from './plan-slices.js';
import { receiveCountOf, scheduleRedelivery, type RedeliveryBackoff } from './retry-later.js';

/** What sending a slice needs. */
export interface SliceSendDeps {
  readonly store: RunTable;
  readonly queue: PipelineQueue;
  readonly logger: Logger;
}

/** What a slice delivered by SQS needs. */
export interface SliceRecordDeps extends SliceSendDeps, CompletionDeps {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly maxReceiveCount: number;
  readonly backoff: RedeliveryBackoff;
}

/** Messages a slice sent. */
export interface SliceSent {
  readonly tasks: number;
  readonly expansions: number;
}

/**
 * Sends the slice's messages and marks it done; undefined when it was already done. Throws
 * EnqueueError naming every message SQS did not take (the slice is then not marked).
 */
export async function sendSlice(deps: SliceSendDeps, message: SliceMessage): Promise<SliceSent | undefined> {
  const { runId } = message;
  if (await deps.store.isExpansionDone(runId, sliceKey(message.slice))) return undefined;
  const { tasks, expansions, coveredTags } = sliceContents(message);
  const noState = message.noState === true;
  const sent = await Promise.allSettled([
    deps.queue.enqueue(noState ? tasks.map((task) => ({ ...task, noState })) : tasks),
    deps.queue.enqueueExpansions(runId, expansions, coveredTags, { noState }),
  ]);
  const errors = sent.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (errors.length > 0) {
    const unsent = errors.flatMap((e) => (e instanceof EnqueueError ? e.unsent : []));
    throw new EnqueueError(unsent, errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; '), { cause: errors[0] });
  }
  deps.store.meter.sqs(runId, Math.ceil(tasks.length / 10) + Math.ceil(expansions.length / 10));
  await deps.store.completeExpansion(runId, sliceKey(message.slice), 0);
  return { tasks: tasks.length, expansions: expansions.length };
}

/**
 * Records the messages of a slice that never reached the queue as failed, and the slice as done, so
 * that the run still finishes with every task counted.
 */
export async function abandonUnsent(deps: SliceSendDeps, message: SliceMessage, error: EnqueueError, attempts: number): Promise<void> {
  const why = { error: error.message, attempts };
  for (const unsent of error.unsent) await recordAbandoned(deps.store, unsent, why);
  await deps.store.completeExpansion(message.runId, sliceKey(message.slice), 0);
  deps.logger.error('messages could not be enqueued and were recorded as failed', {
    runId: message.runId,
    slice: message.slice,
    count: error.unsent.length,
    error: error.message,
  });
}

/** Sends one slice delivered by SQS; throws RetryLaterError when SQS should deliver it again. */
export async function processSliceMessage(deps: SliceRecordDeps, message: SliceMessage, record: SQSRecord): Promise<void> {
  const { runId } = message;
  const attempt = receiveCountOf(record);
  const log = { runId, slice: message.slice, rules: message.rules.length, attempt };
  let sent: SliceSent | undefined;
  try {
    sent = await sendSlice(deps, message);
  } catch (error) {
    if (!(error instanceof EnqueueError)) throw error;
    if (attempt < deps.maxReceiveCount) {
      const retry = await scheduleRedelivery(deps.sqs, deps.queueUrl, record, error, deps.backoff);
      deps.store.meter.sqs(runId, 1);
      deps.logger.warn('plan slice will be sent again', { ...log, retryInSeconds: retry.delaySeconds, error: retry.message });
      throw retry;
    }
    await abandonUnsent(deps, message, error, attempt);
    await finishRunIfComplete(deps, runId);
    return;
  }
  if (sent === undefined) deps.logger.info('plan slice already sent', log);
  else deps.logger.info('plan slice sent', { ...log, ...sent });
  await finishRunIfComplete(deps, runId);
}
