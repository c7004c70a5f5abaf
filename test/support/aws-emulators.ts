/**
 * Local stand-ins for the AWS services the pipeline uses: SQS (fauxqs, in this process) and DynamoDB
 * (Amazon's DynamoDB Local jar, a Java child process). Both listen on 127.0.0.1 on free ports and
 * are reached through the real AWS SDK v3 clients.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { freePort } from './free-port.js';

/** Region and credentials every test client uses; DynamoDB Local wants alphanumeric keys. */
export const TEST_AWS = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
} as const;

/** A work queue and its dead-letter queue. */
export interface TestQueues {
  readonly queueUrl: string;
  readonly dlqUrl: string;
}

/** Running emulators and clients pointed at them. */
export interface AwsEmulators {
  readonly sqsEndpoint: string;
  readonly dynamoEndpoint: string;
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBClient;
  /** A queue with a redrive policy to a fresh DLQ, as the stack creates it. */
  createQueues(name: string, options: { maxReceiveCount: number; visibilityTimeoutSeconds: number }): Promise<TestQueues>;
  /** The single table of the stack: pk/sk strings, TTL on `expiresAt`, the sparse `failures` index. */
  createTable(name: string): Promise<string>;
  stop(): Promise<void>;
}

function dynamoLocalDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
}

async function startDynamoLocal(): Promise<{ endpoint: string; child: ChildProcess }> {
  const dir = dynamoLocalDir();
  for (let attempt = 0; ; attempt += 1) {
    const port = await freePort();
    const child = spawn(
      'java',
      [`-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`, '-jar', join(dir, 'DynamoDBLocal.jar'), '-inMemory', '-port', String(port)],
      // Without DDB_LOCAL_TELEMETRY=0 the jar tries to reach the network on start and on exit.
      { env: { ...process.env, DDB_LOCAL_TELEMETRY: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // A test that crashes must not leave a JVM behind.
    const killOnExit = (): void => void child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.removeListener('exit', killOnExit));
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const endpoint = `http://127.0.0.1:${port}`;
    const client = new DynamoDBClient({ ...TEST_AWS, endpoint });
    try {
      for (let i = 0; i < 150; i += 1) {
        if (child.exitCode !== null) break;
        try {
          await client.send(new ListTablesCommand({}));
          return { endpoint, child };
        } catch {
          await sleep(100);
        }
      }
    } finally {
      client.destroy();
    }
    child.kill('SIGKILL');
    // The port may have been taken between freePort() and the bind: try again a few times.
    if (attempt >= 2) throw new Error(`DynamoDB Local did not start on port ${port}: ${output.slice(-2000)}`);
  }
}

/** Starts fauxqs and DynamoDB Local; call `stop()` in `after`. */
export async function startAwsEmulators(): Promise<AwsEmulators> {
  const [fauxqs, dynamoLocal] = await Promise.all([startFauxqs({ port: 0, logger: false, host: '127.0.0.1' }), startDynamoLocal()]);
  const sqs = new SQSClient({ ...TEST_AWS, endpoint: fauxqs.address });
  const dynamo = new DynamoDBClient({ ...TEST_AWS, endpoint: dynamoLocal.endpoint });

  return {
    sqsEndpoint: fauxqs.address,
    dynamoEndpoint: dynamoLocal.endpoint,
    sqs,
    dynamo,
    async createQueues(name, options) {
      const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
      const dlqUrl = dlq.QueueUrl ?? '';
      const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }));
      const queue = await sqs.send(
        new CreateQueueCommand({
          QueueName: name,
          Attributes: {
            VisibilityTimeout: String(options.visibilityTimeoutSeconds),
            RedrivePolicy: JSON.stringify({
              deadLetterTargetArn: attributes.Attributes?.QueueArn,
              maxReceiveCount: options.maxReceiveCount,
            }),
          },
        }),
      );
      return { queueUrl: queue.QueueUrl ?? '', dlqUrl };
    },
    async createTable(name) {
      await dynamo.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
            { AttributeName: 'failedRun', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: [
            {
              IndexName: 'failures',
              KeySchema: [
                { AttributeName: 'failedRun', KeyType: 'HASH' },
                { AttributeName: 'sk', KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'ALL' },
            },
          ],
        }),
      );
      await dynamo.send(
        new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true } }),
      );
      return name;
    },
    async stop() {
      sqs.destroy();
      dynamo.destroy();
      await fauxqs.stop();
      const exited = new Promise<void>((resolve) => dynamoLocal.child.once('exit', () => resolve()));
      if (dynamoLocal.child.exitCode === null) {
        dynamoLocal.child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000).then(() => dynamoLocal.child.kill('SIGKILL'))]);
      }
    },
  };
}
