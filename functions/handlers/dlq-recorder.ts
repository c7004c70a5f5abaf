/**
 * The dead-letter recorder: a message reaches the DLQ only when no delivery ended with a recorded
 * result (the copier crashed, timed out, or ran out of memory on every try). Each is recorded as
 * failed here (abandon-message.ts: a task, a rule, or a plan slice's every task and rule), unless it
 * already has a result, so that succeeded + failed always equals the task count and the run can finish.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { RunNotFoundError } from '../adapters/dynamo-result-store.js';
import { MessageType, messageOrDrop } from '../adapters/queue-message.js';
import { createLogger, maxReceiveCountFromEnv, notifierFromEnv, storeFromEnv } from '../adapters/aws-deps.js';
import { lazy } from '../adapters/env.js';
import { recordAbandoned } from '../runs/abandon-message.js';
import { finishRunIfComplete, type CompletionDeps } from '../runs/run-completion.js';

/** The log line of a dead letter: counted now, or counted before. */
const LOG: Record<MessageType, readonly [string, string]> = {
  [MessageType.Copy]: ['task recorded as failed', 'task already had a result'],
  [MessageType.Expand]: ['rule recorded as generate failed', 'rule already had a result'],
  [MessageType.Slice]: ["plan slice's tasks and rules recorded as failed", 'plan slice already had its results'],
};

/** What the recorder uses. */
export interface DlqRecorderDeps extends CompletionDeps {
  /** Deliveries the work queue allowed before redriving (retries + 1). */
  readonly maxReceiveCount: number;
}

/** The error text of a task that died without a result. */
export function noResultError(attempts: number): string {
  return `no result after ${attempts} attempts (the copier failed, timed out or crashed on every delivery)`;
}

/** The Lambda handler over `deps`. */
export function createDlqRecorderHandler(deps: DlqRecorderDeps): (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse> {
  const error = noResultError(deps.maxReceiveCount);
  const handleRecord = async (record: SQSRecord): Promise<void> => {
    const message = messageOrDrop(record, deps.logger, 'dead letter');
    if (message === undefined) return;
    try {
      const counted = await recordAbandoned(deps.store, message, { error, attempts: deps.maxReceiveCount });
      deps.logger.warn(LOG[message.type][counted ? 0 : 1], {
        runId: message.runId,
        ...(message.type === MessageType.Copy
          ? { taskId: message.taskId }
          : message.type === MessageType.Expand
            ? { rule: message.rule.index }
            : { slice: message.slice }),
      });
    } catch (e) {
      // Nothing to count it in: failing the record would keep it in this queue, redelivered to the
      // end of its retention, with the depth alarm raised for a run that no longer exists.
      if (!(e instanceof RunNotFoundError)) throw e;
      deps.logger.error('dropped a dead letter of an unknown run', { messageId: record.messageId, runId: message.runId });
      return;
    }
    await finishRunIfComplete(deps, message.runId);
  };
  return (event, context) =>
    processPartialResponse(event, handleRecord, new BatchProcessor(EventType.SQS), {
      ...(context === undefined ? {} : { context }),
      throwOnFullBatchFailure: false,
    });
}

const built = lazy(() =>
  createDlqRecorderHandler({
    store: storeFromEnv(),
    notifier: notifierFromEnv(),
    logger: createLogger(),
    maxReceiveCount: maxReceiveCountFromEnv(),
  }),
);

/** The Lambda entry point. */
export const handler = (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => built()(event, context);
