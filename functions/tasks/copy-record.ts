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
 *
 * With the run state (CopyHints), the copy first reads its own record (one GetItem); when there is
 * one, or the tag is immutable, the destination's tags are listed so that the shared hint check can
 * settle the copy with one source HEAD (none for an immutable tag) instead of a GET and a destination
 * HEAD. What the copy learns is written back before its result is recorded.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import type { DestinationTags } from '../../shared/copy/destination-tags.js';
import { CopySuspendedError, type Deadline } from '../../shared/copy/deadline.js';
import type { ImageCopy } from '../../shared/copy/image-copier.js';
import { errorMessage } from '../../shared/pipeline/error-message.js';
import { parseReference } from '../../shared/reference.js';
import { copyDestinationKey } from '../../shared/state/copy-destination-key.js';
import { tagKey } from '../../shared/state/run-state.js';
import type { StateSnapshot } from '../../shared/state/state-snapshot.js';
import type { CopyTask } from '../../shared/pipeline/task.js';
import type { RepositoryRef } from '../../shared/registry/types.js';
import type { CopyStateTable } from '../ports.js';
import { isRedeliverable } from '../../shared/registry/retry.js';
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

/** The run state of one copier invocation: the table, and the snapshot and destination listings its copier consults. */
export interface CopyHints {
  readonly table: CopyStateTable;
  readonly snapshot: StateSnapshot;
  readonly destinationTags: DestinationTags;
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
  hints?: CopyHints,
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
  const copy = hints === undefined ? undefined : stateKeysOf(task);
  if (hints !== undefined && copy !== undefined && task.hintsChecked !== true) await readState(deps, hints, task, copy, log);
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
    if (hints !== undefined && copy !== undefined && task.noState !== true) await saveState(deps, hints, task.runId, copy, log);
  } else if (isRedeliverable(outcome.error) && attempt < deps.maxReceiveCount) {
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
    ...(result.leftOut === undefined ? {} : { leftOut: result.leftOut }),
  });
  await finishRunIfComplete(deps, task.runId);
}

/**
 * The state's names of a task's copy (`registry/repository:tag` each, the destination's with the task's
 * platforms: copy-destination-key.ts), as the copier records it; none for a source pinned by digest.
 */
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
  return {
    source: tagKey(src, srcTag),
    destination: copyDestinationKey(dst, dst.tag ?? srcTag, task.platforms),
    destinationRepository,
  };
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
