/**
 * Settling a task by the run's hints alone (destination tag list, run state, immutable tags; the
 * decision itself is shared/copy/copy-hints.ts): at most one request, the source HEAD. The local run
 * makes this check before a task takes one of the --workers slots; on AWS the expansion of an all-tags
 * rule makes it before it enqueues a copy message. A task the hints do not settle is copied, marked so
 * that the copy does not ask them a second time.
 */
import type { ImageCopier } from '../copy/image-copier.js';
import { withRequestCount } from './request-count.js';
import type { CopyTask, TaskResult } from './task.js';

/**
 * How the hints answered for a task: its result (up to date); `copy` when they were consulted and did
 * not settle it; `not-checked` for a task they do not apply to before a copy (a copy of referrers,
 * whose hint check the copy makes itself, or a source pinned by digest).
 */
export type HintAnswer = TaskResult | 'copy' | 'not-checked';

/** Asks the hints about a task; never throws. */
export async function settleByHints(
  copier: Pick<ImageCopier, 'upToDateByHints' | 'checksHintsFirst'>,
  task: CopyTask,
  options: { readonly countRequests?: boolean } = {},
): Promise<HintAnswer> {
  if (!copier.checksHintsFirst(task)) return 'not-checked';
  const started = Date.now();
  const check = (): ReturnType<ImageCopier['upToDateByHints']> => copier.upToDateByHints(task);
  let hinted: Awaited<ReturnType<typeof check>>;
  let requests: number | undefined;
  if (options.countRequests === true) {
    const counted = await withRequestCount(check);
    // A check that fails (the source HEAD refused, a network error) leaves the copy to decide.
    hinted = 'value' in counted ? counted.value : undefined;
    requests = counted.requests;
  } else {
    hinted = await check().catch(() => undefined);
  }
  if (hinted === undefined) return 'copy';
  return {
    taskId: task.taskId,
    source: task.source,
    destination: task.destination,
    outcome: hinted.outcome,
    ...(hinted.digest === undefined ? {} : { digest: hinted.digest }),
    ...(hinted.sourceDigest === undefined ? {} : { sourceDigest: hinted.sourceDigest }),
    ...(hinted.reason === undefined ? {} : { reason: hinted.reason }),
    bytes: 0,
    attempts: 1,
    durationMs: Date.now() - started,
    ...(requests === undefined ? {} : { requests }),
  };
}

/** The task as it goes to the copy after the hints answered: marked when they were consulted. */
export function taskToCopy(task: CopyTask, answer: 'copy' | 'not-checked'): CopyTask {
  return answer === 'copy' ? { ...task, hintsChecked: true } : task;
}
