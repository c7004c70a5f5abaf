/**
 * One attempt at one task, turned into a TaskResult: the piece the local runner and the AWS copier
 * function share.
 */
import type { Deadline } from '../copy/deadline.js';
import type { ImageCopy, ImageCopyResult } from '../copy/image-copier.js';
import type { RetryListener } from '../registry/retry.js';
import { errorMessage } from './error-message.js';
import { withRequestCount } from './request-count.js';
import { TaskOutcome, type CopyTask, type TaskResult } from './task.js';

/** The outcome of one attempt: a result, or the error with the time it took. */
export type AttemptOutcome =
  | { readonly ok: true; readonly result: TaskResult }
  | { readonly ok: false; readonly error: unknown; readonly durationMs: number; readonly requests?: number | undefined };

/** Retries of one task below the task level, counted by kind across its attempts. */
export class RetryTally {
  public readonly byKind: Record<string, number> = {};

  /** A listener that counts, then passes the event on. */
  public listener(next?: RetryListener): RetryListener {
    return (event) => {
      this.byKind[event.kind] = (this.byKind[event.kind] ?? 0) + 1;
      next?.(event);
    };
  }

  /** The counts for a TaskResult: absent when nothing was retried. */
  public get counts(): Readonly<Record<string, number>> | undefined {
    return Object.keys(this.byKind).length === 0 ? undefined : { ...this.byKind };
  }
}

/**
 * Copies a task once; never throws. With `countRequests`, the task's registry requests are counted
 * through its async context: that costs every promise of the copy a little (async hooks), so the
 * local runner, which counts requests per kind for the whole run instead, leaves it off.
 */
export async function attemptTask(
  copier: ImageCopy,
  task: CopyTask,
  attempt: number,
  options: {
    readonly countRequests?: boolean;
    readonly tally?: RetryTally;
    readonly onRetry?: RetryListener;
    /** When the attempt must hand its work over (a Lambda invocation's end). */
    readonly deadline?: Deadline | undefined;
    /** Told of the blob bytes the destination acknowledged. */
    readonly onProgress?: (bytes: number) => void;
  } = {},
): Promise<AttemptOutcome> {
  const started = Date.now();
  const tally = options.tally ?? new RetryTally();
  const onRetry = tally.listener(options.onRetry);
  const copy = (): Promise<ImageCopyResult> => copier.copy(task, { onRetry, deadline: options.deadline, onProgress: options.onProgress });
  const counted = options.countRequests ? await withRequestCount(copy) : await settle(copy);
  if ('error' in counted) return { ok: false, error: counted.error, durationMs: Date.now() - started, requests: counted.requests };
  const copied = counted.value;
  return {
    ok: true,
    result: {
      taskId: task.taskId,
      source: task.source,
      destination: task.destination,
      outcome: copied.outcome,
      digest: copied.digest,
      bytes: copied.bytes,
      attempts: attempt,
      ...(copied.sourceDigest === undefined ? {} : { sourceDigest: copied.sourceDigest }),
      ...(copied.referrers === undefined ? {} : { referrers: copied.referrers }),
      ...(copied.reason === undefined ? {} : { reason: copied.reason }),
      ...(copied.leftOut === undefined ? {} : { leftOut: copied.leftOut }),
      durationMs: Date.now() - started,
      ...(counted.requests === undefined ? {} : { requests: counted.requests }),
      ...(tally.counts === undefined ? {} : { retried: tally.counts }),
    },
  };
}

async function settle<T>(fn: () => Promise<T>): Promise<{ value: T; requests?: number } | { error: unknown; requests?: number }> {
  try {
    return { value: await fn() };
  } catch (error) {
    return { error };
  }
}

/** The result recorded for a task that will not be tried again. */
export function failedResult(
  task: CopyTask,
  error: unknown,
  attempts: number,
  durationMs: number,
  requests?: number,
  tally?: RetryTally,
): TaskResult {
  return {
    taskId: task.taskId,
    source: task.source,
    destination: task.destination,
    outcome: TaskOutcome.Failed,
    bytes: 0,
    attempts,
    error: errorMessage(error),
    durationMs,
    ...(requests === undefined ? {} : { requests }),
    ...(tally?.counts === undefined ? {} : { retried: tally.counts }),
  };
}
