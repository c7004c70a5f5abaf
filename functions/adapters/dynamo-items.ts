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
 *   carries `failedRun`, the key of the sparse `failures` index, so failures page without a scan;
 *   one that left foreign layers out lists them in `leftOut`.
 * Tasks spread over COUNTER_SHARDS partition keys, so no item or partition takes every task's write.
 * - Copy state, kept between runs (the run state of shared/state/; see dynamo-copy-state.ts): pk
 *   `STATE#<source registry/repository>#<destination registry/repository>`, sk `TAG#<source tag>#<destination tag>`:
 *   the digest seen at the source tag and the digest pushed to (or found at) the destination tag.
 *   A copy under a platform filter has `#<platforms>` after its destination tag (sorted, comma-separated:
 *   shared/state/copy-destination-key.ts), as its record names the destination `registry/repository:tag [<platforms>]`.
 *   One partition per repository pair, so an expansion reads everything known of a rule with one
 *   Query, and a copy reads its own item with one GetItem. Only references and digests: no credential.
 *   It expires like a run's items, counted from its last write (renewed when a run relies on an old one).
 * Repository names and registry hosts hold no `#`, and tags and platforms neither, so these keys never collide.
 */
import type { LeftOutLayer } from '../../shared/copy/foreign-layers.js';
import type { CopyRecord, LoadedRecord } from '../../shared/state/state-snapshot.js';
import { isSha256Digest } from '../../shared/reference.js';
import { splitCopyDestinationKey } from '../../shared/state/copy-destination-key.js';
import { splitTagKey } from '../../shared/state/run-state.js';
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
    retried: result.retried,
    error: result.error,
    durationMs: result.durationMs,
    leftOut: result.leftOut,
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
    ...(isCounts(item.retried) ? { retried: item.retried } : {}),
    ...(typeof item.digest === 'string' ? { digest: item.digest } : {}),
    ...(typeof item.error === 'string' ? { error: item.error } : {}),
    ...(Array.isArray(item.leftOut) ? { leftOut: item.leftOut as LeftOutLayer[] } : {}),
  };
}

/** Retries by kind, as a task item holds them. */
function isCounts(value: unknown): value is Record<string, number> {
  return typeof value === 'object' && value !== null && Object.values(value).every((n) => typeof n === 'number');
}

/** The counter of the run item that an outcome increments. */
export function counterOf(outcome: TaskOutcome): 'copied' | 'upToDate' | 'failed' {
  // A skipped image (a platform the rule does not ask for) has nothing to copy: counted with the up to date.
  return outcome === 'copied' ? 'copied' : outcome === 'up-to-date' || outcome === 'skipped' ? 'upToDate' : 'failed';
}

/** Prefix of the copy state's partitions. */
export const STATE_PREFIX = 'STATE#';

/** Partition key of the copy state from one repository (`registry/repository`) to another. */
export function statePk(sourceRepository: string, destinationRepository: string): string {
  return `${STATE_PREFIX}${sourceRepository}#${destinationRepository}`;
}

/** Sort key of one tag copy within its pair's partition; `platforms` as a copy's destination key holds them. */
export function stateSk(sourceTag: string, destinationTag: string, platforms?: string): string {
  return `TAG#${sourceTag}#${destinationTag}${platforms === undefined ? '' : `#${platforms}`}`;
}

/**
 * The key of a record's item, or undefined when its references are not `registry/repository:tag` (the
 * destination's with its platforms, if any: shared/state/copy-destination-key.ts).
 */
export function stateKey(record: Pick<CopyRecord, 'source' | 'destination'>): { pk: string; sk: string } | undefined {
  const source = splitTagKey(record.source);
  const split = splitCopyDestinationKey(record.destination);
  const destination = splitTagKey(split.tagKey);
  if (source === undefined || destination === undefined) return undefined;
  return { pk: statePk(source.repository, destination.repository), sk: stateSk(source.tag, destination.tag, split.platforms) };
}

/** The item of a copy record (undefined for references that have no key). */
export function stateItem(record: CopyRecord, expiresAt: number): Record<string, unknown> | undefined {
  const key = stateKey(record);
  if (key === undefined) return undefined;
  return {
    ...key,
    source: record.source,
    destination: record.destination,
    sourceDigest: record.sourceDigest,
    destinationDigest: record.destinationDigest,
    recordedAt: new Date().toISOString(),
    expiresAt,
  };
}

/**
 * The record an item holds, or undefined when it is not a sound one (a field missing or of another
 * type, a digest that is not sha256, references that do not match its key): a hint that cannot be
 * read is no hint. `renewBefore` (epoch seconds): an item that expires before then is marked for renewal.
 */
export function stateRecordOf(item: Record<string, unknown>, renewBefore: number): LoadedRecord | undefined {
  const { source, destination, sourceDigest, destinationDigest } = item;
  if (typeof source !== 'string' || typeof destination !== 'string') return undefined;
  if (typeof sourceDigest !== 'string' || !isSha256Digest(sourceDigest)) return undefined;
  if (typeof destinationDigest !== 'string' || !isSha256Digest(destinationDigest)) return undefined;
  const key = stateKey({ source, destination });
  if (key === undefined || key.pk !== item.pk || key.sk !== item.sk) return undefined;
  return { source, destination, sourceDigest, destinationDigest, ...(num(item.expiresAt) < renewBefore ? { renew: true } : {}) };
}
