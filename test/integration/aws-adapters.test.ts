/**
 * The AWS adapters against emulated services through the real SDK clients: SQS (fauxqs) for the
 * task queue, DynamoDB Local for the result store, and a small Secrets Manager endpoint of our own
 * for the secret credentials (no emulator for it runs here).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { GetQueueAttributesCommand, ReceiveMessageCommand, type SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoBlobClaims } from '../../functions/adapters/dynamo-blob-claims.js';
import { DynamoResultStore, RunNotFoundError } from '../../functions/adapters/dynamo-result-store.js';
import { SQS_PAYLOAD_LIMIT, SqsTaskQueue } from '../../functions/adapters/sqs-task-queue.js';
import { planSlices } from '../../functions/tasks/plan-slices.js';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { powertoolsSecretReader, SecretCredentials } from '../../functions/adapters/secret-credentials.js';
import type { CopyTask, TaskResult } from '../../shared/pipeline/task.js';
import { ConfigError } from '../../shared/errors.js';
import { startAwsEmulators, TEST_AWS, type AwsEmulators } from '../support/aws-emulators.js';
import { imagesText, tagRuleLines } from '../support/large-images.js';

let aws: AwsEmulators;
before(async () => {
  aws = await startAwsEmulators();
});
after(async () => {
  await aws?.stop();
});

function result(taskId: string, outcome: TaskResult['outcome'], bytes = 0, error?: string): TaskResult {
  return {
    taskId,
    source: `src/${taskId}`,
    destination: `dst/${taskId}`,
    outcome,
    bytes,
    attempts: 1,
    durationMs: 5,
    ...(error ? { error } : {}),
  };
}

async function newStore(name: string): Promise<DynamoResultStore> {
  return new DynamoResultStore(aws.dynamo, await aws.createTable(name), { ttlDays: 7 });
}

function run(runId: string, taskCount: number) {
  return { runId, startedAt: new Date().toISOString(), trigger: 'manual', taskCount, generateFailed: 0, generateFailures: [] };
}

describe('SqsTaskQueue', () => {
  it('sends 25 tasks in batches and each message carries only type, runId, taskId, source and destination', async () => {
    const { queueUrl } = await aws.createQueues('send-test', { maxReceiveCount: 4, visibilityTimeoutSeconds: 30 });
    const tasks: CopyTask[] = Array.from(
      { length: 25 },
      (_, i) =>
        ({
          runId: 'r1',
          taskId: `1:t${i}`,
          source: `127.0.0.1:5000/a/b:t${i}`,
          destination: `127.0.0.1:5001/c/b:t${i}`,
          extra: 'not sent',
        }) as CopyTask,
    );
    await new SqsTaskQueue(aws.sqs, queueUrl).enqueue(tasks);
    const bodies: Record<string, unknown>[] = [];
    while (bodies.length < 25) {
      const out = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      if ((out.Messages ?? []).length === 0) break;
      bodies.push(...(out.Messages ?? []).map((m) => JSON.parse(m.Body ?? '{}') as Record<string, unknown>));
    }
    assert.equal(bodies.length, 25);
    assert.deepEqual(new Set(bodies.map((b) => b.taskId)), new Set(tasks.map((t) => t.taskId)));
    for (const body of bodies) assert.deepEqual(Object.keys(body).sort(), ['destination', 'runId', 'source', 'taskId', 'type']);
  });

  it('sends plan slices of 240 KiB one to a SendMessageBatch call, within the 256 KiB SQS takes in a call', async () => {
    const { queueUrl } = await aws.createQueues('slices-test', { maxReceiveCount: 4, visibilityTimeoutSeconds: 30 });
    const rules = parseImagesFile(imagesText(tagRuleLines(3000)), 'images.json', {});
    const slices = planSlices('r-slices', rules, new Map());
    const calls: number[] = [];
    // The real client; only its calls are counted (entries and bytes of each SendMessageBatch).
    const sqs = new Proxy(aws.sqs, {
      get: (target, key) =>
        key === 'send'
          ? (command: SendMessageBatchCommand) => {
              calls.push((command.input.Entries ?? []).reduce((n, e) => n + Buffer.byteLength(e.MessageBody ?? ''), 0));
              return target.send(command);
            }
          : Reflect.get(target, key),
    });
    await new SqsTaskQueue(sqs, queueUrl).enqueueSlices(slices);
    assert.equal(calls.length, slices.length, `${slices.length} slices in ${calls.length} calls`);
    assert.ok(Math.max(...calls) <= SQS_PAYLOAD_LIMIT, `a call of ${Math.max(...calls)} bytes`);
    const out = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
    assert.equal(out.Attributes?.ApproximateNumberOfMessages, String(slices.length));
  });
});

describe('DynamoResultStore', () => {
  it('counts a task recorded twice once and keeps the first result', async () => {
    const store = await newStore('dup-test');
    await store.createRun(run('r-dup', 2), 0);
    assert.equal(await store.recordResult('r-dup', result('1:a', 'copied', 100)), true);
    assert.equal(await store.recordResult('r-dup', result('1:a', 'failed', 0, 'late duplicate')), false);
    const state = await store.getRunState('r-dup');
    assert.equal(state?.copied, 1);
    assert.equal(state?.failed, 0);
    assert.equal(state?.recorded, 1);
    assert.equal(state?.bytes, 100);
    const results = await store.listResults('r-dup');
    assert.deepEqual(
      results.map((r) => [r.taskId, r.outcome]),
      [['1:a', 'copied']],
    );
  });

  it('finishes a run exactly once, only when every task and expansion is done', async () => {
    const store = await newStore('finish-test');
    await store.createRun(run('r-fin', 2), 1);
    await store.recordResult('r-fin', result('1:a', 'up-to-date'));
    await store.recordResult('r-fin', result('1:b', 'failed', 0, 'GET http://x/v2/: 500 Internal Server Error'));
    assert.equal(await store.finishIfComplete('r-fin'), undefined, 'an expansion is still pending');
    assert.equal(await store.completeExpansion('r-fin', 3, 1), true);
    assert.equal(await store.completeExpansion('r-fin', 3, 1), false, 'a redelivered expansion counts once');
    assert.equal(await store.finishIfComplete('r-fin'), undefined, 'the expanded task has no result yet');
    await store.recordResult('r-fin', result('3:v1', 'copied', 42));
    const winners = (await Promise.all([1, 2, 3, 4].map(() => store.finishIfComplete('r-fin')))).filter((s) => s !== undefined);
    assert.equal(winners.length, 1);
    assert.deepEqual(
      {
        tasks: winners[0]?.taskCount,
        copied: winners[0]?.copied,
        upToDate: winners[0]?.upToDate,
        failed: winners[0]?.failed,
        bytes: winners[0]?.bytes,
      },
      { tasks: 3, copied: 1, upToDate: 1, failed: 1, bytes: 42 },
    );
    const failures = await store.listFailures('r-fin');
    assert.deepEqual(
      failures.map((f) => f.error),
      ['GET http://x/v2/: 500 Internal Server Error'],
    );
  });

  it('counts a rule whose tags cannot be listed as generate failed once, and lists it', async () => {
    const store = await newStore('genfail-test');
    await store.createRun(run('r-gen', 0), 1);
    const failure = { source: 'quay.io/nope/nothing', destination: 'dst/x', error: '404 Not Found: NAME_UNKNOWN' };
    assert.equal(await store.failExpansion('r-gen', 1, failure), true);
    assert.equal(await store.failExpansion('r-gen', 1, failure), false);
    const finished = await store.finishIfComplete('r-gen');
    assert.equal(finished?.generateFailed, 1);
    assert.deepEqual((await store.getRun('r-gen'))?.generateFailures, [failure]);
  });

  it('records 200 results written 50 at a time: every one counted once, lost races retried, one finish', async () => {
    const retries: string[] = [];
    const store = new DynamoResultStore(aws.dynamo, await aws.createTable('load-test'), {
      ttlDays: 7,
      retry: { onRetry: (r) => retries.push(r.reason) },
    });
    await store.createRun(run('r-load', 200), 0);
    const ids = Array.from({ length: 200 }, (_, i) => `1:t${i}`);
    const finishes: unknown[] = [];
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(
        ids
          .slice(i, i + 50)
          .flatMap((id, j) => [
            // Every task twice at once, as two deliveries of one message would be.
            store.recordResult('r-load', result(id, j % 10 === 0 ? 'failed' : 'copied', 10, j % 10 === 0 ? `boom ${id}` : undefined)),
            store.recordResult('r-load', result(id, 'copied', 10)),
          ])
          .map(async (recorded) => {
            await recorded;
            const finished = await store.finishIfComplete('r-load');
            if (finished !== undefined) finishes.push(finished);
          }),
      );
    }
    const state = await store.getRunState('r-load');
    assert.equal(state?.recorded, 200);
    assert.equal((state?.copied ?? 0) + (state?.failed ?? 0), 200);
    assert.equal(state?.bytes, 2000);
    assert.equal(finishes.length, 1, 'the run finished once');
    assert.ok(
      retries.every((reason) => reason === 'TransactionConflict'),
      retries.join(','),
    );
    // Failures page from the sparse index, none twice, none lost.
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const page = await store.failurePage('r-load', 7, after);
      for (const f of page.failures) seen.push(f.taskId);
      after = page.next;
      pages++;
    } while (after !== undefined);
    assert.equal(seen.length, state?.failed);
    assert.equal(new Set(seen).size, seen.length);
    assert.ok(pages >= Math.ceil(seen.length / 7));
    // Every request the store made was tallied for the run.
    const usage = store.meter.drain().get('r-load');
    assert.ok((usage?.dynamoRequests ?? 0) >= 400, `requests ${usage?.dynamoRequests}`);
    assert.ok((usage?.writeUnits ?? 0) > 0, 'DynamoDB reports consumed capacity');
  });

  it('records 2,000 results in a few transactions a shard; results recorded again count once', async () => {
    const store = await newStore('batch-test');
    await store.createRun(run('r-batch', 2050), 0);
    store.meter.drain();
    const results = Array.from({ length: 2000 }, (_, i) => ({ ...result(`1:t${i}`, 'up-to-date'), requests: 1 }));
    assert.equal(await store.recordResults('r-batch', results), 2000);
    const requests = store.meter.drain().get('r-batch')?.dynamoRequests ?? 0;
    // 16 shards of about 125 results, 99 a transaction: two transactions a shard.
    assert.ok(requests <= 2 * 16, `${requests} table requests for 2,000 results`);
    // A redelivered expansion: 50 results recorded before and 50 new ones, in one call.
    const again = [...results.slice(0, 50), ...Array.from({ length: 50 }, (_, i) => result(`1:n${i}`, 'copied', 3))];
    assert.equal(await store.recordResults('r-batch', again), 50);
    const finished = await store.finishIfComplete('r-batch');
    assert.deepEqual(
      {
        recorded: finished?.recorded,
        upToDate: finished?.upToDate,
        copied: finished?.copied,
        bytes: finished?.bytes,
        requests: finished?.requests,
      },
      { recorded: 2050, upToDate: 2000, copied: 50, bytes: 150, requests: 2000 },
    );
    await assert.rejects(store.recordResults('r-none', results.slice(0, 30)), RunNotFoundError);
  });

  it('adds measured usage to the run, summed across shards', async () => {
    const store = await newStore('usage-test');
    await store.createRun(run('r-use', 1), 0);
    store.meter.invocation('r-use', 1500, 1024, 0.5);
    store.meter.sqs('r-use', 3);
    await store.flushUsage();
    store.meter.invocation('r-use', 500, 1024);
    await store.flushUsage();
    const usage = (await store.getRunState('r-use'))?.usage;
    assert.equal(usage?.functionMs, 1250);
    assert.equal(usage?.functionMbMs, 1250 * 1024);
    assert.equal(usage?.sqsRequests, 3);
    assert.ok((usage?.dynamoRequests ?? 0) >= 2);
  });

  it('refuses a result for a run that does not exist', async () => {
    const store = await newStore('missing-test');
    await assert.rejects(store.recordResult('r-none', result('1:a', 'copied')), RunNotFoundError);
    assert.equal(await store.getRun('r-none'), undefined);
  });
});

describe('DynamoBlobClaims', () => {
  it('grants one claim, answers busy, then present; a failed upload or a stale claim is taken over', async () => {
    const table = await aws.createTable('claims-test');
    const claims = new DynamoBlobClaims(aws.dynamo, table, { staleAfterMs: 60_000 });
    const first = await claims.claim('reg', 'sha256:a', 'team/one');
    assert.equal(first.kind, 'claimed');
    assert.equal((await claims.claim('reg', 'sha256:a', 'team/two')).kind, 'busy');
    if (first.kind === 'claimed') await first.settle(true);
    assert.deepEqual(await claims.claim('reg', 'sha256:a', 'team/two'), { kind: 'present', repository: 'team/one' });
    // The record named a repository that does not hold the blob after all: the next claim replaces it.
    assert.equal((await claims.claim('reg', 'sha256:a', 'team/two', 'team/one')).kind, 'claimed');

    const failing = await claims.claim('reg', 'sha256:b', 'team/one');
    if (failing.kind === 'claimed') await failing.settle(false);
    assert.equal((await claims.claim('reg', 'sha256:b', 'team/two')).kind, 'claimed', 'a failed upload frees the claim');

    const eager = new DynamoBlobClaims(aws.dynamo, table, { staleAfterMs: 1 });
    assert.equal((await eager.claim('reg', 'sha256:c', 'team/one')).kind, 'claimed');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal((await eager.claim('reg', 'sha256:c', 'team/two')).kind, 'claimed', 'a stale claim is taken over');
    assert.equal((await claims.claim('other-reg', 'sha256:a', 'team/one')).kind, 'claimed', 'claims are per registry');
  });

  it('keeps a suspended upload for the next claim of its repository; another repository waits; a stale one starts afresh', async () => {
    const table = await aws.createTable('claims-suspend-test');
    const claims = new DynamoBlobClaims(aws.dynamo, table, { staleAfterMs: 60_000 });
    const first = await claims.claim('reg', 'sha256:d', 'team/one');
    assert.equal(first.kind, 'claimed');
    if (first.kind !== 'claimed') return;
    assert.equal(first.resume, undefined);
    const upload = {
      url: 'https://reg/v2/team/one/blobs/uploads/u1?_state=s1',
      offset: 16 * 1024 * 1024,
      hashState: new Uint8Array([1, 2, 3]),
    };
    await first.suspend?.(upload);
    assert.equal((await claims.claim('reg', 'sha256:d', 'team/two')).kind, 'busy', 'the upload goes on in its own repository');
    const next = await claims.claim('reg', 'sha256:d', 'team/one');
    assert.equal(next.kind, 'claimed');
    if (next.kind !== 'claimed') return;
    assert.deepEqual({ ...next.resume, hashState: [...(next.resume?.hashState ?? [])] }, { ...upload, hashState: [1, 2, 3] });
    assert.equal((await claims.claim('reg', 'sha256:d', 'team/one')).kind, 'busy', 'taken over once');
    await next.settle(true);
    assert.deepEqual(await claims.claim('reg', 'sha256:d', 'team/two'), { kind: 'present', repository: 'team/one' });

    const eager = new DynamoBlobClaims(aws.dynamo, table, { staleAfterMs: 1 });
    const stopped = await eager.claim('reg', 'sha256:e', 'team/one');
    if (stopped.kind === 'claimed') await stopped.suspend?.({ url: 'https://reg/x', offset: 5 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const fresh = await eager.claim('reg', 'sha256:e', 'team/one');
    assert.equal(fresh.kind, 'claimed');
    assert.equal(fresh.kind === 'claimed' ? fresh.resume : 'not claimed', undefined, 'a stale suspended upload is not taken up');
  });
});

describe('SecretCredentials', () => {
  let server: Server;
  let secret = '';
  let requests = 0;
  before(async () => {
    // The Secrets Manager JSON protocol, only GetSecretValue.
    server = createServer((req, res) => {
      req.resume().on('end', () => {
        requests += 1;
        res.setHeader('content-type', 'application/x-amz-json-1.1');
        res.end(JSON.stringify({ ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:auth', Name: 'auth', SecretString: secret }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function client(): SecretsManagerClient {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    return new SecretsManagerClient({ ...TEST_AWS, endpoint: `http://127.0.0.1:${port}` });
  }

  it('reads auth.json from the secret once per cache period and matches the longest key', async () => {
    secret = JSON.stringify({
      'reg.example.com': { username: 'u1', password: 'p1' },
      'reg.example.com/team': { username: 'u2', password: 'p2' },
    });
    requests = 0;
    const credentials = new SecretCredentials(powertoolsSecretReader('auth-cached', { client: client(), maxAgeSeconds: 60 }));
    await credentials.refresh();
    await credentials.refresh();
    assert.equal(requests, 1);
    assert.equal(credentials.lookup('reg.example.com', 'team/app').username, 'u2');
    assert.equal(credentials.lookup('reg.example.com', 'other/app').username, 'u1');
    assert.deepEqual(credentials.lookup('quay.io', 'coreos/etcd'), { insecure: false });
  });

  it('rejects a secret that is not auth.json with a ConfigError that shows no password', async () => {
    secret = '{"reg.example.com": {"username": "u", "password": "hunter2-secret", "token": "x"}}';
    const credentials = new SecretCredentials(powertoolsSecretReader('auth-bad', { client: client(), maxAgeSeconds: 0 }));
    await assert.rejects(credentials.refresh(), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^auth secret: "reg\.example\.com"/);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
  });
});
