/**
 * The BlobCoordinator on the run table: one item per destination registry and blob, pk
 * `BLOB#<registry>#<digest>`, sk `BLOB`, each with a partition key of its own (no hot item).
 * - claim: a conditional put of `uploading` that succeeds when there is no item, when the item is an
 *   `uploading` claim older than `staleAfterMs` (its copier died or timed out), or when it is the
 *   `present` record a waiter found wrong; otherwise a consistent read says `present` or `busy`.
 * - settle(true): the item becomes `present` with the repository now holding the blob, so waiters
 *   mount from there; settle(false): the claim is deleted (only by its owner) so a waiter takes over.
 * - suspend(upload): a copier that reached its deadline leaves the claim `suspended` with its upload
 *   session (URL without a login, offset, sha256 state); the next claim for the same repository (the
 *   task's next invocation) takes it over and goes on with that session; a claim for another
 *   repository waits, as for an upload in progress. A suspended claim is stale, and claimed afresh,
 *   `staleAfterMs` after it was suspended.
 * Records expire with the table's TTL (`expiresAt`, one day after they are written); they are
 * hints, always confirmed by the registry (mount, HEAD) before a copy relies on them.
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { BlobClaim, BlobCoordinator } from '../../shared/copy/blob-coordinator.js';
import type { SuspendedUpload } from '../../shared/copy/deadline.js';
import { DEFAULT_TABLE_RETRY, withTableRetry, type TableRetryPolicy } from './dynamo-retry.js';

const SK = 'BLOB';

type Key = { pk: string; sk: string };

/** The upload session a suspended claim holds, if it holds one. */
function sessionOf(item: Record<string, unknown>): SuspendedUpload | undefined {
  if (typeof item.uploadUrl !== 'string' || typeof item.uploadOffset !== 'number') return undefined;
  const hash = item.hashState;
  return { url: item.uploadUrl, offset: item.uploadOffset, hashState: hash instanceof Uint8Array ? hash : undefined };
}
const RECORD_SECONDS = 86_400;

/** Settings of the claims. */
export interface DynamoBlobClaimsOptions {
  /** Age after which an unfinished claim may be taken over (default 15 minutes, Lambda's longest invocation). */
  readonly staleAfterMs?: number;
  readonly retry?: Partial<TableRetryPolicy>;
  /** Told of every claim answer, for metrics and tests. */
  readonly onClaim?: (answer: BlobClaim['kind'] | 'takeover' | 'resume' | 'suspend', registry: string, digest: string) => void;
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
              ConditionExpression: `attribute_not_exists(pk) OR (#state IN (:uploading, :suspended) AND claimedAt < :stale)${replacing === undefined ? '' : ' OR (#state = :present AND #repository = :replacing)'}`,
              ExpressionAttributeNames: { '#state': 'state', ...(replacing === undefined ? {} : { '#repository': 'repository' }) },
              ExpressionAttributeValues: {
                ':uploading': 'uploading',
                ':suspended': 'suspended',
                ':stale': now - this.staleAfterMs,
                ...(replacing === undefined ? {} : { ':present': 'present', ':replacing': replacing }),
              },
            }),
          ),
        );
        this.options.onClaim?.('claimed', registry, digest);
        return this.granted(key, owner, repository, undefined, registry, digest);
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      const out = await withTableRetry('read blob claim', this.retry, () =>
        this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true })),
      );
      const item = out.Item;
      // Deleted (a failed upload) or gone stale between the put and the read: try the claim again.
      if (item === undefined || (item.state !== 'present' && Number(item.claimedAt) < Date.now() - this.staleAfterMs)) {
        this.options.onClaim?.('takeover', registry, digest);
        continue;
      }
      if (item.state === 'present' && item.repository !== replacing) {
        this.options.onClaim?.('present', registry, digest);
        return { kind: 'present', repository: String(item.repository) };
      }
      if (item.state === 'present') continue;
      if (item.state === 'suspended' && item.repository === repository) {
        const resumed = await this.takeOver(key, String(item.owner), owner, sessionOf(item), { registry, digest, repository });
        if (resumed === undefined) continue;
        this.options.onClaim?.('resume', registry, digest);
        return resumed;
      }
      this.options.onClaim?.('busy', registry, digest);
      return { kind: 'busy' };
    }
  }

  private granted(
    key: Key,
    owner: string,
    repository: string,
    resume: SuspendedUpload | undefined,
    registry: string,
    digest: string,
  ): BlobClaim {
    return {
      kind: 'claimed',
      resume,
      settle: (landed) => this.settle(key, owner, repository, landed),
      suspend: async (upload) => {
        await this.suspend(key, owner, upload);
        this.options.onClaim?.('suspend', registry, digest);
      },
    };
  }

  /** Takes over a suspended claim from `previous` (the copier that stopped it); undefined when someone else was first. */
  private async takeOver(
    key: Key,
    previous: string,
    owner: string,
    upload: SuspendedUpload | undefined,
    blob: { registry: string; digest: string; repository: string },
  ): Promise<BlobClaim | undefined> {
    try {
      await withTableRetry('resume blob claim', this.retry, () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: key,
            UpdateExpression: 'SET #state = :uploading, #owner = :owner, claimedAt = :now',
            ConditionExpression: '#state = :suspended AND #owner = :previous',
            ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner' },
            ExpressionAttributeValues: {
              ':uploading': 'uploading',
              ':suspended': 'suspended',
              ':owner': owner,
              ':previous': previous,
              ':now': Date.now(),
            },
          }),
        ),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
    return this.granted(key, owner, blob.repository, upload, blob.registry, blob.digest);
  }

  /** Leaves the claim suspended with the upload session, for the next claim of its repository. */
  private async suspend(key: Key, owner: string, upload: SuspendedUpload): Promise<void> {
    const now = Date.now();
    await withTableRetry('suspend blob claim', this.retry, () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: `SET #state = :suspended, claimedAt = :now, expiresAt = :expires, uploadUrl = :url, uploadOffset = :offset${upload.hashState === undefined ? ' REMOVE hashState' : ', hashState = :hash'}`,
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner' },
          ExpressionAttributeValues: {
            ':suspended': 'suspended',
            ':now': now,
            ':expires': Math.floor(now / 1000) + RECORD_SECONDS,
            ':url': upload.url,
            ':offset': upload.offset,
            ':owner': owner,
            ...(upload.hashState === undefined ? {} : { ':hash': upload.hashState }),
          },
        }),
      ),
    );
  }

  private async settle(key: Key, owner: string, repository: string, landed: boolean): Promise<void> {
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
