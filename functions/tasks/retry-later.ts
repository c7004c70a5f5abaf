/**
 * Retries as SQS redeliveries. A failed item of a partial batch response reappears when its
 * visibility timeout ends; the queue's timeout is long (at least six times the function timeout,
 * as AWS advises), so the copier shortens it to an exponential backoff, or to the registry's
 * Retry-After when that is longer.
 */
import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { backoffMs } from '../../shared/registry/retry.js';
import { errorMessage } from '../../shared/pipeline/error-message.js';
import { ImageMigratorError } from '../../shared/errors.js';

/** SQS caps a message's visibility timeout at 12 hours. */
const MAX_VISIBILITY_SECONDS = 43_200;

/** Backoff between deliveries. */
export interface RedeliveryBackoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_REDELIVERY_BACKOFF: RedeliveryBackoff = { baseMs: 10_000, maxMs: 900_000 };

/** Thrown for a record that should come back later; the batch processor reports it as failed. */
export class RetryLaterError extends ImageMigratorError {
  public constructor(
    public readonly delaySeconds: number,
    cause: unknown,
  ) {
    super(`retry in ${delaySeconds}s: ${errorMessage(cause)}`, { cause });
  }
}

/** How many times SQS has delivered this record (1 on the first delivery). */
export function receiveCountOf(record: SQSRecord): number {
  const count = Number(record.attributes.ApproximateReceiveCount);
  return Number.isInteger(count) && count > 0 ? count : 1;
}

/** Sets the record's visibility for the backoff of this delivery and returns the error to throw. */
export async function scheduleRedelivery(
  sqs: SQSClient,
  queueUrl: string,
  record: SQSRecord,
  error: unknown,
  backoff: RedeliveryBackoff,
): Promise<RetryLaterError> {
  const delayMs = backoffMs(receiveCountOf(record), error, backoff.baseMs, backoff.maxMs);
  const seconds = Math.min(MAX_VISIBILITY_SECONDS, Math.ceil(delayMs / 1000));
  try {
    await sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: seconds }),
    );
  } catch {
    // Without the change the message still comes back, after the queue's own visibility timeout.
  }
  return new RetryLaterError(seconds, error);
}
