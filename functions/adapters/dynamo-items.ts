/**
 * The single-table layout of the pipeline's state and the mapping between items and the pipeline's
 * types. Run item: pk `RUN#<runId>`, sk `RUN`. Task result: sk `TASK#<taskId>`. Expansion of an
 * all-tags rule: sk `EXPAND#<ruleIndex>`. Every item carries `expiresAt` (epoch seconds) for TTL.
 */
import type { GenerateFailure, TaskOutcome, TaskResult } from '../../shared/pipeline/task.js';

export const RUN_SK = 'RUN';
export const TASK_PREFIX = 'TASK#';
export const EXPAND_PREFIX = 'EXPAND#';

/** Partition key of everything that belongs to a run. */
export function runPk(runId: string): string {
  return `RUN#${runId}`;
}

/** The state of a run as the table holds it: the record, the counters and the completion marks. */
export interface RunState {
  readonly runId: string;
  readonly startedAt: string;
  readonly trigger: string;
  /** Copy tasks known so far; grows as all-tags rules are expanded. */
  readonly taskCount: number;
  readonly generateFailed: number;
  /** All-tags rules not yet listed; the run cannot finish before this is 0. */
  readonly pendingExpansions: number;
  readonly copied: number;
  readonly upToDate: number;
  readonly failed: number;
  readonly bytes: number;
  /** Registry requests of the recorded tasks. */
  readonly requests: number;
  /** Tasks with a final result: copied + upToDate + failed. */
  readonly recorded: number;
  /** Planner-time generate failures (expansion failures are items of their own). */
  readonly generateFailures: readonly GenerateFailure[];
  readonly finishedAt?: string;
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/** Reads a run item; counters missing from the item are 0. */
export function runStateOf(item: Record<string, unknown>): RunState {
  const finishedAt = item.finishedAt;
  return {
    runId: String(item.runId),
    startedAt: String(item.startedAt),
    trigger: String(item.trigger),
    taskCount: num(item.taskCount),
    generateFailed: num(item.generateFailed),
    pendingExpansions: num(item.pendingExpansions),
    copied: num(item.copied),
    upToDate: num(item.upToDate),
    failed: num(item.failed),
    bytes: num(item.bytes),
    requests: num(item.requests),
    recorded: num(item.recorded),
    generateFailures: Array.isArray(item.generateFailures) ? (item.generateFailures as GenerateFailure[]) : [],
    ...(typeof finishedAt === 'string' ? { finishedAt } : {}),
  };
}

/** The task item of a result. */
export function taskItem(runId: string, result: TaskResult, expiresAt: number): Record<string, unknown> {
  return {
    pk: runPk(runId),
    sk: `${TASK_PREFIX}${result.taskId}`,
    taskId: result.taskId,
    source: result.source,
    destination: result.destination,
    status: result.outcome,
    digest: result.digest,
    bytes: result.bytes,
    attempts: result.attempts,
    requests: result.requests,
    error: result.error,
    durationMs: result.durationMs,
    recordedAt: new Date().toISOString(),
    expiresAt,
  };
}

/** Reads a task item back into a result. */
export function taskResultOf(item: Record<string, unknown>): TaskResult {
  return {
    taskId: String(item.taskId),
    source: String(item.source),
    destination: String(item.destination),
    outcome: item.status as TaskOutcome,
    bytes: num(item.bytes),
    attempts: num(item.attempts),
    durationMs: num(item.durationMs),
    ...(typeof item.requests === 'number' ? { requests: item.requests } : {}),
    ...(typeof item.digest === 'string' ? { digest: item.digest } : {}),
    ...(typeof item.error === 'string' ? { error: item.error } : {}),
  };
}

/** The counter of the run item that an outcome increments. */
export function counterOf(outcome: TaskOutcome): 'copied' | 'upToDate' | 'failed' {
  return outcome === 'copied' ? 'copied' : outcome === 'up-to-date' ? 'upToDate' : 'failed';
}
