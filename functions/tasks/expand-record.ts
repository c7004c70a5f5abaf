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
 *
 * With the run state in the table (or an immutable rule), the expansion also lists the destination's
 * tags once and asks the shared hint check about every tag (one source HEAD each, or none for an
 * immutable tag): a tag it finds up to date is recorded here, in a few batched writes, and only the
 * others become copy messages. A warm mirror run of N unchanged tags in R repositories thus costs
 * N + 2R registry requests and no copy message at all.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { isRedeliverable } from '../../shared/registry/retry.js';
import { errorMessage } from '../../shared/pipeline/error-message.js';
import { parseReference } from '../../shared/reference.js';
import { expandRule } from '../../shared/pipeline/planner.js';
import { DestinationTags } from '../../shared/copy/destination-tags.js';
import { ImageCopier } from '../../shared/copy/image-copier.js';
import { mapLimit } from '../../shared/copy/limit.js';
import { settleByHints, taskToCopy } from '../../shared/pipeline/hint-check.js';
import type { CopyTask, TaskResult } from '../../shared/pipeline/task.js';
import type { StateSnapshot } from '../../shared/state/state-snapshot.js';
import type { MigrationRule } from '../../shared/config/images-file.js';
import type { Registry } from '../../shared/registry/types.js';
import type { ExpandMessage } from '../adapters/queue-message.js';
import type { CopyStateTable, PipelineQueue } from '../ports.js';
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
  /** The run state in the table; absent when the stack turns it off (`runState: false`). */
  readonly copyState?: CopyStateTable;
}

/** Hint checks (source HEADs) of one expansion at once; the registry client's limiter may hold them back further. */
export const HINT_CONCURRENCY = 16;

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
  let tasks: CopyTask[];
  let snapshot: StateSnapshot | undefined;
  try {
    const skip = new Set(message.skipTags ?? []);
    // What the state knows of the rule is read while its source is listed.
    const noState = message.noState === true ? { noState: true } : {};
    [tasks, snapshot] = await Promise.all([
      expandRule(rule, deps.registry, runId).then((all) =>
        all.filter((t) => !skip.has(parseReference(t.source).tag ?? '')).map((t) => ({ ...t, ...noState })),
      ),
      message.noState === true ? undefined : readState(deps, runId, rule, log),
    ]);
  } catch (error) {
    if (isRedeliverable(error) && attempt < deps.maxReceiveCount) {
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
  const { upToDate, toCopy } = await settleByRunHints(deps.registry, rule, tasks, snapshot);
  // Results first, then the count: the run cannot finish before this expansion is complete.
  if (upToDate.length > 0) await deps.store.recordResults(runId, upToDate);
  await deps.queue.enqueue(toCopy);
  deps.store.meter.sqs(runId, Math.ceil(toCopy.length / 10));
  if (snapshot !== undefined) await saveState(deps, runId, snapshot, log);
  await deps.store.completeExpansion(runId, rule.index, tasks.length);
  deps.logger.info('rule expanded', { ...log, tasks: tasks.length, upToDate: upToDate.length, queued: toCopy.length });
  await finishRunIfComplete(deps, runId);
}

/** What the state knows of the rule's copies; undefined without a state, or when it cannot be read (a hint, not a failure). */
async function readState(deps: ExpandRecordDeps, runId: string, rule: MigrationRule, log: object): Promise<StateSnapshot | undefined> {
  if (deps.copyState === undefined) return undefined;
  try {
    return await deps.copyState.loadPair(runId, rule.source, rule.destination);
  } catch (error) {
    deps.logger.warn('run state not read; every tag is compared in full', { ...log, error: errorMessage(error) });
    return undefined;
  }
}

/** Renews the records this expansion relied on that are getting old; a write that fails costs a later run requests only. */
async function saveState(deps: ExpandRecordDeps, runId: string, snapshot: StateSnapshot, log: object): Promise<void> {
  const records = snapshot.take();
  if (records.length === 0 || deps.copyState === undefined) return;
  await deps.copyState.save(runId, records).catch((error: unknown) => {
    deps.logger.warn('run state not renewed', { ...log, error: errorMessage(error) });
  });
}

/**
 * Splits a rule's tasks into those the hints find up to date (their results) and those to copy. The
 * hints are the destination's tag list (listed once), the state's records and the rule's
 * immutability; without a record or immutability there is nothing to settle and nothing is listed.
 */
async function settleByRunHints(
  registry: Registry,
  rule: MigrationRule,
  tasks: readonly CopyTask[],
  snapshot: StateSnapshot | undefined,
): Promise<{ upToDate: TaskResult[]; toCopy: CopyTask[] }> {
  const immutable = tasks.some((t) => t.immutable === true);
  if (!immutable && (snapshot === undefined || snapshot.size === 0)) {
    // With a state that knows nothing of the rule, the copies need not ask it again, tag by tag.
    return { upToDate: [], toCopy: snapshot === undefined ? [...tasks] : tasks.map((t) => ({ ...t, hintsChecked: true })) };
  }
  const destinationTags = new DestinationTags(registry);
  destinationTags.prefetch(rule.destination);
  const copier = new ImageCopier(registry, { destinationTags, ...(snapshot === undefined ? {} : { state: snapshot }) });
  const settled = await mapLimit(tasks, HINT_CONCURRENCY, (task) => settleByHints(copier, task, { countRequests: true }));
  const upToDate: TaskResult[] = [];
  const toCopy: CopyTask[] = [];
  tasks.forEach((task, i) => {
    const answer = settled[i] ?? 'not-checked';
    if (typeof answer === 'string') toCopy.push(taskToCopy(task, answer));
    else upToDate.push(answer);
  });
  return { upToDate, toCopy };
}
