/**
 * Feeds SQS messages to a handler the way Lambda's event source mapping does: long-poll a batch,
 * build a real SQSEvent (with ApproximateReceiveCount), call the handler, delete the records not
 * listed in `batchItemFailures`, and leave the others to reappear when their visibility ends
 * (SQS then redrives them to the DLQ after maxReceiveCount deliveries). At most `workers` batches
 * are in flight. A batch can be "crashed": dropped without any delete, as when the function dies.
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { TEST_AWS } from './aws-emulators.js';

/** A Lambda handler with an SQS event source. */
export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

/** One queue and the function behind it. */
export interface QueueBinding {
  readonly queueUrl: string;
  readonly handler: SqsHandler;
  /** Records per event (Lambda allows 1..10 for standard queues). */
  readonly batchSize: number;
  /** Batches in flight at once (the mapping's maximum concurrency). */
  readonly workers: number;
  /** The function's timeout, which the context's getRemainingTimeInMillis counts down from (default 900 s). */
  readonly functionTimeoutMs?: number;
  /** Return true to drop this batch as if the function crashed: nothing is deleted. */
  readonly crash?: (records: readonly SQSRecord[], batchNumber: number) => boolean;
}

/** What happened on one queue while driving. */
export interface QueueStats {
  batches: number;
  deliveries: number;
  crashedBatches: number;
  itemFailures: number;
  handlerErrors: number;
  /** Deliveries per message id, to see retries. */
  readonly receives: Map<string, number>;
}

/** What happened on the work queue and on the dead-letter queue. */
export interface DriverStats {
  readonly main: QueueStats;
  readonly dlq: QueueStats;
}

function emptyStats(): QueueStats {
  return { batches: 0, deliveries: 0, crashedBatches: 0, itemFailures: 0, handlerErrors: 0, receives: new Map() };
}

/** The driver's settings. */
export interface DriverOptions {
  readonly sqs: SQSClient;
  readonly main: QueueBinding;
  /** The dead-letter queue and its recorder. */
  readonly dlq?: QueueBinding;
  /** Polled between batches; the driver stops when it resolves true. */
  readonly isDone: () => Promise<boolean>;
  readonly timeoutMs: number;
}

/** The driver ran out of time before `isDone`. */
export class DriverTimeoutError extends Error {
  public constructor(public readonly stats: DriverStats) {
    super(
      `the run did not complete in time: ${JSON.stringify({ main: { ...stats.main, receives: stats.main.receives.size }, dlq: { ...stats.dlq, receives: stats.dlq.receives.size } })}`,
    );
    this.name = 'DriverTimeoutError';
  }
}

function queueArnOf(queueUrl: string): string {
  const name = queueUrl.split('/').pop() ?? '';
  return `arn:aws:sqs:${TEST_AWS.region}:000000000000:${name}`;
}

/** The SQS record Lambda's event source builds for a received message. */
export function recordOf(message: Message, queueUrl: string): SQSRecord {
  const a = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? 'test',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArnOf(queueUrl),
    awsRegion: TEST_AWS.region,
  };
}

function contextOf(name: string, timeoutMs = 900_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${TEST_AWS.region}:000000000000:function:${name}`,
    memoryLimitInMB: '1024',
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'test',
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Polls one binding until `stopped()`; returns when the last batch is settled. */
async function poll(sqs: SQSClient, binding: QueueBinding, stats: QueueStats, stopped: () => boolean): Promise<void> {
  const worker = async (): Promise<void> => {
    while (!stopped()) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: binding.queueUrl,
          MaxNumberOfMessages: binding.batchSize,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      const messages = out.Messages ?? [];
      if (messages.length === 0) continue;
      const records = messages.map((m) => recordOf(m, binding.queueUrl));
      stats.batches += 1;
      stats.deliveries += records.length;
      for (const r of records) stats.receives.set(r.messageId, (stats.receives.get(r.messageId) ?? 0) + 1);
      if (binding.crash?.(records, stats.batches) === true) {
        stats.crashedBatches += 1;
        continue;
      }
      let failedIds: Set<string>;
      try {
        const response = await binding.handler({ Records: records }, contextOf('copier', binding.functionTimeoutMs));
        failedIds = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      } catch {
        // A handler that throws fails the whole batch, as on Lambda.
        stats.handlerErrors += 1;
        continue;
      }
      stats.itemFailures += failedIds.size;
      const done = records.filter((r) => !failedIds.has(r.messageId));
      if (done.length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: binding.queueUrl,
            Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
          }),
        );
      }
    }
  };
  await Promise.all(Array.from({ length: binding.workers }, worker));
}

/** Drives the queue (and the DLQ) until `isDone()` or the timeout; throws DriverTimeoutError on timeout. */
export async function driveUntilDone(options: DriverOptions): Promise<DriverStats> {
  const stats: DriverStats = { main: emptyStats(), dlq: emptyStats() };
  let stop = false;
  let timedOut = false;
  const stopped = (): boolean => stop;
  const watcher = (async () => {
    const deadline = Date.now() + options.timeoutMs;
    while (!stop) {
      if (await options.isDone()) break;
      if (Date.now() > deadline) {
        timedOut = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    stop = true;
  })();
  // A failing poller stops the others, so the error surfaces now rather than at the timeout.
  const guarded = (p: Promise<void>): Promise<void> =>
    p.catch((error: unknown) => {
      stop = true;
      throw error;
    });
  await Promise.all([
    watcher,
    guarded(poll(options.sqs, options.main, stats.main, stopped)),
    ...(options.dlq === undefined ? [] : [guarded(poll(options.sqs, options.dlq, stats.dlq, stopped))]),
  ]);
  if (timedOut) throw new DriverTimeoutError(stats);
  return stats;
}

/** Visible plus in-flight messages of a queue. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}
