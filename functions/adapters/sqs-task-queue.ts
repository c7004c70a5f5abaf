/**
 * The TaskQueue port on SQS: messages go out with SendMessageBatch, ten per call (the SQS maximum)
 * and at most 256 KiB of bodies per call (the SQS limit of a message and of a batch: plan slices are
 * large), and the entries SQS rejects inside a successful call are sent again with backoff.
 */
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MigrationRule } from '../../shared/config/images-file.js';
import { mapLimit } from '../../shared/copy/limit.js';
import { ImageMigratorError } from '../../shared/errors.js';
import type { PipelineQueue } from '../ports.js';
import type { CopyTask } from '../../shared/pipeline/task.js';
import { copyMessage, expandMessage, type QueueMessage, type SliceMessage } from './queue-message.js';

/** SendMessageBatch takes at most ten entries. */
const BATCH_SIZE = 10;
/** SQS takes at most 256 KiB in a message, and in all the messages of a batch together. */
export const SQS_PAYLOAD_LIMIT = 262_144;

/** Messages SQS still refused after every resend; the caller must account for each of them. */
export class EnqueueError extends ImageMigratorError {
  public readonly failedCount: number;

  public constructor(
    public readonly unsent: readonly QueueMessage[],
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`could not enqueue ${unsent.length} message(s): ${detail}`, options);
    this.failedCount = unsent.length;
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
export class SqsTaskQueue implements PipelineQueue {
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
  public async enqueueExpansions(
    runId: string,
    rules: readonly MigrationRule[],
    coveredTags?: ReadonlyMap<number, readonly string[]>,
    options: { readonly noState?: boolean } = {},
  ): Promise<void> {
    await this.send(rules.map((rule) => expandMessage(runId, rule, coveredTags?.get(rule.index), options.noState)));
  }

  /** Plan slices, a few to a call (each is up to 240 KiB). */
  public async enqueueSlices(slices: readonly SliceMessage[]): Promise<void> {
    await this.send(slices);
  }

  /** Sends messages in batches of ten (fewer when large), several batches at once; throws EnqueueError naming every unsent one. */
  public async send(messages: readonly QueueMessage[]): Promise<void> {
    const batches = batchesOf(messages);
    const unsent: QueueMessage[] = [];
    let problem = '';
    await mapLimit(batches, this.concurrency, async (batch) => {
      try {
        await this.sendBatch(batch);
      } catch (error) {
        // Other batches go on: the caller records what did not go out instead of losing it.
        for (const message of error instanceof EnqueueError ? error.unsent : batch.messages) unsent.push(message);
        problem ||= error instanceof Error ? error.message : String(error);
      }
    });
    if (unsent.length > 0) throw new EnqueueError(unsent, problem);
  }

  private async sendBatch(batch: Batch): Promise<void> {
    let pending: SendMessageBatchRequestEntry[] = batch.bodies.map((body, i) => ({ Id: String(i), MessageBody: body }));
    const unsentOf = (entries: readonly SendMessageBatchRequestEntry[]): QueueMessage[] =>
      entries.map((e) => batch.messages[Number(e.Id)] as QueueMessage);
    let lastProblem = '';
    for (let attempt = 0; pending.length > 0; attempt += 1) {
      if (attempt > this.resends) throw new EnqueueError(unsentOf(pending), lastProblem);
      if (attempt > 0) await sleep(Math.random() * this.backoffBaseMs * 2 ** attempt);
      // A whole-call failure (throttling, network) is retried by the SDK's own retry strategy;
      // what is left here is the per-entry failure list of a call that succeeded.
      const response = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }));
      const failed = response.Failed ?? [];
      const senderFault = failed.find((f) => f.SenderFault === true);
      if (senderFault !== undefined) {
        // A sender fault (too large, bad characters) will fail the same way every time.
        const ids = new Set(failed.map((f) => f.Id));
        throw new EnqueueError(
          unsentOf(pending.filter((e) => ids.has(e.Id))),
          `${senderFault.Code ?? 'error'}: ${senderFault.Message ?? ''}`.trim(),
        );
      }
      const failedIds = new Set(failed.map((f) => f.Id));
      lastProblem = failed.map((f) => f.Code ?? 'error').join(', ');
      pending = pending.filter((entry) => failedIds.has(entry.Id));
    }
  }
}

/** Messages of one SendMessageBatch call, and their bodies. */
interface Batch {
  readonly messages: QueueMessage[];
  readonly bodies: string[];
}

/** Consecutive messages in batches of at most ten and at most SQS_PAYLOAD_LIMIT bytes of bodies. */
function batchesOf(messages: readonly QueueMessage[]): Batch[] {
  const batches: Batch[] = [];
  let current: Batch = { messages: [], bodies: [] };
  let bytes = 0;
  for (const message of messages) {
    const body = JSON.stringify(message);
    const size = Buffer.byteLength(body);
    if (current.messages.length === BATCH_SIZE || (current.messages.length > 0 && bytes + size > SQS_PAYLOAD_LIMIT)) {
      batches.push(current);
      current = { messages: [], bodies: [] };
      bytes = 0;
    }
    current.messages.push(message);
    current.bodies.push(body);
    bytes += size;
  }
  if (current.messages.length > 0) batches.push(current);
  return batches;
}
