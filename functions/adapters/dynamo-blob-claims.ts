/**
 * The BlobCoordinator on the run table: one item per destination registry and blob, pk
 * `BLOB#<registry>#<digest>`, sk `BLOB`, each with a partition key of its own (no hot item).
 * - claim: a conditional put of `uploading` that succeeds when there is no item, when the item is an
 *   `uploading` claim older than `staleAfterMs` (its copier died or timed out), or when it is the
 *   `present` record a waiter found wrong; otherwise a consistent read says `present` or `busy`.
 * - settle(true): the item becomes `present` with the repository now holding the blob, so waiters
 *   mount from there; settle(false): the claim is deleted (only by its owner) so a waiter takes over.
 * Records expire with the table's TTL (`expiresAt`, one day after they are written); they are
 * hints, always confirmed by the registry (mount, HEAD) before a copy relies on them.
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { BlobClaim, BlobCoordinator } from '../../shared/copy/blob-coordinator.js';
import { DEFAULT_TABLE_RETRY, withTableRetry, type TableRetryPolicy } from './dynamo-retry.js';

const SK = 'BLOB';
const RECORD_SECONDS = 86_400;

/** Settings of the claims. */
export interface DynamoBlobClaimsOptions {
  /** Age after which an unfinished claim may be taken over (default 15 minutes, Lambda's longest invocation). */
  readonly staleAfterMs?: number;
  readonly retry?: Partial<TableRetryPolicy>;
  /** Told of every claim answer, for metrics and tests. */
  readonly onClaim?: (answer: BlobClaim['kind'] | 'takeover', registry: string, digest: string) => void;
}

/** Blob claims in the run table. */
export class DynamoBlobClaims implements BlobCoordinator {
  private readonly doc: DynamoDBDocumentClient;
  private readonly staleAfterMs: number;
  private readonly retry: TableRetryPolicy;

  public constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly options: DynamoBlobClaimsOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.staleAfterMs = options.staleAfterMs ?? 15 * 60_000;
    this.retry = { ...DEFAULT_TABLE_RETRY, ...options.retry };
  }

  public async claim(registry: string, digest: string, repository: string, replacing?: string): Promise<BlobClaim> {
    const key = { pk: `BLOB#${registry}#${digest}`, sk: SK };
    for (;;) {
      const owner = randomUUID();
      const now = Date.now();
      try {
        await withTableRetry('claim blob', this.retry, () =>
          this.doc.send(
            new PutCommand({
              TableName: this.tableName,
              Item: { ...key, state: 'uploading', repository, owner, claimedAt: now, expiresAt: Math.floor(now / 1000) + RECORD_SECONDS },
              ConditionExpression: `attribute_not_exists(pk) OR (#state = :uploading AND claimedAt < :stale)${replacing === undefined ? '' : ' OR (#state = :present AND #repository = :replacing)'}`,
              ExpressionAttributeNames: { '#state': 'state', ...(replacing === undefined ? {} : { '#repository': 'repository' }) },
              ExpressionAttributeValues: {
                ':uploading': 'uploading',
                ':stale': now - this.staleAfterMs,
                ...(replacing === undefined ? {} : { ':present': 'present', ':replacing': replacing }),
              },
            }),
          ),
        );
        this.options.onClaim?.('claimed', registry, digest);
        return { kind: 'claimed', settle: (landed) => this.settle(key, owner, repository, landed) };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      const out = await withTableRetry('read blob claim', this.retry, () =>
        this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true })),
      );
      const item = out.Item;
      // Deleted (a failed upload) or gone stale between the put and the read: try the claim again.
      if (item === undefined || (item.state === 'uploading' && Number(item.claimedAt) < Date.now() - this.staleAfterMs)) {
        this.options.onClaim?.('takeover', registry, digest);
        continue;
      }
      if (item.state === 'present' && item.repository !== replacing) {
        this.options.onClaim?.('present', registry, digest);
        return { kind: 'present', repository: String(item.repository) };
      }
      if (item.state === 'present') continue;
      this.options.onClaim?.('busy', registry, digest);
      return { kind: 'busy' };
    }
  }

  private async settle(key: { pk: string; sk: string }, owner: string, repository: string, landed: boolean): Promise<void> {
    if (landed) {
      await withTableRetry('record blob', this.retry, () =>
        this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...key,
              state: 'present',
              repository,
              owner,
              claimedAt: Date.now(),
              expiresAt: Math.floor(Date.now() / 1000) + RECORD_SECONDS,
            },
          }),
        ),
      );
      return;
    }
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: key,
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (error) {
      // Someone took the claim over meanwhile: theirs now.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}
