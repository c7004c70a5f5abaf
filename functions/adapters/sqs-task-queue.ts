/**
 * The TaskQueue port on SQS: messages go out with SendMessageBatch, ten per call (the SQS maximum),
 * and the entries SQS rejects inside a successful call are sent again with backoff.
 */
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MigrationRule } from '../../shared/config/images-file.js';
import { mapLimit } from '../../shared/copy/limit.js';
import type { TaskQueue } from '../../shared/pipeline/ports.js';
import type { CopyTask } from '../../shared/pipeline/task.js';
import { copyMessage, expandMessage, type QueueMessage } from './queue-message.js';

/** SendMessageBatch takes at most ten entries. */
const BATCH_SIZE = 10;

/** Entries of a batch that SQS still refused after every resend. */
export class EnqueueError extends Error {
  public constructor(
    public readonly failedCount: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`could not enqueue ${failedCount} message(s): ${detail}`, options);
    this.name = 'EnqueueError';
  }
}

/** Tuning of the sender; the defaults suit a Lambda function. */
export interface SqsTaskQueueOptions {
  /** Sends of failed entries after the first try. */
  readonly resends?: number;
  readonly backoffBaseMs?: number;
  /** Batches in flight at once. */
  readonly concurrency?: number;
}

/** Sends copy tasks and expand requests to the work queue. */
export class SqsTaskQueue implements TaskQueue {
  private readonly resends: number;
  private readonly backoffBaseMs: number;
  private readonly concurrency: number;

  public constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    options: SqsTaskQueueOptions = {},
  ) {
    this.resends = options.resends ?? 5;
    this.backoffBaseMs = options.backoffBaseMs ?? 100;
    this.concurrency = options.concurrency ?? 4;
  }

  /** One copy message per task. */
  public async enqueue(tasks: readonly CopyTask[]): Promise<void> {
    await this.send(tasks.map(copyMessage));
  }

  /** One expand message per all-tags rule. */
  public async enqueueExpansions(runId: string, rules: readonly MigrationRule[]): Promise<void> {
    await this.send(rules.map((rule) => expandMessage(runId, rule)));
  }

  /** Sends messages in batches of ten, several batches at once. */
  public async send(messages: readonly QueueMessage[]): Promise<void> {
    const batches: QueueMessage[][] = [];
    for (let i = 0; i < messages.length; i += BATCH_SIZE) batches.push(messages.slice(i, i + BATCH_SIZE));
    await mapLimit(batches, this.concurrency, (batch) => this.sendBatch(batch));
  }

  private async sendBatch(batch: readonly QueueMessage[]): Promise<void> {
    let pending: SendMessageBatchRequestEntry[] = batch.map((m, i) => ({ Id: String(i), MessageBody: JSON.stringify(m) }));
    let lastProblem = '';
    for (let attempt = 0; pending.length > 0; attempt += 1) {
      if (attempt > this.resends) throw new EnqueueError(pending.length, lastProblem);
      if (attempt > 0) await sleep(Math.random() * this.backoffBaseMs * 2 ** attempt);
      // A whole-call failure (throttling, network) is retried by the SDK's own retry strategy;
      // what is left here is the per-entry failure list of a call that succeeded.
      const response = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }));
      const failed = response.Failed ?? [];
      const senderFault = failed.find((f) => f.SenderFault === true);
      if (senderFault !== undefined) {
        // A sender fault (too large, bad characters) will fail the same way every time.
        throw new EnqueueError(failed.length, `${senderFault.Code ?? 'error'}: ${senderFault.Message ?? ''}`.trim());
      }
      const failedIds = new Set(failed.map((f) => f.Id));
      lastProblem = failed.map((f) => f.Code ?? 'error').join(', ');
      pending = pending.filter((entry) => failedIds.has(entry.Id));
    }
  }
}
