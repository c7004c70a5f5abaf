/**
 * Remembers the signatures of accepted webhook requests in the run table, so that a captured
 * request sent again inside the timestamp window is refused. The put is conditional, so two
 * concurrent deliveries of one request cannot both pass; TTL removes the items after the window.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';

/** Signature memory; `remember` is false when the signature was already seen. */
export interface ReplayGuard {
  remember(signature: string, expiresAtSeconds: number): Promise<boolean>;
  /** Lets a request that could not be processed be sent again. */
  forget(signature: string): Promise<void>;
}

/** Items `pk = webhook#<signature>`, `sk = seen`, beside the runs (whose keys start `run#`). */
export class DynamoReplayGuard implements ReplayGuard {
  private readonly doc: DynamoDBDocumentClient;

  public constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  public async remember(signature: string, expiresAtSeconds: number): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: `webhook#${signature}`, sk: 'seen', expiresAt: expiresAtSeconds },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  public async forget(signature: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: `webhook#${signature}`, sk: 'seen' } }));
  }
}
