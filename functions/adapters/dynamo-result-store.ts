/**
 * The ResultStore port on DynamoDB. A run item holds atomic counters; each task result is an item of
 * its own, written in one transaction with the counter update and a condition that the task has no
 * result yet, so a message delivered twice (SQS is at-least-once) counts once.
 */
import { ConditionalCheckFailedException, TransactionCanceledException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { ResultStore, RunRecord } from '../../shared/pipeline/ports.js';
import type { GenerateFailure, TaskResult } from '../../shared/pipeline/task.js';
import {
  EXPAND_PREFIX, RUN_SK, TASK_PREFIX, counterOf, runPk, runStateOf, taskItem, taskResultOf, type RunState,
} from './dynamo-items.js';

/** A result or expansion for a run that has no run item (never planned, or expired by TTL). */
export class RunNotFoundError extends Error {
  public constructor(public readonly runId: string) {
    super(`run ${runId} not found`);
    this.name = 'RunNotFoundError';
  }
}

type TransactItems = NonNullable<TransactWriteCommandInput['TransactItems']>;

/** Runs, task results and expansions of the pipeline in one table. */
export class DynamoResultStore implements ResultStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly ttlSeconds: number;

  public constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: { readonly ttlDays?: number } = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.ttlSeconds = Math.round((options.ttlDays ?? 30) * 86_400);
  }

  private expiresAt(): number {
    return Math.floor(Date.now() / 1000) + this.ttlSeconds;
  }

  /** Creates the run item with zeroed counters; `pendingExpansions` all-tags rules are still to be listed. */
  public async createRun(run: RunRecord, pendingExpansions: number): Promise<void> {
    await this.doc.send(new PutCommand({
      TableName: this.tableName,
      Item: {
        pk: runPk(run.runId), sk: RUN_SK, runId: run.runId, startedAt: run.startedAt, trigger: run.trigger,
        taskCount: run.taskCount, generateFailed: run.generateFailed, generateFailures: run.generateFailures,
        pendingExpansions, copied: 0, upToDate: 0, failed: 0, bytes: 0, recorded: 0, expiresAt: this.expiresAt(),
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    }));
  }

  public async putRun(run: RunRecord): Promise<void> {
    await this.createRun(run, 0);
  }

  /** Writes the task item and bumps the run's counters atomically; false when the task already had a result. */
  public async recordResult(runId: string, result: TaskResult): Promise<boolean> {
    const counter = counterOf(result.outcome);
    return this.transact(runId, [
      { Put: { TableName: this.tableName, Item: taskItem(runId, result, this.expiresAt()), ConditionExpression: 'attribute_not_exists(pk)' } },
      {
        Update: {
          TableName: this.tableName,
          Key: { pk: runPk(runId), sk: RUN_SK },
          UpdateExpression: 'ADD #counter :one, recorded :one, bytes :bytes, requests :requests',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#counter': counter },
          ExpressionAttributeValues: { ':one': 1, ':bytes': result.bytes, ':requests': result.requests ?? 0 },
        },
      },
    ]);
  }

  /** Whether a task already has its final result (so a redelivery need not copy again). */
  public async hasResult(runId: string, taskId: string): Promise<boolean> {
    const out = await this.doc.send(new GetCommand({
      TableName: this.tableName, Key: { pk: runPk(runId), sk: `${TASK_PREFIX}${taskId}` }, ProjectionExpression: 'pk',
    }));
    return out.Item !== undefined;
  }

  /** Whether an all-tags rule of the run has been listed (or failed to be). */
  public async isExpansionDone(runId: string, ruleIndex: number): Promise<boolean> {
    const out = await this.doc.send(new GetCommand({
      TableName: this.tableName, Key: { pk: runPk(runId), sk: `${EXPAND_PREFIX}${ruleIndex}` }, ProjectionExpression: 'pk',
    }));
    return out.Item !== undefined;
  }

  /** Adds a listed rule's tasks to the run's count once; false when this rule was already counted. */
  public async completeExpansion(runId: string, ruleIndex: number, taskCount: number): Promise<boolean> {
    return this.transact(runId, [
      this.expansionPut(runId, ruleIndex, { status: 'expanded', taskCount }),
      this.runUpdate(runId, 'ADD taskCount :n, pendingExpansions :minusOne', { ':n': taskCount, ':minusOne': -1 }),
    ]);
  }

  /** Counts a rule whose tags could not be listed as "generate failed" once. */
  public async failExpansion(runId: string, ruleIndex: number, failure: GenerateFailure): Promise<boolean> {
    return this.transact(runId, [
      this.expansionPut(runId, ruleIndex, { status: 'failed', ...failure }),
      this.runUpdate(runId, 'ADD generateFailed :one, pendingExpansions :minusOne', { ':one': 1, ':minusOne': -1 }),
    ]);
  }

  /**
   * Marks the run finished when every expansion is done and every task has a result. The condition
   * makes exactly one caller win, so the run-finished event is sent once however many copiers race.
   */
  public async finishIfComplete(runId: string): Promise<RunState | undefined> {
    try {
      const out = await this.doc.send(new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: runPk(runId), sk: RUN_SK },
        UpdateExpression: 'SET finishedAt = :now',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(finishedAt) AND pendingExpansions = :zero AND recorded = taskCount',
        ExpressionAttributeValues: { ':now': new Date().toISOString(), ':zero': 0 },
        ReturnValues: 'ALL_NEW',
      }));
      return out.Attributes === undefined ? undefined : runStateOf(out.Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /** The run item, read strongly consistent. */
  public async getRunState(runId: string): Promise<RunState | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: runPk(runId), sk: RUN_SK }, ConsistentRead: true }));
    return out.Item === undefined ? undefined : runStateOf(out.Item);
  }

  public async getRun(runId: string): Promise<RunRecord | undefined> {
    const state = await this.getRunState(runId);
    if (state === undefined) return undefined;
    const generateFailures = [...state.generateFailures, ...(await this.listGenerateFailures(runId))];
    return { runId, startedAt: state.startedAt, trigger: state.trigger, taskCount: state.taskCount, generateFailed: state.generateFailed, generateFailures };
  }

  public async listResults(runId: string): Promise<TaskResult[]> {
    return (await this.query(runId, TASK_PREFIX)).map(taskResultOf);
  }

  /** Failed task results only, filtered on the server. */
  public async listFailures(runId: string): Promise<TaskResult[]> {
    return (await this.query(runId, TASK_PREFIX, 'failed')).map(taskResultOf);
  }

  /** All-tags rules whose tags could not be listed. */
  public async listGenerateFailures(runId: string): Promise<GenerateFailure[]> {
    return (await this.query(runId, EXPAND_PREFIX, 'failed')).map((item) => ({
      source: String(item.source), destination: String(item.destination), error: String(item.error),
    }));
  }

  private expansionPut(runId: string, ruleIndex: number, fields: Record<string, unknown>): TransactItems[number] {
    return {
      Put: {
        TableName: this.tableName,
        Item: { pk: runPk(runId), sk: `${EXPAND_PREFIX}${ruleIndex}`, ruleIndex, ...fields, expiresAt: this.expiresAt() },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };
  }

  private runUpdate(runId: string, expression: string, values: Record<string, unknown>): TransactItems[number] {
    return {
      Update: {
        TableName: this.tableName, Key: { pk: runPk(runId), sk: RUN_SK }, UpdateExpression: expression,
        ConditionExpression: 'attribute_exists(pk)', ExpressionAttributeValues: values,
      },
    };
  }

  /** Runs a [conditional put, run update] transaction: false when the put's condition failed. */
  private async transact(runId: string, items: TransactItems): Promise<boolean> {
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
      return true;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const [put, run] = error.CancellationReasons ?? [];
      if (put?.Code === 'ConditionalCheckFailed') return false;
      if (run?.Code === 'ConditionalCheckFailed') throw new RunNotFoundError(runId);
      throw error;
    }
  }

  private async query(runId: string, prefix: string, status?: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': runPk(runId), ':prefix': prefix, ...(status === undefined ? {} : { ':status': status }) },
        ...(status === undefined ? {} : { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } }),
        ExclusiveStartKey: startKey,
      }));
      items.push(...(out.Items ?? []));
      startKey = out.LastEvaluatedKey;
    } while (startKey !== undefined);
    return items;
  }
}
