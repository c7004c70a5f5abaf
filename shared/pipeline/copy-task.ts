/**
 * One attempt at one task, turned into a TaskResult: the piece the local runner and the AWS copier
 * function share.
 */
import type { ImageCopy, ImageCopyResult } from '../copy/image-copier.js';
import { errorMessage } from './error-message.js';
import { withRequestCount } from './request-count.js';
import { TaskOutcome, type CopyTask, type TaskResult } from './task.js';

/** The outcome of one attempt: a result, or the error with the time it took. */
export type AttemptOutcome =
  | { readonly ok: true; readonly result: TaskResult }
  | { readonly ok: false; readonly error: unknown; readonly durationMs: number; readonly requests?: number | undefined };

/**
 * Copies a task once; never throws. With `countRequests`, the task's registry requests are counted
 * through its async context: that costs every promise of the copy a little (async hooks), so the
 * local runner, which counts requests per kind for the whole run instead, leaves it off.
 */
export async function attemptTask(copier: ImageCopy, task: CopyTask, attempt: number, options: { readonly countRequests?: boolean } = {}): Promise<AttemptOutcome> {
  const started = Date.now();
  const copy = (): Promise<ImageCopyResult> => copier.copy(task);
  const counted = options.countRequests ? await withRequestCount(copy) : await settle(copy);
  if ('error' in counted) return { ok: false, error: counted.error, durationMs: Date.now() - started, requests: counted.requests };
  const copied = counted.value;
  return {
    ok: true,
    result: {
      taskId: task.taskId, source: task.source, destination: task.destination,
      outcome: copied.outcome, digest: copied.digest, bytes: copied.bytes, attempts: attempt,
      ...(copied.sourceDigest === undefined ? {} : { sourceDigest: copied.sourceDigest }),
      ...(copied.referrers === undefined ? {} : { referrers: copied.referrers }),
      ...(copied.reason === undefined ? {} : { reason: copied.reason }),
      durationMs: Date.now() - started, ...(counted.requests === undefined ? {} : { requests: counted.requests }),
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
export function failedResult(task: CopyTask, error: unknown, attempts: number, durationMs: number, requests?: number): TaskResult {
  return {
    taskId: task.taskId, source: task.source, destination: task.destination,
    outcome: TaskOutcome.Failed, bytes: 0, attempts, error: errorMessage(error), durationMs,
    ...(requests === undefined ? {} : { requests }),
  };
}
