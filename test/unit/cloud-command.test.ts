/**
 * `image-migrator cloud`: argument and file validation, the errors for a missing stack or output,
 * a waited run and the stored auth secret. The AWS control plane cannot run here, so a small HTTP
 * server on 127.0.0.1 answers the three calls the command makes, in AWS's own wire formats:
 * CloudFormation DescribeStacks (query/XML), Lambda Invoke (REST/JSON), Secrets Manager
 * PutSecretValue (JSON 1.1). The requests it received are what the assertions read.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Command } from 'commander';
import { addCloudCommand } from '../../cli/cloud-command.js';

interface Received {
  target: string;
  body: string;
}
type FunctionAnswer = { status?: number; error?: string; body: unknown };

const XMLNS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';
let server: Server;
let endpoint: string;
let dir: string;
let received: Received[] = [];
let outputs: Record<string, string> | undefined;
let functions: Record<string, (event: Record<string, unknown>) => FunctionAnswer> = {};

function stackXml(name: string, values: Record<string, string>): string {
  const members = Object.entries(values)
    .map(([k, v]) => `<member><OutputKey>${k}</OutputKey><OutputValue>${v}</OutputValue></member>`)
    .join('');
  return (
    `<DescribeStacksResponse xmlns="${XMLNS}"><DescribeStacksResult><Stacks><member><StackName>${name}</StackName>` +
    `<StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/${name}/1</StackId><StackStatus>CREATE_COMPLETE</StackStatus>` +
    `<CreationTime>2026-11-27T10:00:00Z</CreationTime><Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult>` +
    `<ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeStacksResponse>`
  );
}

async function answer(request: IncomingMessage, body: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const invocation = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(request.url ?? '');
  if (invocation) {
    const name = decodeURIComponent(invocation[1]!);
    received.push({ target: `lambda:${name}`, body });
    const result = functions[name]!(JSON.parse(body));
    return {
      status: 200,
      headers: { 'content-type': 'application/json', ...(result.error ? { 'x-amz-function-error': result.error } : {}) },
      body: JSON.stringify(result.body),
    };
  }
  const target = request.headers['x-amz-target'];
  if (target === 'secretsmanager.PutSecretValue') {
    received.push({ target, body });
    const secretId = JSON.parse(body).SecretId;
    return {
      status: 200,
      headers: { 'content-type': 'application/x-amz-json-1.1' },
      body: JSON.stringify({ ARN: secretId, Name: 'Auth', VersionId: 'v2' }),
    };
  }
  const form = new URLSearchParams(body);
  received.push({ target: `cloudformation:${form.get('Action')}`, body });
  if (outputs === undefined) {
    return {
      status: 400,
      headers: { 'content-type': 'text/xml' },
      body: `<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${form.get('StackName')} does not exist</Message></Error><RequestId>r2</RequestId></ErrorResponse>`,
    };
  }
  return { status: 200, headers: { 'content-type': 'text/xml' }, body: stackXml(form.get('StackName') ?? '', outputs) };
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const program = new Command('image-migrator')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void (stdout += s), writeErr: (s) => void (stderr += s) });
  addCloudCommand(program, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
    aws: { endpoint, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' } },
    pollMs: 10,
  });
  process.exitCode = 0;
  let code: number;
  try {
    await program.parseAsync([...args, '--region', 'us-east-1'], { from: 'user' });
    code = Number(process.exitCode ?? 0);
  } catch (error) {
    code = (error as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  process.exitCode = 0;
  return { code, stdout, stderr };
}

const DEPLOYED = {
  PlannerFunctionName: 'ImageMigrator-Planner',
  SummaryFunctionName: 'ImageMigrator-Summary',
  AuthSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:Auth-AbCdEf',
};
const IMAGES = '{\n  "quay.io/coreos/etcd:3.5": "",\n  "quay.io/coreos/etcd:3.5": "swr.example.com/other/etcd"\n}\n';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cloud-command-'));
  await writeFile(join(dir, 'images.json'), IMAGES);
  await writeFile(join(dir, 'bad-images.json'), '{ "quay.io": "swr.example.com/test/x" }');
  await writeFile(
    join(dir, 'auth.json'),
    '{ "swr.example.com/test": { "username": "robot", "password": "${SWR_PASSWORD}" }, "quay.io": {} }',
  );
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      void answer(request, body).then((a) => {
        response.writeHead(a.status, a.headers);
        response.end(a.body);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  received = [];
  outputs = DEPLOYED;
  functions = {};
});

describe('image-migrator cloud', () => {
  it('requires --images for run and --auth for auth put, before any AWS call', async () => {
    const run = await cli(['cloud', 'run']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /required option '--images <file>' not specified/);
    const auth = await cli(['cloud', 'auth', 'put']);
    assert.equal(auth.code, 2);
    assert.match(auth.stderr, /required option '--auth <file>' not specified/);
    assert.deepEqual(received, []);
  });

  it('rejects an invalid images.json with exit 2 and the local error, without calling AWS', async () => {
    const result = await cli(['cloud', 'run', '--images', join(dir, 'bad-images.json')]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /bad-images\.json: "quay\.io": rule 1: the source names a namespace or registry, not a repository/);
    assert.deepEqual(received, []);
  });

  it('says how to deploy when the stack does not exist', async () => {
    outputs = undefined;
    const result = await cli(['cloud', 'status', 'run-1', '--stack', 'Nope']);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      'image-migrator: stack "Nope" was not found in region us-east-1: deploy it with "npx cdk deploy", or name it with --stack and --region\n',
    );
  });

  it('names the missing output when the stack is not an image-migrator stack', async () => {
    outputs = { BucketName: 'x' };
    const result = await cli([
      'cloud',
      'run',
      '--images',
      join(dir, 'images.json'),
      '--registry',
      'swr.example.com',
      '--namespace',
      'test',
    ]);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      'image-migrator: stack "ImageMigrator" has no output "PlannerFunctionName": is it an image-migrator stack? Deploy this version with "npx cdk deploy"\n',
    );
    assert.deepEqual(
      received.map((r) => r.target),
      ['cloudformation:DescribeStacks'],
    );
  });

  it('runs with --wait: sends the file text to the planner, polls the summary, prints the summary line and exits 1 on a failed task', async () => {
    let polls = 0;
    const summary = (finished: boolean) => ({
      runId: 'run-1',
      trigger: 'manual',
      startedAt: '2026-11-27T10:00:00Z',
      finished,
      bytes: 1024,
      durationMs: 5,
      tasks: 2,
      copied: finished ? 1 : 0,
      upToDate: 0,
      failed: finished ? 1 : 0,
      generateFailed: 0,
      failures: finished ? [{ source: 'quay.io/coreos/etcd:3.5', destination: 'swr.example.com/other/etcd:3.5', error: 'denied' }] : [],
      generateFailures: [],
      line: 'Images(2) migration finished, 1 images tasks failed, 0 tasks generate failed',
    });
    functions = {
      'ImageMigrator-Planner': () => ({ body: { runId: 'run-1', tasks: 2, generateFailed: 0, expanding: 0 } }),
      'ImageMigrator-Summary': () => ({ body: summary(++polls >= 2) }),
    };
    const result = await cli(['cloud', 'run', '--images', join(dir, 'images.json'), '--wait'], {
      DEFAULT_REGISTRY: 'swr.example.com',
      DEFAULT_NAMESPACE: 'test',
    });
    assert.equal(result.code, 1);
    assert.equal(
      result.stdout,
      'Start to generate images tasks, please wait ...\nStart to handle images tasks, please wait ...\nImages(2) migration finished, 1 images tasks failed, 0 tasks generate failed\n',
    );
    assert.match(result.stderr, /0\/2 tasks done: 0 copied, 0 up to date, 0 failed, 0 tasks generate failed\n/);
    assert.match(result.stderr, /failed: quay\.io\/coreos\/etcd:3\.5 -> swr\.example\.com\/other\/etcd:3\.5: denied\n/);
    const planned = JSON.parse(received.find((r) => r.target === 'lambda:ImageMigrator-Planner')!.body);
    assert.deepEqual(planned, { images: IMAGES, trigger: 'manual', registry: 'swr.example.com', namespace: 'test' });
    // Two polls that read counters only, then one read of the failures of the finished run.
    const asked = received.filter((r) => r.target === 'lambda:ImageMigrator-Summary').map((r) => JSON.parse(r.body).failures);
    assert.deepEqual(asked, [0, 0, 20]);
    assert.equal(polls, 3);
  });

  it('asks the planner for a run without the run state with --no-state', async () => {
    functions = { 'ImageMigrator-Planner': () => ({ body: { runId: 'run-2', tasks: 2, generateFailed: 0, expanding: 0 } }) };
    const result = await cli(['cloud', 'run', '--images', join(dir, 'images.json'), '--no-state'], {
      DEFAULT_REGISTRY: 'swr.example.com',
      DEFAULT_NAMESPACE: 'test',
    });
    assert.equal(result.code, 0, result.stderr);
    const planned = JSON.parse(received.find((r) => r.target === 'lambda:ImageMigrator-Planner')!.body);
    assert.equal(planned.state, false);
  });

  it('prints requests and estimated cost, and pages failures up to --failures', async () => {
    const usage = {
      functionMs: 60_000,
      functionMbMs: 60_000 * 1024,
      invocations: 100,
      sqsRequests: 2300,
      dynamoRequests: 3000,
      readUnits: 17_000,
      writeUnits: 4000,
    };
    const failure = (i: number) => ({ source: `quay.io/a/b:${i}`, destination: `swr.example.com/a/b:${i}`, error: `boom ${i}` });
    functions = {
      'ImageMigrator-Summary': (event) => {
        const from = event.after === undefined ? 0 : Number(event.after);
        const page = Array.from({ length: Math.min(Number(event.failures), 5 - from) }, (_, i) => failure(from + i));
        return {
          body: {
            runId: 'run-7',
            trigger: 'manual',
            startedAt: '2026-11-27T10:00:00Z',
            finished: true,
            bytes: 10,
            tasks: 1000,
            copied: 995,
            upToDate: 0,
            failed: 5,
            generateFailed: 0,
            requests: 2400,
            usage,
            failures: page,
            generateFailures: [],
            ...(from + page.length < 5 ? { nextFailures: String(from + page.length) } : {}),
            line: 'Images(1000) migration finished, 5 images tasks failed, 0 tasks generate failed',
          },
        };
      },
    };
    const result = await cli(['cloud', 'status', 'run-7', '--failures', '3']);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /995 copied, 0 up to date, 5 failed, 0 tasks generate failed, 10 bytes copied, 2400 registry requests\n/);
    // 60 GB-s at $0.0000166667, 100 invocations, 2,300 SQS requests, 4,000 WRU and 17,000 RRU at list prices.
    assert.match(
      result.stdout,
      /Requests: 2300 SQS, 3000 DynamoDB \(4000 write units, 17000 read units\), 100 function invocations, 60\.0 GB-s\n/,
    );
    assert.match(
      result.stdout,
      /Estimated cost: \$0\.006565 \(\$0\.006565 per 1,000 tasks\): Lambda \$0\.001020, SQS \$0\.000920, DynamoDB \$0\.004625\n/,
    );
    assert.equal((result.stderr.match(/^failed: /gm) ?? []).length, 3);
    assert.match(result.stderr, /\.\.\. and 2 more failed tasks \(show them with --failures 5\)\n/);
    const all = await cli(['cloud', 'status', 'run-7', '--failures', '5', '--prices', 'gbSecond=0']);
    assert.equal((all.stderr.match(/^failed: /gm) ?? []).length, 5);
    assert.match(all.stdout, /Lambda \$0\.000020,/);
    const bad = await cli(['cloud', 'status', 'run-7', '--prices', 'lambda=1']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--prices: "lambda": is not a price; use gbSecond, invocations, sqs, writes, reads/);
  });

  it('passes a planner ConfigError through with exit 2', async () => {
    functions = {
      'ImageMigrator-Planner': () => ({ error: 'Unhandled', body: { errorType: 'ConfigError', errorMessage: 'images: "x": rule 3: bad' } }),
    };
    const result = await cli([
      'cloud',
      'run',
      '--images',
      join(dir, 'images.json'),
      '--registry',
      'swr.example.com',
      '--namespace',
      'test',
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /image-migrator: the planner function failed: images: "x": rule 3: bad\n$/);
  });

  it('sends a large images.json gzipped, and refuses one too large for a Lambda event even so, without invoking the planner', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `  "quay.io/team${i % 100}/app${i}:v${i}": "swr.example.com/mirror/app${i}"`);
    const large = `{\n${lines.join(',\n')}\n}\n`;
    await writeFile(join(dir, 'large-images.json'), large);
    functions = {
      'ImageMigrator-Planner': () => ({ body: { runId: 'run-2', tasks: 20_000, generateFailed: 0, expanding: 0, slices: 25 } }),
    };
    const sent = await cli(['cloud', 'run', '--images', join(dir, 'large-images.json')]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stderr, /^run run-2: 20000 tasks planned \(25 plan slices for the copiers to send\), 0 tasks generate failed\n$/);
    const event = JSON.parse(received.find((r) => r.target === 'lambda:ImageMigrator-Planner')!.body) as Record<string, string>;
    assert.equal(event.images, undefined);
    assert.equal(gunzipSync(Buffer.from(event.imagesGzip!, 'base64')).toString('utf8'), large);
    assert.ok(Buffer.byteLength(JSON.stringify(event)) < Buffer.byteLength(large) / 5, 'compressed about tenfold');

    // Names no compressor can shrink much: 10 MB of rules, more than 6 MB gzipped in base64.
    const noise = (n: number): string => Array.from(randomBytes(n), (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
    const random = Array.from({ length: 40_000 }, () => `  "quay.io/team/${noise(110)}:v1": "swr.example.com/mirror/${noise(110)}"`);
    await writeFile(join(dir, 'huge-images.json'), `{\n${random.join(',\n')}\n}\n`);
    received = [];
    const refused = await cli(['cloud', 'run', '--images', join(dir, 'huge-images.json')]);
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /^image-migrator: .*huge-images\.json is \d+\.\d MB, \d+\.\d MB gzipped in base64: more than the 6 MB a Lambda invocation takes; split the rules into several files and start a run for each\n$/,
    );
    assert.equal(received.filter((r) => r.target.startsWith('lambda:')).length, 0);
  });

  it('exits 2 for an unknown run and 1 for a summary in a form it cannot read', async () => {
    functions = {
      'ImageMigrator-Summary': () => ({
        error: 'Unhandled',
        body: { errorType: 'UnknownRunError', errorMessage: 'no run "run-0": it was never planned, or it expired' },
      }),
    };
    const unknown = await cli(['cloud', 'status', 'run-0']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, 'image-migrator: the summary function failed: no run "run-0": it was never planned, or it expired\n');
    functions = { 'ImageMigrator-Summary': () => ({ body: { runId: 'run-0', finished: 'yes' } }) };
    const odd = await cli(['cloud', 'status', 'run-0']);
    assert.equal(odd.code, 1);
    assert.match(
      odd.stderr,
      /^image-migrator: the summary function answered in an unexpected form \(trigger: .*deploy this version with "npx cdk deploy"\n$/,
    );
  });

  it('prints the status of a run in progress and exits 0', async () => {
    functions = {
      'ImageMigrator-Summary': () => ({
        body: {
          runId: 'run-9',
          trigger: 'schedule:nightly',
          startedAt: '2026-11-27T10:00:00Z',
          finished: false,
          bytes: 0,
          tasks: 4,
          copied: 1,
          upToDate: 2,
          failed: 0,
          generateFailed: 0,
          failures: [],
          generateFailures: [],
          line: '',
        },
      }),
    };
    const result = await cli(['cloud', 'status', 'run-9']);
    assert.equal(result.code, 0);
    assert.equal(
      result.stdout,
      'Run run-9 (schedule:nightly, started 2026-11-27T10:00:00Z): in progress\n3/4 tasks done: 1 copied, 2 up to date, 0 failed, 0 tasks generate failed, 0 bytes copied\n',
    );
  });

  it('stores auth.json with ${VAR} resolved (a "$" kept literal) and never prints the password', async () => {
    const result = await cli(['cloud', 'auth', 'put', '--auth', join(dir, 'auth.json')], { SWR_PASSWORD: 'pa$$word-1' });
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `Stored 2 registry entries of ${join(dir, 'auth.json')} in the secret of stack "ImageMigrator"\n`);
    const put = JSON.parse(received.find((r) => r.target === 'secretsmanager.PutSecretValue')!.body);
    assert.equal(put.SecretId, DEPLOYED.AuthSecretArn);
    assert.deepEqual(JSON.parse(put.SecretString), {
      'swr.example.com/test': { username: 'robot', password: 'pa$$$$word-1' },
      'quay.io': {},
    });
    assert.doesNotMatch(result.stdout + result.stderr, /pa\$\$word|robot/);
  });

  it('refuses an auth.json whose variable is unset, naming the variable, without calling AWS', async () => {
    const result = await cli(['cloud', 'auth', 'put', '--auth', join(dir, 'auth.json')], {});
    assert.equal(result.code, 2);
    assert.match(result.stderr, /SWR_PASSWORD/);
    assert.deepEqual(received, []);
  });
});
