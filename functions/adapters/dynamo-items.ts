/**
 * The single-table layout of the pipeline's state and the mapping between items and the pipeline's
 * types. Every item carries `expiresAt` (epoch seconds) for TTL.
 * - Run item: pk `RUN#<runId>`, sk `RUN`: the plan's counts, pending expansions, the finish mark
 *   (and the final counts once finished). Written by the planner, expansions and the finisher only.
 * - Expansion of an all-tags rule: pk `RUN#<runId>`, sk `EXPAND#<ruleIndex>`; of a plan slice
 *   (a range of rules turned into messages by a copier): sk `EXPAND#S<slice>`.
 * - Counter shard k of a run: pk `RUN#<runId>#S<k>`, sk `COUNT`: copied, up to date, failed, bytes,
 *   requests, recorded, and the run's usage (function time, queue and table requests).
 * - Task result: pk `RUN#<runId>#S<k>` (k from the task id), sk `TASK#<taskId>`. A failed one also
 *   carries `failedRun`, the key of the sparse `failures` index, so failures page without a scan.
 * Tasks spread over COUNTER_SHARDS partition keys, so no item or partition takes every task's write.
 */
import type { GenerateFailure, TaskOutcome, TaskResult } from '../../shared/pipeline/task.js';

export const RUN_SK = 'RUN';
export const TASK_PREFIX = 'TASK#';
export const EXPAND_PREFIX = 'EXPAND#';
export const COUNT_SK = 'COUNT';
/** Name and key attribute of the sparse index of failed tasks. */
export const FAILURES_INDEX = 'failures';
export const FAILED_RUN = 'failedRun';

/**
 * Counter shards per run. Each shard's partition takes up to 1,000 write units a second; a task's
 * result is one transaction of two small items in its shard (4 write units), so 16 shards bound a
 * run at about 16 x 250 = 4,000 recorded tasks a second, and two copiers meet on one counter item
 * 1/16 as often as on a single one. Part of the table layout: a run item records the count it used.
 */
export const COUNTER_SHARDS = 16;

/** The shard of a task: FNV-1a of its id, so a task's redeliveries always meet their first result. */
export function shardOf(taskId: string, shards: number = COUNTER_SHARDS): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < taskId.length; i++) {
    hash ^= taskId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

/** What an expansion item stands for: an all-tags rule (its index) or a plan slice (`S` and its number). */
export type ExpansionKey = number | `S${number}`;

/** The expansion key of plan slice `slice` of a run. */
export function sliceKey(slice: number): ExpansionKey {
  return `S${slice}`;
}

/** Partition key of counter shard `shard` of a run, and of the task results counted there. */
export function shardPk(runId: string, shard: number): string {
  return `RUN#${runId}#S${shard}`;
}

/** The counters every shard holds; the run's values are their sums. */
export const COUNTERS = ['copied', 'upToDate', 'failed', 'bytes', 'requests', 'recorded'] as const;
/** What a run cost, as measured by the functions: summed across shards like the counters. */
export const USAGE = ['functionMs', 'functionMbMs', 'invocations', 'sqsRequests', 'dynamoRequests', 'readUnits', 'writeUnits'] as const;
export type Usage = Record<(typeof USAGE)[number], number>;

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
  /** Counter shards of the run (COUNTER_SHARDS when it was planned). */
  readonly shards: number;
  /** Function time and requests the run's functions reported. */
  readonly usage: Usage;
}

/** Usage with every figure 0. */
export function emptyUsage(): Usage {
  return Object.fromEntries(USAGE.map((k) => [k, 0])) as Usage;
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
    shards: num(item.shards) || COUNTER_SHARDS,
    usage: Object.fromEntries(USAGE.map((k) => [k, num(item[k])])) as Usage,
  };
}

/** A run item with the sums of its counter shards in place of its own counters. */
export function withShardSums(run: RunState, shards: readonly Record<string, unknown>[]): RunState {
  const sum = (key: string): number => shards.reduce((total, item) => total + num(item[key]), 0);
  const counters = Object.fromEntries(COUNTERS.map((k) => [k, sum(k)])) as Record<(typeof COUNTERS)[number], number>;
  // A finished run's usage keeps growing a little (the last invocations report after the finish).
  return { ...run, ...counters, usage: Object.fromEntries(USAGE.map((k) => [k, sum(k)])) as Usage };
}

/** The task item of a result. */
export function taskItem(runId: string, result: TaskResult, expiresAt: number, shards: number = COUNTER_SHARDS): Record<string, unknown> {
  return {
    pk: shardPk(runId, shardOf(result.taskId, shards)),
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
    ...(result.outcome === 'failed' ? { [FAILED_RUN]: runId } : {}),
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
  // A skipped image (a platform the rule does not ask for) has nothing to copy: counted with the up to date.
  return outcome === 'copied' ? 'copied' : outcome === 'up-to-date' || outcome === 'skipped' ? 'upToDate' : 'failed';
}
