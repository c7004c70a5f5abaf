/**
 * The ResultStore port on DynamoDB. Each task result is an item of its own, written in one
 * transaction with an increment of one of the run's counter shards (see dynamo-items.ts) and a
 * condition that the task has no result yet, so a message delivered twice (SQS is at-least-once)
 * counts once, and no single item takes every task's write. Lost races and throttles are retried
 * with backoff (dynamo-retry.ts). The run is finished by one conditional write on the run item once
 * the shards' sums reach its task count, so exactly one caller wins and sends the finish event.
 */
import { ConditionalCheckFailedException, TransactionCanceledException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { RunRecord } from '../../shared/pipeline/ports.js';
import type { RunTable } from '../ports.js';
import type { GenerateFailure, TaskResult } from '../../shared/pipeline/task.js';
import {
  COUNT_SK,
  COUNTER_SHARDS,
  EXPAND_PREFIX,
  FAILED_RUN,
  FAILURES_INDEX,
  RUN_SK,
  TASK_PREFIX,
  USAGE,
  counterOf,
  runPk,
  runStateOf,
  shardOf,
  shardPk,
  taskItem,
  taskResultOf,
  withShardSums,
  type ExpansionKey,
  type RunState,
  type Usage,
} from './dynamo-items.js';
import { sendMetered } from './dynamo-metered.js';
import { batchWriteAll, DEFAULT_TABLE_RETRY, unprocessedBackoff, withTableRetry, type TableRetryPolicy } from './dynamo-retry.js';
import { UsageMeter } from './usage-meter.js';
import { ImageMigratorError } from '../../shared/errors.js';
import { mapLimit } from '../../shared/copy/limit.js';

/** A result or expansion for a run that has no run item (never planned, or expired by TTL). */
export class RunNotFoundError extends ImageMigratorError {
  public constructor(
    public readonly runId: string,
    options?: { cause?: unknown },
  ) {
    super(`run ${runId} not found`, options);
  }
}

type TransactItems = NonNullable<TransactWriteCommandInput['TransactItems']>;

/** Task items per transaction of recordResults: DynamoDB takes 100 actions, one is the shard's increment. */
const RESULTS_PER_TRANSACTION = 99;

/** Settings of a DynamoResultStore. */
export interface DynamoResultStoreOptions {
  readonly ttlDays?: number;
  /** How lost races and throttles are retried; `onRetry` reaches the log. */
  readonly retry?: Partial<TableRetryPolicy>;
  /** Tallies the table requests and capacity of each run (for `cloud status`'s cost). */
  readonly meter?: UsageMeter;
}

/** One page of a run's failed tasks. */
export interface FailurePage {
  readonly failures: TaskResult[];
  /** Pass back as `after` for the next page; absent on the last page. */
  readonly next?: string;
}

/** Runs, task results and expansions of the pipeline in one table. */
export class DynamoResultStore implements RunTable {
  private readonly doc: DynamoDBDocumentClient;
  private readonly ttlSeconds: number;
  private readonly retry: TableRetryPolicy;
  public readonly meter: UsageMeter;

  public constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoResultStoreOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.ttlSeconds = Math.round((options.ttlDays ?? 30) * 86_400);
    this.retry = { ...DEFAULT_TABLE_RETRY, ...options.retry };
    this.meter = options.meter ?? new UsageMeter();
  }

  private expiresAt(): number {
    return Math.floor(Date.now() / 1000) + this.ttlSeconds;
  }

  /** Sends a command for a run, asking for and tallying the capacity it consumed. */
  private send<T extends object = object>(runId: string, command: { input: object }): Promise<T> {
    return sendMetered<T>(this.doc, this.meter, runId, command);
  }

  /** Creates the run item and its zeroed counter shards; `pendingExpansions` all-tags rules are still to be listed. */
  public async createRun(run: RunRecord, pendingExpansions: number): Promise<void> {
    const expiresAt = this.expiresAt();
    await this.send(
      run.runId,
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: runPk(run.runId),
          sk: RUN_SK,
          runId: run.runId,
          startedAt: run.startedAt,
          trigger: run.trigger,
          taskCount: run.taskCount,
          generateFailed: run.generateFailed,
          generateFailures: run.generateFailures,
          pendingExpansions,
          shards: COUNTER_SHARDS,
          expiresAt,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    // A result can only be counted in a shard that exists: a run that expired takes no more results.
    const shards = Array.from({ length: COUNTER_SHARDS }, (_, k) => ({
      PutRequest: { Item: { pk: shardPk(run.runId, k), sk: COUNT_SK, runId: run.runId, shard: k, expiresAt } },
    }));
    for (let i = 0; i < shards.length; i += 25)
      await batchWriteAll('create counters', this.retry, this.tableName, shards.slice(i, i + 25), (command) =>
        this.send(run.runId, command),
      );
  }

  public async putRun(run: RunRecord): Promise<void> {
    await this.createRun(run, 0);
  }

  /** Writes the task item and bumps its counter shard atomically; false when the task already had a result. */
  public async recordResult(runId: string, result: TaskResult): Promise<boolean> {
    const counter = counterOf(result.outcome);
    return this.transact(runId, 'record result', [
      {
        Put: {
          TableName: this.tableName,
          Item: taskItem(runId, result, this.expiresAt()),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Update: {
          TableName: this.tableName,
          Key: { pk: shardPk(runId, shardOf(result.taskId)), sk: COUNT_SK },
          UpdateExpression: 'ADD #counter :one, recorded :one, bytes :bytes, requests :requests',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#counter': counter },
          ExpressionAttributeValues: { ':one': 1, ':bytes': result.bytes, ':requests': result.requests ?? 0 },
        },
      },
    ]);
  }

  /**
   * Records many results: per counter shard, one transaction of up to RESULTS_PER_TRANSACTION task
   * items and one increment of the shard, so a thousand results cost a few dozen requests, not a
   * thousand. A group in which some task already had its result (a redelivered expansion) is
   * recorded one result at a time instead, so that each is still counted once.
   */
  public async recordResults(runId: string, results: readonly TaskResult[]): Promise<number> {
    const byShard = new Map<number, TaskResult[]>();
    for (const result of results) {
      const shard = shardOf(result.taskId);
      let list = byShard.get(shard);
      if (list === undefined) byShard.set(shard, (list = []));
      list.push(result);
    }
    // Shards at once, a shard's groups one after the other (two at once would only race for its counter).
    const counted = await mapLimit([...byShard.values()], 4, async (list) => {
      let n = 0;
      for (let i = 0; i < list.length; i += RESULTS_PER_TRANSACTION)
        n += await this.recordGroup(runId, list.slice(i, i + RESULTS_PER_TRANSACTION));
      return n;
    });
    return counted.reduce((a, b) => a + b, 0);
  }

  /** One shard's group of results in one transaction; see recordResults. */
  private async recordGroup(runId: string, group: readonly TaskResult[]): Promise<number> {
    const [first] = group;
    if (group.length === 1 && first !== undefined) return (await this.recordResult(runId, first)) ? 1 : 0;
    const sums: Record<string, number> = { copied: 0, upToDate: 0, failed: 0, bytes: 0, requests: 0 };
    const expiresAt = this.expiresAt();
    const items: TransactItems = group.map((result) => {
      sums[counterOf(result.outcome)] = (sums[counterOf(result.outcome)] ?? 0) + 1;
      sums.bytes = (sums.bytes ?? 0) + result.bytes;
      sums.requests = (sums.requests ?? 0) + (result.requests ?? 0);
      return {
        Put: { TableName: this.tableName, Item: taskItem(runId, result, expiresAt), ConditionExpression: 'attribute_not_exists(pk)' },
      };
    });
    items.push({
      Update: {
        TableName: this.tableName,
        Key: { pk: shardPk(runId, shardOf(first?.taskId ?? '')), sk: COUNT_SK },
        UpdateExpression: 'ADD copied :copied, upToDate :upToDate, failed :failed, recorded :recorded, bytes :bytes, requests :requests',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: Object.fromEntries([...Object.entries(sums), ['recorded', group.length]].map(([k, v]) => [`:${k}`, v])),
      },
    });
    try {
      await withTableRetry('record results', this.retry, () => this.send(runId, new TransactWriteCommand({ TransactItems: items })));
      return group.length;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reasons = error.CancellationReasons ?? [];
      if (reasons[group.length]?.Code === 'ConditionalCheckFailed') throw new RunNotFoundError(runId);
      if (!reasons.some((reason) => reason.Code === 'ConditionalCheckFailed')) throw error;
      let counted = 0;
      for (const result of group) if (await this.recordResult(runId, result)) counted++;
      return counted;
    }
  }

  /** Adds what the functions measured to one counter shard of the run (plain ADD: no condition, no race). */
  public async addUsage(runId: string, usage: Usage): Promise<void> {
    const names = USAGE.filter((k) => usage[k] !== 0);
    if (names.length === 0) return;
    const shard = Math.floor(Math.random() * COUNTER_SHARDS);
    await withTableRetry('add usage', this.retry, () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: shardPk(runId, shard), sk: COUNT_SK },
          UpdateExpression: `ADD ${names.map((k) => `#${k} :${k}`).join(', ')}`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: Object.fromEntries(names.map((k) => [`#${k}`, k])),
          ExpressionAttributeValues: Object.fromEntries(names.map((k) => [`:${k}`, Math.round(usage[k] * 1000) / 1000])),
        }),
      ),
    ).catch((error: unknown) => {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
  }

  /** Writes every tally of the store's meter (and whatever the caller added to it) to the table. */
  public async flushUsage(): Promise<void> {
    for (const [runId, usage] of this.meter.drain()) {
      // The flush is itself a request of the run.
      usage.dynamoRequests += 1;
      usage.writeUnits += 1;
      await this.addUsage(runId, usage);
    }
  }

  /** Whether a task already has its final result (so a redelivery need not copy again). */
  public async hasResult(runId: string, taskId: string): Promise<boolean> {
    const out = await this.send<{ Item?: unknown }>(
      runId,
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: shardPk(runId, shardOf(taskId)), sk: `${TASK_PREFIX}${taskId}` },
        ProjectionExpression: 'pk',
      }),
    );
    return out.Item !== undefined;
  }

  /** Whether an all-tags rule of the run has been listed (or failed to be), or a plan slice sent. */
  public async isExpansionDone(runId: string, key: ExpansionKey): Promise<boolean> {
    const out = await this.send<{ Item?: unknown }>(
      runId,
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: runPk(runId), sk: `${EXPAND_PREFIX}${key}` },
        ProjectionExpression: 'pk',
      }),
    );
    return out.Item !== undefined;
  }

  /**
   * Adds a listed rule's tasks (a plan slice's tasks were counted by the planner: 0) to the run's
   * count and takes the expansion off the pending ones, once; false when it was already counted.
   */
  public async completeExpansion(runId: string, key: ExpansionKey, taskCount: number): Promise<boolean> {
    return this.transact(runId, 'complete expansion', [
      this.expansionPut(runId, key, { status: 'expanded', taskCount }),
      this.runUpdate(runId, 'ADD taskCount :n, pendingExpansions :minusOne', { ':n': taskCount, ':minusOne': -1 }),
    ]);
  }

  /** Counts a rule whose tags could not be listed as "generate failed" once. */
  public async failExpansion(runId: string, ruleIndex: number, failure: GenerateFailure): Promise<boolean> {
    return this.transact(runId, 'fail expansion', [
      this.expansionPut(runId, ruleIndex, { status: 'failed', ...failure }),
      this.runUpdate(runId, 'ADD generateFailed :one, pendingExpansions :minusOne', { ':one': 1, ':minusOne': -1 }),
    ]);
  }

  /**
   * Marks the run finished when every expansion is done and the shards have recorded every task.
   * The read is strongly consistent, so whoever committed the last result sees it; the write's
   * condition (not finished, task count unchanged) makes exactly one caller win, so the run-finished
   * event is sent once however many copiers race.
   */
  public async finishIfComplete(runId: string): Promise<RunState | undefined> {
    const state = await this.getRunState(runId);
    if (state === undefined || state.finishedAt !== undefined || state.pendingExpansions !== 0 || state.recorded < state.taskCount)
      return undefined;
    const finishedAt = new Date().toISOString();
    try {
      await this.send(
        runId,
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: runPk(runId), sk: RUN_SK },
          UpdateExpression: 'SET finishedAt = :now',
          ConditionExpression:
            'attribute_exists(pk) AND attribute_not_exists(finishedAt) AND pendingExpansions = :zero AND taskCount = :tasks',
          ExpressionAttributeValues: { ':now': finishedAt, ':zero': 0, ':tasks': state.taskCount },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
    return { ...state, finishedAt };
  }

  /** The run item with its counter shards summed: one strongly consistent batch read of 17 small items. */
  public async getRunState(runId: string): Promise<RunState | undefined> {
    const keys = [
      { pk: runPk(runId), sk: RUN_SK },
      ...Array.from({ length: COUNTER_SHARDS }, (_, k) => ({ pk: shardPk(runId, k), sk: COUNT_SK })),
    ];
    const items: Record<string, unknown>[] = [];
    let pending: Record<string, unknown>[] = keys;
    for (let round = 0; pending.length > 0; round++) {
      const out = await this.send<{
        Responses?: Record<string, Record<string, unknown>[]>;
        UnprocessedKeys?: Record<string, { Keys?: Record<string, unknown>[] }>;
      }>(runId, new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } } }));
      for (const item of out.Responses?.[this.tableName] ?? []) items.push(item);
      pending = out.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      if (pending.length > 0) await unprocessedBackoff(round);
    }
    const run = items.find((item) => item.sk === RUN_SK);
    if (run === undefined) return undefined;
    return withShardSums(
      runStateOf(run),
      items.filter((item) => item.sk === COUNT_SK),
    );
  }

  public async getRun(runId: string): Promise<RunRecord | undefined> {
    const state = await this.getRunState(runId);
    if (state === undefined) return undefined;
    const generateFailures = [...state.generateFailures, ...(await this.listGenerateFailures(runId))];
    return {
      runId,
      startedAt: state.startedAt,
      trigger: state.trigger,
      taskCount: state.taskCount,
      generateFailed: state.generateFailed,
      generateFailures,
    };
  }

  /** Every task result of the run, shard by shard (for tests and reports; the summary never reads them all). */
  public async listResults(runId: string): Promise<TaskResult[]> {
    const shards = await Promise.all(Array.from({ length: COUNTER_SHARDS }, (_, k) => this.query(runId, shardPk(runId, k), TASK_PREFIX)));
    return shards.flat().map(taskResultOf);
  }

  /** Every failed task of the run. */
  public async listFailures(runId: string): Promise<TaskResult[]> {
    const failures: TaskResult[] = [];
    let after: string | undefined;
    do {
      const page = await this.failurePage(runId, 1000, after);
      for (const failure of page.failures) failures.push(failure);
      after = page.next;
    } while (after !== undefined);
    return failures;
  }

  /** Up to `limit` failed tasks from the sparse failures index, after the page token `after`. */
  public async failurePage(runId: string, limit: number, after?: string): Promise<FailurePage> {
    const out = await this.send<{ Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> }>(
      runId,
      new QueryCommand({
        TableName: this.tableName,
        IndexName: FAILURES_INDEX,
        KeyConditionExpression: '#run = :run',
        ExpressionAttributeNames: { '#run': FAILED_RUN },
        ExpressionAttributeValues: { ':run': runId },
        Limit: limit,
        ...(after === undefined ? {} : { ExclusiveStartKey: pageKey(after) }),
      }),
    );
    const next = out.LastEvaluatedKey === undefined ? undefined : Buffer.from(JSON.stringify(out.LastEvaluatedKey)).toString('base64url');
    return { failures: (out.Items ?? []).map(taskResultOf), ...(next === undefined ? {} : { next }) };
  }

  /** All-tags rules whose tags could not be listed. */
  public async listGenerateFailures(runId: string): Promise<GenerateFailure[]> {
    return (await this.query(runId, runPk(runId), EXPAND_PREFIX, 'failed')).map((item) => ({
      source: String(item.source),
      destination: String(item.destination),
      error: String(item.error),
    }));
  }

  private expansionPut(runId: string, key: ExpansionKey, fields: Record<string, unknown>): TransactItems[number] {
    const what = typeof key === 'number' ? { ruleIndex: key } : { slice: Number(key.slice(1)) };
    return {
      Put: {
        TableName: this.tableName,
        Item: { pk: runPk(runId), sk: `${EXPAND_PREFIX}${key}`, ...what, ...fields, expiresAt: this.expiresAt() },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };
  }

  private runUpdate(runId: string, expression: string, values: Record<string, unknown>): TransactItems[number] {
    return {
      Update: {
        TableName: this.tableName,
        Key: { pk: runPk(runId), sk: RUN_SK },
        UpdateExpression: expression,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: values,
      },
    };
  }

  /**
   * Runs a [conditional put, counter update] transaction, retrying lost races and throttles: false
   * when the put's condition failed (already recorded), RunNotFoundError when the counter is gone.
   */
  private async transact(runId: string, operation: string, items: TransactItems): Promise<boolean> {
    try {
      await withTableRetry(operation, this.retry, () => this.send(runId, new TransactWriteCommand({ TransactItems: items })));
      return true;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const [put, counter] = error.CancellationReasons ?? [];
      if (put?.Code === 'ConditionalCheckFailed') return false;
      if (counter?.Code === 'ConditionalCheckFailed') throw new RunNotFoundError(runId);
      throw error;
    }
  }

  private async query(runId: string, pk: string, prefix: string, status?: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.send<{ Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> }>(
        runId,
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix, ...(status === undefined ? {} : { ':status': status }) },
          ...(status === undefined ? {} : { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } }),
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) items.push(item);
      startKey = out.LastEvaluatedKey;
    } while (startKey !== undefined);
    return items;
  }
}

/** A page token back into the index's key; a token that is not one is a bad request. */
function pageKey(token: string): Record<string, unknown> {
  try {
    const key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (key !== null && typeof key === 'object' && !Array.isArray(key)) return key as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new RangeError('the page token of failures is not one this store wrote');
}
