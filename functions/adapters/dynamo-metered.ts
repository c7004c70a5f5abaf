/**
 * Sending a table request on behalf of a run: the request asks DynamoDB for the capacity it
 * consumed, and the run's usage meter tallies it (for `cloud status`'s cost). The result store and
 * the copy state share it, so every table request of a run is counted the same way.
 */
import type { ConsumedCapacity } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { UsageMeter } from './usage-meter.js';

/** Sends `command` for `runId` and tallies the request and its capacity in `meter`. */
export async function sendMetered<T extends object = object>(
  doc: DynamoDBDocumentClient,
  meter: UsageMeter,
  runId: string,
  command: { input: object },
): Promise<T> {
  (command.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'TOTAL';
  let out: T & { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] };
  try {
    out = (await doc.send(command as never)) as unknown as typeof out;
  } catch (error) {
    meter.dynamo(runId, 0, 1);
    throw error;
  }
  const consumed =
    out.ConsumedCapacity === undefined ? [] : Array.isArray(out.ConsumedCapacity) ? out.ConsumedCapacity : [out.ConsumedCapacity];
  let reads = consumed.reduce((n, c) => n + (c.ReadCapacityUnits ?? 0), 0);
  // DynamoDB Local reports no read units: count one per item read (small items, strongly consistent).
  if (reads === 0) reads = itemsRead(out as never);
  meter.dynamo(
    runId,
    reads,
    consumed.reduce((n, c) => n + (c.WriteCapacityUnits ?? 0), 0),
  );
  return out;
}

/** Items a read returned (Get, BatchGet, Query), for a read that reports no capacity. */
function itemsRead(out: { Item?: unknown; Items?: unknown[]; Responses?: Record<string, unknown[]> }): number {
  if (out.Item !== undefined) return 1;
  if (Array.isArray(out.Items)) return Math.max(1, Math.ceil(out.Items.length / 8));
  if (out.Responses !== undefined) return Object.values(out.Responses).reduce((n, items) => n + items.length, 0);
  return 0;
}
