/**
 * One expand message: list the tags of an all-tags rule and enqueue a copy message per tag.
 *
 * Why the listing runs here and not in the planner: a registry may take seconds per listing (token
 * exchange, `Link` pagination over thousands of tags), so a planner that listed 1,000 rules itself
 * would approach the Lambda time limit. The planner sends one expand message per such rule instead;
 * listings then run in parallel across copier instances, with the queue's retries and DLQ.
 *
 * The tasks are enqueued before the run's task count grows, in one transaction with the
 * decrement of `pendingExpansions`: the run cannot look finished while tags are still being
 * enqueued, and a redelivered expand message adds its count once (copy tasks have stable ids, so
 * enqueuing them twice still records each once).
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { isRetryable } from '../../shared/registry/retry.js';
import { errorMessage } from '../../shared/pipeline/error-message.js';
import { parseReference } from '../../shared/reference.js';
import { expandRule } from '../../shared/pipeline/planner.js';
import type { Registry } from '../../shared/registry/types.js';
import type { ExpandMessage } from '../adapters/queue-message.js';
import type { PipelineQueue } from '../ports.js';
import { receiveCountOf, scheduleRedelivery, type RedeliveryBackoff } from './retry-later.js';
import { finishRunIfComplete, type CompletionDeps } from '../runs/run-completion.js';

/** What an expansion needs. */
export interface ExpandRecordDeps extends CompletionDeps {
  readonly registry: Registry;
  readonly queue: PipelineQueue;
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly maxReceiveCount: number;
  readonly backoff: RedeliveryBackoff;
}

/** Lists, enqueues and counts one rule's tags; throws RetryLaterError when SQS should deliver it again. */
export async function processExpandMessage(deps: ExpandRecordDeps, message: ExpandMessage, record: SQSRecord): Promise<void> {
  const { runId, rule } = message;
  const attempt = receiveCountOf(record);
  const log = { runId, rule: rule.index, source: rule.key, attempt };
  if (await deps.store.isExpansionDone(runId, rule.index)) {
    deps.logger.info('rule already expanded', log);
    await finishRunIfComplete(deps, runId);
    return;
  }
  let tasks;
  try {
    const skip = new Set(message.skipTags ?? []);
    tasks = (await expandRule(rule, deps.registry, runId)).filter((t) => !skip.has(parseReference(t.source).tag ?? ''));
  } catch (error) {
    if (isRetryable(error) && attempt < deps.maxReceiveCount) {
      const retry = await scheduleRedelivery(deps.sqs, deps.queueUrl, record, error, deps.backoff);
      deps.store.meter.sqs(runId, 1);
      deps.logger.warn('tag listing will be retried', { ...log, retryInSeconds: retry.delaySeconds, error: retry.message });
      throw retry;
    }
    const failure = { source: rule.key, destination: rule.value, error: errorMessage(error) };
    await deps.store.failExpansion(runId, rule.index, failure);
    deps.logger.warn('tags could not be listed', { ...log, error: failure.error });
    await finishRunIfComplete(deps, runId);
    return;
  }
  await deps.queue.enqueue(tasks);
  deps.store.meter.sqs(runId, Math.ceil(tasks.length / 10));
  await deps.store.completeExpansion(runId, rule.index, tasks.length);
  deps.logger.info('rule expanded', { ...log, tasks: tasks.length });
  await finishRunIfComplete(deps, runId);
}
