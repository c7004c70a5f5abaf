/**
 * The AWS adapters of the handlers, built from the stack's environment variables. Each handler
 * module builds them once per container (see `lazy`), so clients and connections are reused.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoBlobClaims } from './dynamo-blob-claims.js';
import { DynamoCopyState } from './dynamo-copy-state.js';
import { DynamoResultStore } from './dynamo-result-store.js';
import { EventBridgeRunNotifier, NoRunNotifier, type RunNotifier } from './run-notifier.js';
import { SqsTaskQueue } from './sqs-task-queue.js';
import { EnvironmentError, intEnv, optionalEnv, requireEnv } from './env.js';
import type { UsageMeter } from './usage-meter.js';

/** A logger with the service name the stack sets (POWERTOOLS_SERVICE_NAME). */
export function createLogger(): Logger {
  return new Logger({ serviceName: optionalEnv('POWERTOOLS_SERVICE_NAME') ?? 'image-migrator' });
}

/**
 * The result store on TABLE_NAME, with RUN_TTL_DAYS. The SDK retries throttles itself (adaptive
 * mode, up to 6 attempts); the store retries lost transaction races on top, each retry logged.
 */
export function storeFromEnv(logger: Logger = createLogger()): DynamoResultStore {
  return new DynamoResultStore(new DynamoDBClient({ maxAttempts: 6, retryMode: 'adaptive' }), requireEnv('TABLE_NAME'), {
    ttlDays: intEnv('RUN_TTL_DAYS', 30, 1),
    retry: { onRetry: (retry) => logger.warn('table write retried', { ...retry }) },
  });
}

/** Blob claims in the run table (TABLE_NAME): copiers of a fleet upload a shared blob once per registry. */
export function blobClaimsFromEnv(logger: Logger = createLogger()): DynamoBlobClaims {
  return new DynamoBlobClaims(new DynamoDBClient({ maxAttempts: 6, retryMode: 'adaptive' }), requireEnv('TABLE_NAME'), {
    retry: { onRetry: (retry) => logger.warn('table write retried', { ...retry }) },
  });
}

/**
 * The run state in the run table (TABLE_NAME), its items kept RUN_TTL_DAYS after their last write;
 * undefined when the stack turns it off (RUN_STATE=off, from the `runState` setting).
 */
export function copyStateFromEnv(meter: UsageMeter, logger: Logger = createLogger()): DynamoCopyState | undefined {
  const setting = optionalEnv('RUN_STATE') ?? 'on';
  if (setting !== 'on' && setting !== 'off')
    throw new EnvironmentError('RUN_STATE', `must be "on" or "off", not ${JSON.stringify(setting)}`);
  if (setting === 'off') return undefined;
  return new DynamoCopyState(new DynamoDBClient({ maxAttempts: 6, retryMode: 'adaptive' }), requireEnv('TABLE_NAME'), {
    ttlDays: intEnv('RUN_TTL_DAYS', 30, 1),
    meter,
    retry: { onRetry: (retry) => logger.warn('table write retried', { ...retry }) },
    onIgnored: (key) => logger.warn('ignored a run state item that is not a sound record', { pk: String(key.pk), sk: String(key.sk) }),
  });
}

/** The work queue client and its URL (QUEUE_URL). */
export function queueFromEnv(): { sqs: SQSClient; queueUrl: string; queue: SqsTaskQueue } {
  const sqs = new SQSClient({});
  const queueUrl = requireEnv('QUEUE_URL');
  return { sqs, queueUrl, queue: new SqsTaskQueue(sqs, queueUrl) };
}

/** The run-finished notifier on EVENT_BUS_NAME; none when the variable is unset. */
export function notifierFromEnv(): RunNotifier {
  const bus = optionalEnv('EVENT_BUS_NAME');
  return bus === undefined ? new NoRunNotifier() : new EventBridgeRunNotifier(new EventBridgeClient({}), bus);
}

/** Deliveries of a message before SQS moves it to the dead-letter queue (retries + 1). */
export function maxReceiveCountFromEnv(): number {
  return intEnv('MAX_RECEIVE_COUNT', 4, 1);
}
