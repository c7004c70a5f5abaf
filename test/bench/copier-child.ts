/**
 * The measured side of `npm run bench:copier`: the copier function as Lambda runs it, in a process
 * of its own (bundled by the bench, as the stack bundles it), over the bench's registries, its
 * DynamoDB Local and its queue. It invokes the handler with the batches it is given, one after
 * another as one warm Lambda instance would, and prints one JSON line: its peak RSS, its RSS once
 * loaded, its CPU time and each invocation's wall time.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSRecord } from 'aws-lambda';
import { DynamoBlobClaims } from '../../functions/adapters/dynamo-blob-claims.js';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { copyMessage } from '../../functions/adapters/queue-message.js';
import { NoRunNotifier } from '../../functions/adapters/run-notifier.js';
import { SecretCredentials } from '../../functions/adapters/secret-credentials.js';
import { SqsTaskQueue } from '../../functions/adapters/sqs-task-queue.js';
import { createCopierHandler } from '../../functions/handlers/copier.js';
import { countRequest } from '../../shared/pipeline/request-count.js';
import type { CopyTask } from '../../shared/pipeline/task.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { peakRssMb } from '../support/peak-rss.js';

/** What the bench hands the child (BENCH_INPUT, JSON). */
export interface CopierChildInput {
  readonly sqsEndpoint: string;
  readonly dynamoEndpoint: string;
  readonly table: string;
  readonly queueUrl: string;
  /** auth.json text, as the stack's secret holds it. */
  readonly auth: string;
  /** The invocations' batches, in order. */
  readonly batches: readonly (readonly CopyTask[])[];
  /** Lambda memory size this run stands for (context.memoryLimitInMB). */
  readonly memoryMb: number;
}

/** What the child prints. */
export interface CopierChildOutput {
  readonly loadedRssMb: number;
  readonly peakRssMb: number;
  readonly cpuSeconds: number;
  readonly invocationsMs: number[];
  /** Peak RSS so far after each invocation. */
  readonly peakAfterMb: number[];
  readonly failures: number;
}

const input = JSON.parse(process.env.BENCH_INPUT ?? '{}') as CopierChildInput;
const aws = { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
const dynamo = new DynamoDBClient({ ...aws, endpoint: input.dynamoEndpoint });
const sqs = new SQSClient({ ...aws, endpoint: input.sqsEndpoint });
const credentials = new SecretCredentials(async () => input.auth);
const logger = new Logger({ logLevel: 'SILENT' });
const handler = createCopierHandler({
  store: new DynamoResultStore(dynamo, input.table),
  coordinator: new DynamoBlobClaims(dynamo, input.table),
  notifier: new NoRunNotifier(),
  logger,
  registry: new RegistryClient({ credentials, onRequest: countRequest }),
  queue: new SqsTaskQueue(sqs, input.queueUrl),
  sqs,
  queueUrl: input.queueUrl,
  maxReceiveCount: 4,
  credentials,
});

function record(task: CopyTask, i: number): SQSRecord {
  const now = String(Date.now());
  return {
    messageId: `bench-${i}`,
    receiptHandle: `bench-${i}`,
    body: JSON.stringify(copyMessage(task)),
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: now, SenderId: 'bench', ApproximateFirstReceiveTimestamp: now },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:bench',
    awsRegion: 'us-east-1',
  };
}

const context = { memoryLimitInMB: String(input.memoryMb), getRemainingTimeInMillis: () => 900_000 } as unknown as Context;
const loadedRssMb = process.memoryUsage().rss / 1024 / 1024;
const cpu = process.cpuUsage();
const invocationsMs: number[] = [];
const peakAfterMb: number[] = [];
let failures = 0;
let n = 0;
for (const batch of input.batches) {
  const started = performance.now();
  const out = await handler({ Records: batch.map((task) => record(task, n++)) }, context);
  invocationsMs.push(Math.round(performance.now() - started));
  peakAfterMb.push(peakRssMb());
  failures += out.batchItemFailures.length;
}
const used = process.cpuUsage(cpu);
const output: CopierChildOutput = {
  loadedRssMb: Math.round(loadedRssMb),
  peakRssMb: peakRssMb(),
  cpuSeconds: (used.user + used.system) / 1e6,
  invocationsMs,
  peakAfterMb,
  failures,
};
process.stdout.write(`${JSON.stringify(output)}\n`);
sqs.destroy();
dynamo.destroy();
process.exit(0);
