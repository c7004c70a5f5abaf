/**
 * Retrying table writes that lost a race or were throttled. Two copiers that record results in the
 * same counter shard at once make DynamoDB cancel one transaction (`TransactionConflict`); a burst
 * above a partition's capacity is throttled. Both are worth another try a moment later, so they are
 * retried here with the pipeline's full-jitter backoff (each retry reported through `onRetry`) instead
 * of failing the SQS record, which would only come back after the queue's visibility timeout.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { backoffMs } from '../../shared/registry/retry.js';

/** One retry of a table operation, for the log and the run's metrics. */
export interface TableRetry {
  readonly operation: string;
  readonly attempt: number;
  readonly reason: string;
  readonly delayMs: number;
}

/** How table writes are retried. */
export interface TableRetryPolicy {
  /** Attempts in all, the first included (default 8). */
  readonly attempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly onRetry?: (retry: TableRetry) => void;
}

export const DEFAULT_TABLE_RETRY: TableRetryPolicy = { attempts: 8, baseMs: 25, maxMs: 2_000 };

const THROTTLES = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'InternalServerError']);

/** Why an error is worth retrying (`TransactionConflict`, a throttle), or undefined when it is not. */
export function transientReason(error: unknown): string | undefined {
  if (error instanceof TransactionCanceledException) {
    const reasons = (error.CancellationReasons ?? []).map((r) => r.Code ?? 'None');
    // A failed condition is an answer, not a race: the caller decides what it means.
    if (reasons.includes('ConditionalCheckFailed')) return undefined;
    const transient = reasons.find(
      (code) => code === 'TransactionConflict' || code === 'ThrottlingError' || code === 'ProvisionedThroughputExceeded',
    );
    return transient;
  }
  const name = (error as { name?: unknown } | undefined)?.name;
  if (typeof name === 'string' && (THROTTLES.has(name) || name === 'TransactionConflictException')) return name;
  return undefined;
}

/** Runs `work`, retrying transient failures (see transientReason) with backoff; rethrows the rest. */
export async function withTableRetry<T>(operation: string, policy: TableRetryPolicy, work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const reason = transientReason(error);
      if (reason === undefined || attempt >= policy.attempts) throw error;
      const delayMs = backoffMs(attempt, error, policy.baseMs, policy.maxMs);
      policy.onRetry?.({ operation, attempt, reason, delayMs });
      await sleep(delayMs);
    }
  }
}

/** A short wait before sending the unprocessed part of a batch request again (round 0, 1, ...). */
export function unprocessedBackoff(round: number): Promise<void> {
  return sleep(Math.min(1000, 25 * 2 ** round) * Math.random());
}

/** The answer of a BatchWriteItem that matters here. */
type BatchWriteOut = { UnprocessedItems?: Record<string, Record<string, unknown>[]> };

/**
 * Writes every request of one BatchWriteItem (25 at most) to `tableName`: what DynamoDB leaves
 * unprocessed is sent again after a pause, and throttles are retried as `withTableRetry` does.
 */
export async function batchWriteAll(
  operation: string,
  policy: TableRetryPolicy,
  tableName: string,
  requests: readonly Record<string, unknown>[],
  send: (command: BatchWriteCommand) => Promise<BatchWriteOut>,
): Promise<void> {
  let pending = [...requests];
  for (let round = 0; pending.length > 0; round++) {
    const out = await withTableRetry(operation, policy, () => send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } })));
    pending = out.UnprocessedItems?.[tableName] ?? [];
    if (pending.length > 0) await unprocessedBackoff(round);
  }
}
