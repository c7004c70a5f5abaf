/**
 * A run's summary from its run item and failed tasks: what the summary function returns and what
 * the run-finished event carries.
 */
import { summaryLine } from '../../shared/pipeline/run-counts.js';
import type { GenerateFailure, TaskResult } from '../../shared/pipeline/task.js';
import type { RunState, Usage } from '../adapters/dynamo-items.js';
import type { RunFinishedDetail } from '../adapters/run-notifier.js';

/** One failed task as the summary lists it. */
export interface FailureEntry {
  readonly source: string;
  readonly destination: string;
  readonly error: string;
}

/** What the summary function returns: the run-finished detail plus what a person reads next. */
export interface RunSummary extends RunFinishedDetail {
  readonly startedAt: string;
  /** Every task has a result and every all-tags rule was listed. */
  readonly finished: boolean;
  /** One page of the failed tasks (the summary's `failures` limit); `nextFailures` asks for the next. */
  readonly failures: readonly FailureEntry[];
  readonly nextFailures?: string;
  readonly generateFailures: readonly GenerateFailure[];
  /** Function time and queue and table requests the run's functions measured, for a cost estimate. */
  readonly usage: Usage;
}

/** The counts part of a summary, also the detail of the run-finished event. */
export function runDetail(state: RunState, now: number = Date.now()): RunFinishedDetail {
  const end = state.finishedAt === undefined ? now : Date.parse(state.finishedAt);
  return {
    runId: state.runId,
    trigger: state.trigger,
    tasks: state.taskCount,
    copied: state.copied,
    upToDate: state.upToDate,
    failed: state.failed,
    generateFailed: state.generateFailed,
    bytes: state.bytes,
    requests: state.requests,
    durationMs: Math.max(0, end - Date.parse(state.startedAt)),
    line: summaryLine({ tasks: state.taskCount, failed: state.failed, generateFailed: state.generateFailed }),
  };
}

/** The full summary. */
export function runSummary(
  state: RunState,
  failures: readonly TaskResult[],
  generateFailures: readonly GenerateFailure[],
  now?: number,
  nextFailures?: string,
): RunSummary {
  const detail = runDetail(state, now);
  return {
    ...detail,
    startedAt: state.startedAt,
    finished: state.finishedAt !== undefined,
    failures: failures.map((f) => ({ source: f.source, destination: f.destination, error: f.error ?? 'failed' })),
    ...(nextFailures === undefined ? {} : { nextFailures }),
    generateFailures,
    usage: state.usage,
  };
}
