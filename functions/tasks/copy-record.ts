/**
 * One copy message: copy the tag with the shared copier, record the result, retry through SQS.
 * - retryable failure before the last allowed delivery: backoff via the message's visibility, and
 *   the record is reported failed so SQS delivers it again;
 * - retryable failure on the last allowed delivery, or a failure no retry can fix: the task is
 *   recorded failed now and the record succeeds, so it is not moved to the dead-letter queue.
 *
 * With the run state (CopyHints), the copy first reads its own record (one GetItem); when there is
 * one, or the tag is immutable, the destination's tags are listed so that the shared hint check can
 * settle the copy with one source HEAD (none for an immutable tag) instead of a GET and a destination
 * HEAD. What the copy learns is written back before its result is recorded.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import type { DestinationTags } from '../../shared/copy/destination-tags.js';
import type { ImageCopy } from '../../shared/copy/image-copier.js';
import { errorMessage } from '../../shared/pipeline/error-message.js';
import { parseReference } from '../../shared/reference.js';
import { tagKey } from '../../shared/state/run-state.js';
import type { StateSnapshot } from '../../shared/state/state-snapshot.js';
import type { CopyTask } from '../../shared/pipeline/task.js';
import type { RepositoryRef } from '../../shared/registry/types.js';
import type { CopyStateTable } from '../ports.js';
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

/** The run state of one copier invocation: the table, and the snapshot and destination listings its copier consults. */
export interface CopyHints {
  readonly table: CopyStateTable;
  readonly snapshot: StateSnapshot;
  readonly destinationTags: DestinationTags;
}

/** Copies and records one task; throws RetryLaterError when SQS should deliver it again. */
export async function processCopyMessage(
  deps: CopyRecordDeps,
  copier: ImageCopy,
  message: CopyMessage,
  record: SQSRecord,
  hints?: CopyHints,
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
  const copy = hints === undefined ? undefined : stateKeysOf(task);
  if (hints !== undefined && copy !== undefined && task.hintsChecked !== true) await readState(deps, hints, task, copy, log);
  const outcome = await attemptTask(copier, task, attempt, { countRequests: true });
  let result: TaskResult;
  if (outcome.ok) {
    result = outcome.result;
    if (hints !== undefined && copy !== undefined && task.noState !== true) await saveState(deps, hints, task.runId, copy, log);
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

/** The state's names of a task's copy (`registry/repository:tag` each); none for a source pinned by digest. */
interface StateKeys {
  readonly source: string;
  readonly destination: string;
  readonly destinationRepository: RepositoryRef;
}

function stateKeysOf(task: CopyTask): StateKeys | undefined {
  const src = parseReference(task.source);
  const dst = parseReference(task.destination);
  if (src.digest !== undefined) return undefined;
  const srcTag = src.tag ?? 'latest';
  const destinationRepository = { registry: dst.registry, repository: dst.repository };
  return { source: tagKey(src, srcTag), destination: tagKey(dst, dst.tag ?? srcTag), destinationRepository };
}

/** Reads the task's record; with one (or an immutable tag) the destination's tags are listed for the hint check. */
async function readState(deps: CopyRecordDeps, hints: CopyHints, task: CopyTask, copy: StateKeys, log: object): Promise<void> {
  if (task.noState === true) {
    // A run without the state still honours immutable tags, as --no-state does locally.
    if (task.immutable === true) hints.destinationTags.prefetch(copy.destinationRepository);
    return;
  }
  const known = await hints.table.loadCopy(task.runId, hints.snapshot, copy.source, copy.destination).catch((error: unknown) => {
    deps.logger.warn('run state not read; the image is compared in full', { ...log, error: errorMessage(error) });
    return false;
  });
  if (known || task.immutable === true) hints.destinationTags.prefetch(copy.destinationRepository);
}

/** Writes what the copy recorded (or renewed); a failed write costs a later run requests, never this copy. */
async function saveState(deps: CopyRecordDeps, hints: CopyHints, runId: string, copy: StateKeys, log: object): Promise<void> {
  const records = hints.snapshot.take(copy.source, copy.destination);
  if (records.length === 0) return;
  await hints.table.save(runId, records).catch((error: unknown) => {
    deps.logger.warn('run state not written', { ...log, error: errorMessage(error) });
  });
}
