/**
 * The run state on AWS with real parts: the planner, copier and summary handlers over SQS (fauxqs) and
 * DynamoDB Local through the real SDK clients, the event source driver, and real registries. A warm
 * scheduled mirror run of N unchanged tags in R repositories costs N + 2R registry requests and sends
 * no copy message; a changed source tag, a destination tag deleted behind the state's back and
 * corrupt, wrong or foreign state items are all copied or compared in full; the counts, the summary
 * line and the single finish event stay right; a rule's platforms are part of its items' keys, so a
 * changed platform list is copied again. With the state off, the same run is measured as
 * before (a copy message, a manifest GET and a destination HEAD per tag), and the `aws-state:` line
 * prints both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutCommand, QueryCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { DynamoCopyState } from '../../functions/adapters/dynamo-copy-state.js';
import { stateKey } from '../../functions/adapters/dynamo-items.js';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { scheduledPlannerEvent } from '../../infra/constructs/rule-schedules.js';
import { mapLimit } from '../../shared/copy/limit.js';
import { countRequest } from '../../shared/pipeline/request-count.js';
import type { RegistryClient } from '../../shared/registry/client.js';
import { secretBackedRegistry, testPipeline, type TestPipeline } from '../support/aws-fixture.js';
import { startAwsEmulators, type AwsEmulators } from '../support/aws-emulators.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestBytes, getManifestDigest, pushImage, pushIndex, type SeededImage } from '../support/seed.js';
import { seedFetch } from '../support/seed-http.js';
import { driveUntilDone, type SqsHandler } from '../support/sqs-lambda-driver.js';

const PREFIX = '/image-migrator/ImageMigrator/rules/';
// STATE_REPOSITORIES and STATE_TAGS (a repository) scale the runs for measurement, e.g. 4 x 250 for 1,000 tags.
const REPOSITORIES = Array.from({ length: Math.max(2, Number(process.env.STATE_REPOSITORIES ?? 2)) }, (_, i) =>
  String.fromCharCode(97 + i),
);
const TAGS = Array.from({ length: Math.max(4, Number(process.env.STATE_TAGS ?? 4)) }, (_, i) => `v${i + 1}`);
const WORKERS = Number(process.env.STATE_WORKERS ?? 3);
const N = REPOSITORIES.length * TAGS.length;
const R = REPOSITORIES.length;
const BLOB_KINDS = ['blob-head', 'blob-get', 'blob-mount', 'upload-start', 'blob-put'];

/** What one run cost and showed. */
interface Measured {
  readonly summary: Awaited<ReturnType<TestPipeline['summary']>>;
  readonly requests: Record<string, number>;
  readonly copyMessages: number;
  readonly expandMessages: number;
  readonly invocations: number;
  readonly finishEvents: number;
}

describe('run state on AWS: a warm mirror run costs N + 2R registry requests and no copy message', () => {
  let aws: AwsEmulators;
  let src: TestRegistry;
  let dst: TestRegistry;
  let registry: RegistryClient;
  let store: DynamoResultStore;
  let table: string;
  let stored: Record<string, string>;
  let requests: Record<string, number> = {};
  const pipelines = new Map<string, TestPipeline>();

  before(async () => {
    [aws, src, dst] = await Promise.all([startAwsEmulators(), startRegistry(), startRegistry({ auth: 'basic' })]);
    const images = REPOSITORIES.flatMap((repo) => TAGS.map((tag) => ({ repo, tag })));
    await mapLimit(images, 8, ({ repo, tag }) => pushImage(src, `team/${repo}`, tag));
    // One client for every invocation, as a warm Lambda container keeps it.
    registry = await secretBackedRegistry(
      { [src.host]: { insecure: true }, [dst.host]: { username: dst.username, password: dst.password, insecure: true } },
      {
        retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 200 },
        onRequest: (kind) => {
          requests[kind] = (requests[kind] ?? 0) + 1;
          countRequest();
        },
      },
    );
    table = await aws.createTable('image-migrator-state');
    store = new DynamoResultStore(aws.dynamo, table);
    stored = {};
  });

  after(async () => {
    await registry?.close();
    await Promise.all([aws?.stop(), src?.stop(), dst?.stop()]);
  });

  /** The pipeline of a queue; `state` false builds it as the stack does with `runState: false`. */
  async function pipeline(name: string, state: boolean): Promise<TestPipeline> {
    const key = `${name}:${state}`;
    const existing = pipelines.get(key);
    if (existing !== undefined) return existing;
    const created = await testPipeline(aws, store, registry, `${name}-${state ? 'state' : 'nostate'}`, {
      maxReceiveCount: 3,
      visibilityTimeoutSeconds: 30,
      backoff: { baseMs: 100, maxMs: 500 },
      readRules: async (parameter) => stored[parameter] ?? Promise.reject(new Error(`no parameter ${parameter}`)),
      ...(state ? { copyState: new DynamoCopyState(aws.dynamo, table, { meter: store.meter }) } : {}),
    });
    pipelines.set(key, created);
    return created;
  }

  /** Stores `rules` as the schedule `name`, runs it as the schedule does, and measures the run. */
  async function scheduledRun(
    name: string,
    rules: Record<string, unknown>,
    state = true,
    event: { state?: boolean } = {},
  ): Promise<Measured> {
    stored[`${PREFIX}${name}`] = JSON.stringify(rules);
    const p = await pipeline(name, state);
    // Messages, not deliveries: a message SQS delivers again (a slow invocation under load) counts once.
    const copyMessages = new Set<string>();
    const expandMessages = new Set<string>();
    const counting: SqsHandler = (event: SQSEvent, context) => {
      for (const record of event.Records) {
        if ((JSON.parse(record.body) as { type?: string }).type === 'expand') expandMessages.add(record.messageId);
        else copyMessages.add(record.messageId);
      }
      return p.copier(event, context);
    };
    requests = {};
    const planned = await p.planner({ ...scheduledPlannerEvent(PREFIX, name), ...event });
    const stats = await driveUntilDone({
      sqs: aws.sqs,
      main: { queueUrl: p.queueUrl, handler: counting, batchSize: 1, workers: WORKERS },
      isDone: p.finished(planned.runId),
      timeoutMs: 60_000 + N * 500,
    });
    const measuredRequests = { ...requests };
    const summary = await p.summary({ runId: planned.runId });
    return {
      summary,
      requests: measuredRequests,
      copyMessages: copyMessages.size,
      expandMessages: expandMessages.size,
      invocations: stats.main.batches,
      finishEvents: p.notifier.sent.filter((d) => d.runId === planned.runId).length,
    };
  }

  const mirror = (to: string): Record<string, string> =>
    Object.fromEntries(REPOSITORIES.map((r) => [`${src.host}/team/${r}`, `${dst.host}/${to}/${r}`]));
  const manifestRequests = (r: Record<string, number>): number => (r['manifest-get'] ?? 0) + (r['manifest-head'] ?? 0);
  const blobRequests = (r: Record<string, number>): number => BLOB_KINDS.reduce((sum, k) => sum + (r[k] ?? 0), 0);
  const registryRequests = (r: Record<string, number>): number =>
    Object.entries(r).reduce((sum, [kind, n]) => sum + (kind === 'token' ? 0 : n), 0);

  async function stateItems(): Promise<Record<string, unknown>[]> {
    const doc = DynamoDBDocumentClient.from(aws.dynamo);
    const items: Record<string, unknown>[] = [];
    for (const repo of REPOSITORIES) {
      const out = await doc.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `STATE#${src.host}/team/${repo}#${dst.host}/mirror/${repo}` },
        }),
      );
      for (const item of out.Items ?? []) items.push(item);
    }
    return items;
  }

  async function putStateItem(repo: string, tag: string, fields: Record<string, unknown>, keyTag = tag): Promise<void> {
    const key = stateKey({ source: `${src.host}/team/${repo}:${keyTag}`, destination: `${dst.host}/mirror/${repo}:${keyTag}` });
    assert.ok(key !== undefined);
    await DynamoDBDocumentClient.from(aws.dynamo).send(new PutCommand({ TableName: table, Item: { ...key, ...fields } }));
  }

  let full: Measured;
  let warm: Measured;

  it('learns every copy on the first run; the warm run settles every tag with one source HEAD in the expansion', async () => {
    const cold = await scheduledRun('nightly', mirror('mirror'));
    assert.deepEqual(
      { copied: cold.summary.copied, upToDate: cold.summary.upToDate, failed: cold.summary.failed, copyMessages: cold.copyMessages },
      { copied: N, upToDate: 0, failed: 0, copyMessages: N },
    );
    const items = await stateItems();
    assert.equal(items.length, N, 'one state item per tag copied');
    for (const item of items) {
      assert.deepEqual(Object.keys(item).sort(), [
        'destination',
        'destinationDigest',
        'expiresAt',
        'pk',
        'recordedAt',
        'sk',
        'source',
        'sourceDigest',
      ]);
      assert.equal(item.destinationDigest, item.sourceDigest);
    }

    warm = await scheduledRun('nightly', mirror('mirror'));
    assert.equal(warm.summary.line, `Images(${N}) migration finished, 0 images tasks failed, 0 tasks generate failed`);
    assert.deepEqual(
      { tasks: warm.summary.tasks, copied: warm.summary.copied, upToDate: warm.summary.upToDate, failed: warm.summary.failed },
      { tasks: N, copied: 0, upToDate: N, failed: 0 },
    );
    assert.equal(warm.copyMessages, 0, 'no copy message for an unchanged tag');
    assert.equal(warm.expandMessages, R);
    assert.equal(warm.finishEvents, 1);
    assert.equal(warm.requests['manifest-get'] ?? 0, 0, 'no manifest GET');
    assert.equal(warm.requests['manifest-head'], N, 'one source HEAD a tag');
    assert.equal(warm.requests['tag-list'], 2 * R, 'the source and the destination listed once each');
    assert.equal(blobRequests(warm.requests), 0);
    assert.ok(registryRequests(warm.requests) <= N + 2 * R, JSON.stringify(warm.requests));
    assert.equal(warm.summary.requests, N, "the tasks' requests: their source HEADs");
  });

  it('with the state off (runState: false) the same warm run is compared in full, a copy message a tag', async () => {
    full = await scheduledRun('nightly', mirror('mirror'), false);
    assert.deepEqual(
      { copied: full.summary.copied, upToDate: full.summary.upToDate, copyMessages: full.copyMessages, finishEvents: full.finishEvents },
      { copied: 0, upToDate: N, copyMessages: N, finishEvents: 1 },
    );
    assert.equal(full.requests['manifest-get'], N);
    assert.equal(full.requests['manifest-head'], N);
    assert.equal(blobRequests(full.requests), 0);
    const perThousand = (n: number): string => (n * (1000 / N)).toFixed(0);
    const line = (m: Measured): string =>
      `${m.summary.durationMs} ms, ${m.copyMessages + m.expandMessages} messages, ${m.invocations} copier invocations, ${m.summary.usage.sqsRequests.toFixed(0)} SQS requests, ` +
      `${m.summary.usage.dynamoRequests} DynamoDB requests, ${registryRequests(m.requests)} registry requests (${manifestRequests(m.requests)} manifest) ` +
      `-> per 1,000 tags: ${perThousand(m.copyMessages + m.expandMessages)} messages, ${perThousand(m.invocations)} invocations, ` +
      `${perThousand(m.summary.usage.sqsRequests)} SQS, ${perThousand(m.summary.usage.dynamoRequests)} DynamoDB, ${perThousand(registryRequests(m.requests))} registry`;
    console.log(`aws-state: warm run of ${N} tags in ${R} repositories, state off: ${line(full)}`);
    console.log(`aws-state: warm run of ${N} tags in ${R} repositories, state on:  ${line(warm)}`);
    assert.ok(warm.summary.usage.sqsRequests < full.summary.usage.sqsRequests);
    assert.ok(warm.invocations < full.invocations);
  });

  it('copies a source tag that changed and a destination tag deleted behind its back; the others cost a HEAD each', async () => {
    const changed = await pushImage(src, 'team/a', 'v2');
    const gone = await getManifestDigest(dst, 'mirror/b', 'v3');
    const deleted = await seedFetch(dst, 'mirror/b', `/v2/mirror/b/manifests/${gone}`, { method: 'DELETE' });
    assert.equal(deleted.status, 202);
    assert.equal(await getManifestDigest(dst, 'mirror/b', 'v3'), undefined);

    const run = await scheduledRun('nightly', mirror('mirror'));
    assert.deepEqual(
      { copied: run.summary.copied, upToDate: run.summary.upToDate, failed: run.summary.failed, copyMessages: run.copyMessages },
      { copied: 2, upToDate: N - 2, failed: 0, copyMessages: 2 },
    );
    assert.equal(run.summary.line, `Images(${N}) migration finished, 0 images tasks failed, 0 tasks generate failed`);
    assert.equal(run.finishEvents, 1);
    assert.equal(await getManifestDigest(dst, 'mirror/a', 'v2'), changed.digest);
    assert.equal(await getManifestDigest(dst, 'mirror/b', 'v3'), await getManifestDigest(src, 'team/b', 'v3'));
    // The two copies compare in full (a GET and a destination HEAD each) without asking the state again.
    assert.equal(run.requests['manifest-get'], 2);

    const next = await scheduledRun('nightly', mirror('mirror'));
    assert.deepEqual(
      { upToDate: next.summary.upToDate, copyMessages: next.copyMessages },
      { upToDate: N, copyMessages: 0 },
      'the copies were recorded',
    );
  });

  it('never skips a changed image for a corrupt, wrong or foreign state item, and repairs them', async () => {
    const changed = await pushImage(src, 'team/b', 'v1');
    const old = await getManifestDigest(dst, 'mirror/b', 'v1');
    const current = async (repo: string, tag: string): Promise<string> => (await getManifestDigest(src, `team/${repo}`, tag)) ?? '';
    const bogus = `sha256:${'0'.repeat(64)}`;
    const refs = (repo: string, tag: string) => ({
      source: `${src.host}/team/${repo}:${tag}`,
      destination: `${dst.host}/mirror/${repo}:${tag}`,
    });
    // Not a digest: ignored.
    await putStateItem('a', 'v1', { ...refs('a', 'v1'), sourceDigest: 'sha256:zzz', destinationDigest: await current('a', 'v1') });
    // A digest the source never had: the source HEAD refutes it.
    await putStateItem('a', 'v3', { ...refs('a', 'v3'), sourceDigest: bogus, destinationDigest: bogus });
    // The source moved on since the item was written (v1 of team/b changed above): the HEAD refutes it too.
    assert.notEqual(old, changed.digest);
    // An item whose references are not those of its key (another tag's record under v2's key): ignored.
    await putStateItem('b', 'v2', {
      ...refs('b', 'v4'),
      sourceDigest: await current('b', 'v4'),
      destinationDigest: await current('b', 'v4'),
    });
    // Fields of the wrong type: ignored.
    await putStateItem('b', 'v4', { ...refs('b', 'v4'), sourceDigest: 42, destinationDigest: ['x'] });

    const run = await scheduledRun('nightly', mirror('mirror'));
    assert.equal(run.summary.line, `Images(${N}) migration finished, 0 images tasks failed, 0 tasks generate failed`);
    assert.deepEqual(
      { copied: run.summary.copied, upToDate: run.summary.upToDate, copyMessages: run.copyMessages },
      { copied: 1, upToDate: N - 1, copyMessages: 5 },
    );
    assert.equal(await getManifestDigest(dst, 'mirror/b', 'v1'), changed.digest);
    const repaired = await stateItems();
    assert.equal(repaired.length, N);
    for (const item of repaired) {
      const [repo, tag] = /team\/(\w+):(\w+)$/.exec(String(item.source))?.slice(1) ?? [];
      assert.equal(item.sourceDigest, await current(repo ?? '', tag ?? ''), `${String(item.sk)} holds the source's digest again`);
      assert.equal(item.destinationDigest, item.sourceDigest);
    }
    const next = await scheduledRun('nightly', mirror('mirror'));
    assert.deepEqual({ upToDate: next.summary.upToDate, copyMessages: next.copyMessages }, { upToDate: N, copyMessages: 0 });
  });

  it('a run started with "state": false compares every tag in full and writes nothing; the next run checks again', async () => {
    const changed = await pushImage(src, 'team/a', 'v4');
    const recorded = (await stateItems()).find((item) => String(item.source).endsWith('team/a:v4'));
    const run = await scheduledRun('nightly', mirror('mirror'), true, { state: false });
    assert.deepEqual(
      { copied: run.summary.copied, upToDate: run.summary.upToDate, copyMessages: run.copyMessages, finishEvents: run.finishEvents },
      { copied: 1, upToDate: N - 1, copyMessages: N, finishEvents: 1 },
    );
    assert.equal(run.requests['manifest-get'], N);
    assert.equal(await getManifestDigest(dst, 'mirror/a', 'v4'), changed.digest);
    const kept = (await stateItems()).find((item) => String(item.source).endsWith('team/a:v4'));
    assert.deepEqual(kept, recorded, 'the state was not written');

    const next = await scheduledRun('nightly', mirror('mirror'));
    // The stale item of v4 is refuted by its source HEAD: compared in full, found up to date, recorded.
    assert.deepEqual({ upToDate: next.summary.upToDate, copyMessages: next.copyMessages }, { upToDate: N, copyMessages: 1 });
    const again = await scheduledRun('nightly', mirror('mirror'));
    assert.equal(again.copyMessages, 0);
  });

  it('tag rules cost one manifest request a tag (the source HEAD); immutable rules none for a tag at the destination', async () => {
    // Referrers off: a tag rule looks for the image's referrers by default, which costs the same with or without a state.
    const rules = {
      [`${src.host}/team/a:v1`]: { to: `${dst.host}/tagged/a:v1`, referrers: false },
      [`${src.host}/team/a:v2`]: { to: `${dst.host}/tagged/a:stable`, referrers: false },
      [`${src.host}/team/b:v1`]: { to: `${dst.host}/tagged/b`, referrers: false },
      [`${src.host}/team/b`]: { to: `${dst.host}/frozen/b`, immutable: true },
      [`${src.host}/team/a:v4`]: { to: `${dst.host}/frozen/a`, immutable: true, referrers: false },
      // The string form: its referrers are looked for after the state settled the image itself.
      [`${src.host}/team/b:v2`]: `${dst.host}/tagged/plain`,
    };
    const tasks = 3 + TAGS.length + 1 + 1;
    const cold = await scheduledRun('tagged', rules);
    assert.deepEqual({ copied: cold.summary.copied, failed: cold.summary.failed }, { copied: tasks, failed: 0 });

    const run = await scheduledRun('tagged', rules);
    assert.equal(run.summary.line, `Images(${tasks}) migration finished, 0 images tasks failed, 0 tasks generate failed`);
    assert.deepEqual({ upToDate: run.summary.upToDate, finishEvents: run.finishEvents }, { upToDate: tasks, finishEvents: 1 });
    // Tag rules are copy messages still (one each, the planner lists nothing); the immutable all-tags rule sends none.
    assert.equal(run.copyMessages, 5);
    assert.equal(run.requests['manifest-get'] ?? 0, 0);
    assert.equal(run.requests['manifest-head'], 4, 'one source HEAD for each mutable tag rule, none for an immutable tag');
    // A tag list for each tag rule's destination (one task an invocation), the source's for the referrers
    // of the string-form rule (fallback tags), and the immutable all-tags rule's two.
    assert.equal(run.requests['tag-list'], 5 + 1 + 2);
    assert.equal(run.requests.referrers, 1);
    assert.equal(blobRequests(run.requests), 0);
    assert.equal(await getManifestDigest(dst, 'tagged/a', 'stable'), await getManifestDigest(src, 'team/a', 'v2'));
  });

  it("keeps a rule's platforms in its state items: a changed platform list is copied again, an unchanged one costs a HEAD", async () => {
    const children: SeededImage[] = [];
    for (const platform of [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ])
      children.push(await pushImage(src, 'team/multi', '', { format: 'oci', platform }));
    const index = await pushIndex(src, 'team/multi', 'v1', children, 'oci');
    const rules = (platforms: string[]): Record<string, unknown> => ({
      [`${src.host}/team/multi`]: { to: `${dst.host}/plat/all`, platforms },
      [`${src.host}/team/multi:v1`]: { to: `${dst.host}/plat/tag:v1`, platforms, referrers: false },
    });
    const architectures = async (repo: string): Promise<string[]> => {
      const json = JSON.parse((await getManifestBytes(dst, repo, 'v1'))?.toString('utf8') ?? '{}') as {
        manifests?: { platform?: { architecture: string } }[];
      };
      return (json.manifests ?? []).map((m) => m.platform?.architecture ?? '');
    };
    const items = async (repo: string): Promise<Record<string, unknown>[]> => {
      const out = await DynamoDBDocumentClient.from(aws.dynamo).send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `STATE#${src.host}/team/multi#${dst.host}/plat/${repo}` },
        }),
      );
      return out.Items ?? [];
    };

    const cold = await scheduledRun('platforms', rules(['linux/amd64']));
    assert.deepEqual({ copied: cold.summary.copied, failed: cold.summary.failed }, { copied: 2, failed: 0 });
    for (const repo of ['all', 'tag']) {
      assert.deepEqual(await architectures(`plat/${repo}`), ['amd64']);
      const [item, ...others] = await items(repo);
      assert.equal(others.length, 0);
      assert.equal(item?.sk, 'TAG#v1#v1#linux/amd64');
      assert.equal(item?.destination, `${dst.host}/plat/${repo}:v1 [linux/amd64]`);
      assert.equal(item?.sourceDigest, index.digest);
      assert.notEqual(item?.destinationDigest, index.digest);
    }
    const warm = await scheduledRun('platforms', rules(['linux/amd64']));
    assert.deepEqual({ upToDate: warm.summary.upToDate, copyMessages: warm.copyMessages }, { upToDate: 2, copyMessages: 1 });
    assert.equal(warm.requests['manifest-get'] ?? 0, 0, 'the copy of the tag rule read its record too');
    assert.equal(warm.requests['manifest-head'], 2, 'one source HEAD a rule');

    const changed = await scheduledRun('platforms', rules(['linux/arm64']));
    assert.deepEqual({ copied: changed.summary.copied, failed: changed.summary.failed }, { copied: 2, failed: 0 });
    for (const repo of ['all', 'tag']) {
      assert.deepEqual(await architectures(`plat/${repo}`), ['arm64'], `plat/${repo} holds the arm64 index`);
      assert.deepEqual((await items(repo)).map((item) => item.sk).sort(), ['TAG#v1#v1#linux/amd64', 'TAG#v1#v1#linux/arm64']);
    }
    const again = await scheduledRun('platforms', rules(['linux/arm64']));
    assert.deepEqual({ upToDate: again.summary.upToDate, copyMessages: again.copyMessages }, { upToDate: 2, copyMessages: 1 });
    assert.equal(again.requests['manifest-get'] ?? 0, 0);
  });
});
