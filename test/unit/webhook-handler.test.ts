/**
 * The webhook handler on real signed requests of each format, as a Lambda function URL delivers
 * them. The planner is recorded at its port (the emulator-backed test runs the real one); the
 * replay memory is an in-memory stand-in of the DynamoDB guard with the same contract.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import type { PlannerEvent } from '../../functions/handlers/planner.js';
import { createWebhookHandler, MAX_BODY_BYTES } from '../../functions/handlers/webhook.js';
import type { ReplayGuard } from '../../functions/push/replay-guard.js';
import { signBody } from '../../functions/push/signature.js';

const SECRET = 'webhook-test-key-0123456789';
const NOW = 1_800_000_000;
const PREFIX = '/image-migrator/ImageMigrator/rules/';
const STORED: Record<string, string> = {
  nightly: JSON.stringify({
    'registry.example.com:5000/team/app': 'swr.example.com/mirror/app',
    'harbor.example.com/library/nginx:v1.0': 'swr.example.com/mirror/nginx',
  }),
  tools: JSON.stringify({ 'docker.io/library/busybox': 'swr.example.com/mirror/busybox' }),
};

class MemoryReplayGuard implements ReplayGuard {
  public readonly seen = new Map<string, number>();
  public async remember(signature: string, expiresAt: number): Promise<boolean> {
    if (this.seen.has(signature)) return false;
    this.seen.set(signature, expiresAt);
    return true;
  }
  public async forget(signature: string): Promise<void> {
    this.seen.delete(signature);
  }
}

function request(
  body: string,
  options: { signature?: string | null; timestamp?: number; query?: Record<string, string>; base64?: boolean } = {},
): LambdaFunctionURLEvent {
  const timestamp = options.timestamp ?? NOW;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-image-migrator-timestamp': String(timestamp) };
  if (options.signature !== null) headers['x-image-migrator-signature'] = options.signature ?? signBody(SECRET, timestamp, body);
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    rawQueryString: new URLSearchParams(options.query).toString(),
    headers,
    ...(options.query === undefined ? {} : { queryStringParameters: options.query }),
    requestContext: {
      accountId: 'anonymous',
      apiId: 'x',
      domainName: 'x.lambda-url.us-east-1.on.aws',
      domainPrefix: 'x',
      requestId: 'r',
      routeKey: '$default',
      stage: '$default',
      time: '',
      timeEpoch: NOW * 1000,
      http: { method: 'POST', path: '/', protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' },
    },
    body: options.base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: options.base64 ?? false,
  };
}

describe('webhook handler', () => {
  let planned: PlannerEvent[];
  let guard: MemoryReplayGuard;
  let handler: ReturnType<typeof createWebhookHandler>;

  beforeEach(() => {
    planned = [];
    guard = new MemoryReplayGuard();
    handler = createWebhookHandler({
      logger: new Logger({ logLevel: 'SILENT' }),
      signingSecret: async () => SECRET,
      replayGuard: guard,
      now: () => NOW * 1000 + 1500,
      storedRules: async (name) =>
        name === undefined
          ? Object.entries(STORED).map(([n, text]) => ({ name: `${PREFIX}${n}`, text }))
          : STORED[name] === undefined
            ? undefined
            : [{ name: `${PREFIX}${name}`, text: STORED[name] }],
      plan: async (event) => {
        planned.push(event);
        return {
          runId: `run-${planned.length}`,
          tasks: Object.values(event.images as Record<string, string[]>).flat().length,
          generateFailed: 0,
          expanding: 0,
        };
      },
    });
  });
  const call = async (event: LambdaFunctionURLEvent) => {
    const response = await handler(event);
    return { status: response.statusCode, body: JSON.parse(response.body) as Record<string, unknown> };
  };

  const distribution = JSON.stringify({
    events: [
      {
        action: 'push',
        target: { repository: 'team/app', tag: '1.3', digest: 'sha256:ab' },
        request: { host: 'registry.example.com:5000' },
      },
    ],
  });
  const harbor = JSON.stringify({
    type: 'PUSH_ARTIFACT',
    event_data: {
      resources: [{ tag: 'v1.0', resource_url: 'harbor.example.com/library/nginx:v1.0' }],
      repository: { repo_full_name: 'library/nginx' },
    },
  });
  const plain = JSON.stringify({ repository: 'busybox', tag: '1.36' });

  it('queues a covered tag from each format as a webhook run', async () => {
    assert.deepEqual(await call(request(distribution)), {
      status: 202,
      body: { format: 'distribution', pushed: 1, queued: 1, runId: 'run-1' },
    });
    assert.deepEqual(await call(request(harbor, { base64: true })), {
      status: 202,
      body: { format: 'harbor', pushed: 1, queued: 1, runId: 'run-2' },
    });
    assert.deepEqual(await call(request(plain)), { status: 202, body: { format: 'plain', pushed: 1, queued: 1, runId: 'run-3' } });
    assert.deepEqual(planned, [
      { images: { 'registry.example.com:5000/team/app:1.3': ['swr.example.com/mirror/app:1.3'] }, trigger: 'webhook' },
      { images: { 'harbor.example.com/library/nginx:v1.0': ['swr.example.com/mirror/nginx:v1.0'] }, trigger: 'webhook' },
      { images: { 'docker.io/library/busybox:1.36': ['swr.example.com/mirror/busybox:1.36'] }, trigger: 'webhook' },
    ]);
  });

  it('matches only the rule set named by ?rules=NAME, and answers 404 for an unknown one', async () => {
    assert.deepEqual(await call(request(plain, { query: { rules: 'nightly' } })), {
      status: 202,
      body: { format: 'plain', pushed: 1, queued: 0 },
    });
    assert.deepEqual(await call(request(plain, { query: { rules: 'tools' }, timestamp: NOW + 1 })), {
      status: 202,
      body: { format: 'plain', pushed: 1, queued: 1, runId: 'run-1' },
    });
    assert.deepEqual(await call(request(plain, { query: { rules: 'nope' }, timestamp: NOW + 2 })), {
      status: 404,
      body: { error: 'no stored rules named "nope"' },
    });
  });

  it('acknowledges an unknown repository and a tag no rule covers with queued 0, planning nothing', async () => {
    const unknown = JSON.stringify({ repository: 'registry.example.com:5000/team/other', tag: '1.0' });
    const uncovered = JSON.stringify({ repository: 'harbor.example.com/library/nginx', tag: 'v2.0' });
    assert.deepEqual(await call(request(unknown)), { status: 202, body: { format: 'plain', pushed: 1, queued: 0 } });
    assert.deepEqual(await call(request(uncovered)), { status: 202, body: { format: 'plain', pushed: 1, queued: 0 } });
    assert.equal(planned.length, 0);
  });

  it('refuses unsigned, badly signed and stale requests with 401, and a replay with 409', async () => {
    assert.deepEqual(await call(request(plain, { signature: null })), {
      status: 401,
      body: { error: 'the X-Image-Migrator-Signature header is missing' },
    });
    assert.deepEqual(await call(request(plain, { signature: signBody('guessed', NOW, plain) })), {
      status: 401,
      body: { error: 'the signature does not match the body' },
    });
    assert.deepEqual(await call(request(plain, { timestamp: NOW - 600 })), {
      status: 401,
      body: { error: 'X-Image-Migrator-Timestamp is more than 5 minutes from the current time' },
    });
    assert.equal(planned.length, 0);
    assert.equal((await call(request(plain))).status, 202);
    assert.deepEqual(await call(request(plain)), {
      status: 409,
      body: { error: 'this request was already received (replayed signature)' },
    });
    assert.equal(planned.length, 1, 'the replay queued nothing');
  });

  it('refuses a body over 256 KiB with 413 before checking anything else', async () => {
    const big = JSON.stringify({ repository: 'busybox', tag: '1', pad: 'x'.repeat(MAX_BODY_BYTES) });
    assert.deepEqual(await call(request(big, { signature: null })), {
      status: 413,
      body: { error: 'the body is larger than 262144 bytes' },
    });
    assert.equal(guard.seen.size, 0);
  });

  it('answers 400 to an event that is not a function URL request, and plans nothing', async () => {
    const event = { ...request(plain), body: 42 } as unknown as LambdaFunctionURLEvent;
    assert.deepEqual(await call(event), { status: 400, body: { error: 'not a function URL request' } });
    assert.equal(planned.length, 0);
    assert.equal(guard.seen.size, 0);
  });

  it('refuses a signed body in an unknown format with 400', async () => {
    const response = await call(request('{"hello":"world"}'));
    assert.equal(response.status, 400);
    assert.match(
      String(response.body.error),
      /^unrecognised payload: no "events", Harbor "type"\/"event_data", or "repository" and "tag"; expected/,
    );
    assert.equal(planned.length, 0);
  });

  it('lets a request whose planning failed be sent again', async () => {
    let fail = true;
    const flaky = createWebhookHandler({
      logger: new Logger({ logLevel: 'SILENT' }),
      signingSecret: async () => SECRET,
      replayGuard: guard,
      now: () => NOW * 1000,
      storedRules: async () => [{ name: `${PREFIX}tools`, text: STORED.tools! }],
      plan: async () => {
        if (fail) throw new Error('SQS unavailable');
        return { runId: 'run-x', tasks: 1, generateFailed: 0, expanding: 0 };
      },
    });
    const first = await flaky(request(plain));
    assert.deepEqual([first.statusCode, JSON.parse(first.body)], [500, { error: 'the push could not be queued; try again' }]);
    fail = false;
    assert.equal((await flaky(request(plain))).statusCode, 202);
  });
});
