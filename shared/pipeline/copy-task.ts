/**
 * One attempt at one task, turned into a TaskResult: the piece the local runner and the AWS copier
 * function share.
 */
import type { ImageCopy } from '../copy/image-copier.js';
import { errorMessage } from './error-message.js';
import { withRequestCount } from './request-count.js';
import { TaskOutcome, type CopyTask, type TaskResult } from './task.js';

/** The outcome of one attempt: a result, or the error with the time it took. */
export type AttemptOutcome =
  | { readonly ok: true; readonly result: TaskResult }
  | { readonly ok: false; readonly error: unknown; readonly durationMs: number; readonly requests: number };

/** Copies a task once; never throws. */
export async function attemptTask(copier: ImageCopy, task: CopyTask, attempt: number): Promise<AttemptOutcome> {
  const started = Date.now();
  const counted = await withRequestCount(() => copier.copy(task));
  if ('error' in counted) return { ok: false, error: counted.error, durationMs: Date.now() - started, requests: counted.requests };
  const copied = counted.value;
  return {
    ok: true,
    result: {
      taskId: task.taskId, source: task.source, destination: task.destination,
      outcome: copied.outcome, digest: copied.digest, bytes: copied.bytes, attempts: attempt,
      durationMs: Date.now() - started, requests: counted.requests,
    },
  };
}

/** The result recorded for a task that will not be tried again. */
export function failedResult(task: CopyTask, error: unknown, attempts: number, durationMs: number, requests?: number): TaskResult {
  return {
    taskId: task.taskId, source: task.source, destination: task.destination,
    outcome: TaskOutcome.Failed, bytes: 0, attempts, error: errorMessage(error), durationMs,
    ...(requests === undefined ? {} : { requests }),
  };
}
