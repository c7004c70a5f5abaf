/**
 * The run state on AWS: what earlier runs saw at each source tag and pushed to each destination tag,
 * kept in the run table (item layout in dynamo-items.ts) instead of the local state file. An
 * expansion reads a rule's whole state with one Query, a copy reads its own item with one GetItem;
 * both hand it to the shared hint check as a StateSnapshot, and write back what the copy recorded.
 *
 * It is a hint, always confirmed by the registries (shared/copy/copy-hints.ts): an item that cannot be
 * read as a sound record is ignored (and reported through `onIgnored`), a missing one means a full
 * comparison, and a failed write costs the next run requests, never a copy.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { RepositoryRef } from '../../shared/registry/types.js';
import { StateSnapshot, type CopyRecord, type LoadedRecord } from '../../shared/state/state-snapshot.js';
import type { CopyStateTable } from '../ports.js';
import { stateItem, stateKey, statePk, stateRecordOf } from './dynamo-items.js';
import { sendMetered } from './dynamo-metered.js';
import { batchWriteAll, DEFAULT_TABLE_RETRY, withTableRetry, type TableRetryPolicy } from './dynamo-retry.js';
import { UsageMeter } from './usage-meter.js';

/** BatchWriteItem takes at most 25 puts. */
const WRITE_BATCH = 25;

/** Settings of the copy state. */
export interface DynamoCopyStateOptions {
  /** Days an item lives after its last write (the stack's runTtlDays); renewed when a run relies on it past half of them. */
  readonly ttlDays?: number;
  readonly retry?: Partial<TableRetryPolicy>;
  /** The run's usage meter (the result store's), so the state's requests count in the run's cost. */
  readonly meter?: UsageMeter;
  /** Told of every item ignored because it is not a sound record (its key, never its content). */
  readonly onIgnored?: (key: { pk: unknown; sk: unknown }) => void;
}

/** The copy state in the run table. */
export class DynamoCopyState implements CopyStateTable {
  private readonly doc: DynamoDBDocumentClient;
  private readonly ttlSeconds: number;
  private readonly retry: TableRetryPolicy;
  private readonly meter: UsageMeter;

  public constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly options: DynamoCopyStateOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.ttlSeconds = Math.round((options.ttlDays ?? 30) * 86_400);
    this.retry = { ...DEFAULT_TABLE_RETRY, ...options.retry };
    this.meter = options.meter ?? new UsageMeter();
  }

  /** Epoch seconds before which an item is renewed when a run relies on it. */
  private renewBefore(): number {
    return Math.floor(Date.now() / 1000) + Math.floor(this.ttlSeconds / 2);
  }

  private record(item: Record<string, unknown>, renewBefore: number): LoadedRecord | undefined {
    const record = stateRecordOf(item, renewBefore);
    if (record === undefined) this.options.onIgnored?.({ pk: item.pk, sk: item.sk });
    return record;
  }

  public async loadPair(runId: string, source: RepositoryRef, destination: RepositoryRef): Promise<StateSnapshot> {
    const pk = statePk(`${source.registry}/${source.repository}`, `${destination.registry}/${destination.repository}`);
    const renewBefore = this.renewBefore();
    const snapshot = new StateSnapshot();
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await withTableRetry('read copy state', this.retry, () =>
        sendMetered<{ Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> }>(
          this.doc,
          this.meter,
          runId,
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': pk },
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      for (const item of out.Items ?? []) {
        const record = this.record(item, renewBefore);
        if (record !== undefined) snapshot.add(record);
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey !== undefined);
    return snapshot;
  }

  public async loadCopy(runId: string, snapshot: StateSnapshot, source: string, destination: string): Promise<boolean> {
    const key = stateKey({ source, destination });
    if (key === undefined) return false;
    const out = await withTableRetry('read copy state', this.retry, () =>
      sendMetered<{ Item?: Record<string, unknown> }>(this.doc, this.meter, runId, new GetCommand({ TableName: this.tableName, Key: key })),
    );
    const record = out.Item === undefined ? undefined : this.record(out.Item, this.renewBefore());
    if (record === undefined) return false;
    snapshot.add(record);
    return true;
  }

  public async save(runId: string, records: readonly CopyRecord[]): Promise<void> {
    const expiresAt = Math.floor(Date.now() / 1000) + this.ttlSeconds;
    const items = records.flatMap((record) => {
      const item = stateItem(record, expiresAt);
      return item === undefined ? [] : [item];
    });
    const [only] = items;
    if (items.length === 1 && only !== undefined) {
      await withTableRetry('write copy state', this.retry, () =>
        sendMetered(this.doc, this.meter, runId, new PutCommand({ TableName: this.tableName, Item: only })),
      );
      return;
    }
    for (let i = 0; i < items.length; i += WRITE_BATCH) {
      const requests = items.slice(i, i + WRITE_BATCH).map((Item) => ({ PutRequest: { Item } }));
      await batchWriteAll('write copy state', this.retry, this.tableName, requests, (command) =>
        sendMetered<{ UnprocessedItems?: Record<string, Record<string, unknown>[]> }>(this.doc, this.meter, runId, command),
      );
    }
  }
}
