/**
 * The run state and immutable tags against real registries (anonymous source, token-auth destination):
 * an unchanged run costs one source HEAD a tag and the two tag lists, and no state, however wrong,
 * makes a run skip an image whose source changed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { matchAny } from '../../shared/config/tag-filter.js';
import { runLocal } from '../../shared/pipeline/local-run.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { RunState, tagKey } from '../../shared/state/run-state.js';
import { runCli, workdir } from '../support/cli-run.js';
import { startForwardingProxy } from '../support/forwarding-proxy.js';
import { loopbackCredentials, startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushBlob, pushImage, randomBytes } from '../support/seed.js';

describe('run state and immutable tags', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  const tags = ['v1', 'v2', 'v3'];
  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry({ auth: 'token' })]);
    for (const repo of ['team/a', 'team/b']) for (const tag of tags) await pushImage(src, repo, tag);
  });
  after(async () => {
    await Promise.all([src, dst].map((r) => r?.stop()));
  });

  // Every registry is `insecure`; the destination has its login.
  const credentials = loopbackCredentials(() => [dst]);
  const images = (): string =>
    JSON.stringify(Object.fromEntries(['a', 'b'].map((r) => [`${src.host}/team/${r}`, `${dst.host}/mirror/${r}`])));

  async function migrate(
    options: { state?: RunState; immutable?: string[] } = {},
  ): Promise<{ requests: Record<string, number>; outcomes: Map<string, string> }> {
    const requests: Record<string, number> = {};
    const client = new RegistryClient({ credentials, onRequest: (kind) => void (requests[kind] = (requests[kind] ?? 0) + 1) });
    const rules = parseImagesFile(images(), 'images.json', {});
    const run = await runLocal({
      rules,
      registry: client,
      workers: 3,
      retries: 0,
      ...(options.state === undefined ? {} : { state: options.state }),
      ...(options.immutable === undefined ? {} : { immutableTags: matchAny(options.immutable, '--immutable-tags') }),
    });
    await client.close();
    return { requests, outcomes: new Map(run.results.map((r) => [r.destination.replace(`${dst.host}/`, ''), r.outcome])) };
  }

  const manifestRequests = (r: Record<string, number>): number => (r['manifest-get'] ?? 0) + (r['manifest-head'] ?? 0);
  const blobRequests = (r: Record<string, number>): number =>
    ['blob-head', 'blob-get', 'blob-mount', 'upload-start', 'blob-put'].reduce((sum, k) => sum + (r[k] ?? 0), 0);

  it('a run with state learns every copy; the next unchanged run costs one source HEAD a tag', async () => {
    const state = RunState.empty();
    const cold = await migrate({ state });
    assert.deepEqual([...cold.outcomes.values()], Array(6).fill('copied'));
    assert.equal(state.size, 6);
    const blobs = (JSON.parse(state.serialize()) as { blobs: Record<string, Record<string, string[]>> }).blobs[dst.host] ?? {};
    assert.ok(
      Object.values(blobs).some((repos) => repos.includes('mirror/a')),
      'the blobs pushed are remembered per registry',
    );

    const warm = await migrate({ state: RunState.parse(state.serialize()) });
    assert.deepEqual([...warm.outcomes.values()], Array(6).fill('up-to-date'));
    assert.equal(warm.requests['manifest-get'] ?? 0, 0, 'no manifest GET');
    assert.equal(warm.requests['manifest-head'], 6, 'one HEAD a tag, at the source');
    assert.equal(blobRequests(warm.requests), 0);
    // Two tag lists a repository, plus the destination's first request again after its challenge and
    // one https attempt on each (plain-http `insecure`) registry.
    assert.equal(warm.requests['tag-list'], 2 * 2 + 1 + 2);
  });

  it('a source tag that changed is copied, whatever the state says', async () => {
    const state = RunState.empty();
    await migrate({ state });
    const changed = await pushImage(src, 'team/a', 'v2');
    const run = await migrate({ state });
    assert.equal(run.outcomes.get('mirror/a:v2'), 'copied');
    assert.equal(await getManifestDigest(dst, 'mirror/a', 'v2'), changed.digest);
    assert.equal(
      state.known(tagKey({ registry: src.host, repository: 'team/a' }, 'v2'), tagKey({ registry: dst.host, repository: 'mirror/a' }, 'v2'))
        ?.sourceDigest,
      changed.digest,
    );
  });

  it('a wrong state never skips a changed image or a tag the destination lacks', async () => {
    const state = RunState.empty();
    await migrate({ state });
    const ref = (registry: string, repository: string, tag: string): string => tagKey({ registry, repository }, tag);
    const forged = RunState.parse(state.serialize());
    // Claims for a destination repository nothing was ever copied to: its tag list refutes them.
    for (const tag of tags) {
      const seen = forged.known(ref(src.host, 'team/a', tag), ref(dst.host, 'mirror/a', tag));
      forged.recordCopy(
        ref(src.host, 'team/a', tag),
        seen?.sourceDigest ?? '',
        ref(dst.host, 'elsewhere/a', tag),
        seen?.sourceDigest ?? '',
      );
    }
    // A source digest that is simply wrong: the source HEAD refutes it, the full comparison decides.
    const bogus = `sha256:${'0'.repeat(64)}`;
    forged.recordCopy(ref(src.host, 'team/b', 'v1'), bogus, ref(dst.host, 'mirror/b', 'v1'), bogus);
    // The source moved on after the state was written.
    const moved = await pushImage(src, 'team/b', 'v2');

    const requests: Record<string, number> = {};
    const client = new RegistryClient({ credentials, onRequest: (kind) => void (requests[kind] = (requests[kind] ?? 0) + 1) });
    const rules = parseImagesFile(
      JSON.stringify({
        [`${src.host}/team/a`]: `${dst.host}/elsewhere/a`,
        [`${src.host}/team/b`]: `${dst.host}/mirror/b`,
      }),
      'images.json',
      {},
    );
    const run = await runLocal({ rules, registry: client, workers: 3, retries: 0, state: forged });
    await client.close();
    const outcomes = new Map(run.results.map((r) => [r.destination.replace(`${dst.host}/`, ''), r.outcome]));
    for (const tag of tags) {
      assert.equal(outcomes.get(`elsewhere/a:${tag}`), 'copied');
      assert.equal(await getManifestDigest(dst, 'elsewhere/a', tag), await getManifestDigest(src, 'team/a', tag));
    }
    assert.equal(outcomes.get('mirror/b:v2'), 'copied');
    assert.equal(await getManifestDigest(dst, 'mirror/b', 'v2'), moved.digest);
    assert.equal(outcomes.get('mirror/b:v1'), 'up-to-date');
    // team/b: v1 and v2 are compared in full (a GET each, v2 also pushed); v3 alone is found by the state.
    assert.equal(requests['manifest-get'], 3 + 2);
    assert.equal(
      forged.known(ref(src.host, 'team/b', 'v1'), ref(dst.host, 'mirror/b', 'v1'))?.sourceDigest,
      await getManifestDigest(src, 'team/b', 'v1'),
    );
  });

  /**
   * A cold run of `cold` and then a warm one of `warm` (images.json as objects, given the host of a
   * proxy in front of the source), with one state, through that proxy. During the warm run the source
   * holds its answer to `held`'s tag list until `heads` HEADs of that repository have arrived, or 30 s
   * have passed: a run that waited for the list before asking would wait them out.
   */
  async function warmWhileListHeld(
    cold: (source: string) => Record<string, unknown>,
    warm: (source: string) => Record<string, unknown>,
    held: { repository: string; heads: number },
  ): Promise<{ releasedBy: string; requests: Record<string, number>; outcomes: string[] }> {
    const proxy = await startForwardingProxy(src.url);
    let poll: NodeJS.Timeout | undefined;
    try {
      const run = async (
        images: Record<string, unknown>,
        state: RunState,
      ): Promise<{ requests: Record<string, number>; outcomes: string[] }> => {
        const requests: Record<string, number> = {};
        const client = new RegistryClient({ credentials, onRequest: (kind) => void (requests[kind] = (requests[kind] ?? 0) + 1) });
        const rules = parseImagesFile(JSON.stringify(images), 'images.json', {});
        const result = await runLocal({ rules, registry: client, workers: 3, retries: 0, state });
        await client.close();
        return { requests, outcomes: result.results.map((r) => r.outcome) };
      };
      const state = RunState.empty();
      const first = await run(cold(proxy.host), state);
      assert.ok(
        first.outcomes.every((o) => o === 'copied'),
        first.outcomes.join(),
      );
      const headsOf = (): number =>
        proxy.log.filter((r) => r.method === 'HEAD' && r.path.startsWith(`/v2/${held.repository}/manifests/`)).length;
      const before = headsOf();
      let releasedBy = 'nothing';
      const deadline = Date.now() + 30_000;
      const released = new Promise<void>((resolve) => {
        poll = setInterval(() => {
          if (headsOf() - before < held.heads && Date.now() < deadline) return;
          releasedBy = headsOf() - before >= held.heads ? 'the HEADs' : 'the deadline';
          resolve();
        }, 10);
      });
      proxy.holdNext(`/v2/${held.repository}/tags/list`, 1, released);
      const warmed = await run(warm(proxy.host), RunState.parse(state.serialize()));
      return { releasedBy, ...warmed };
    } finally {
      clearInterval(poll);
      await proxy.stop();
    }
  }

  it('an unchanged run asks the source about the tags it knows while it lists them, not after the list', async () => {
    const images = (source: string): Record<string, unknown> =>
      Object.fromEntries(['a', 'b'].map((r) => [`${source}/team/${r}`, `${dst.host}/early/${r}`]));
    // team/a's list is the source's first request (the one the others wait for); team/b's is not.
    const warm = await warmWhileListHeld(images, images, { repository: 'team/b', heads: tags.length });
    assert.equal(warm.releasedBy, 'the HEADs');
    assert.deepEqual(warm.outcomes, Array(6).fill('up-to-date'));
    assert.equal(warm.requests['manifest-head'], 6, 'one HEAD a tag, no more');
    assert.equal(warm.requests['manifest-get'] ?? 0, 0);
  });

  it("early HEADs keep to the rule's tag filter", async () => {
    const rules = (source: string, filtered: boolean): Record<string, unknown> => ({
      [`${source}/team/b`]: `${dst.host}/filtered/b`,
      [`${source}/team/a`]: filtered
        ? { to: `${dst.host}/filtered/a`, tags: { include: ['v1'] }, referrers: false }
        : `${dst.host}/filtered/a`,
    });
    // The state knows v1 to v3 of team/a at filtered/a; the rule now selects v1 alone.
    const warm = await warmWhileListHeld(
      (source) => rules(source, false),
      (source) => rules(source, true),
      { repository: 'team/a', heads: 1 },
    );
    assert.equal(warm.releasedBy, 'the HEADs');
    assert.deepEqual(warm.outcomes, Array(4).fill('up-to-date'));
    assert.equal(warm.requests['manifest-head'], tags.length + 1, 'v2 and v3 of team/a not asked about');
  });

  it('a new repository gets its blobs without a HEAD, save those the state believes an earlier run left there', async () => {
    // An earlier run uploaded an image's blobs into leftover/a, then failed before its manifest:
    // the repository has no tag (NAME_UNKNOWN), but the state knows what it holds.
    const layers = [randomBytes(64 * 1024, 71), randomBytes(32 * 1024, 72)];
    const image = await pushImage(src, 'team/c', 'v1', { layers });
    const left = await Promise.all(layers.map((bytes) => pushBlob(dst, 'leftover/a', bytes)));
    assert.deepEqual(left, image.layers);
    const state = RunState.empty();
    for (const digest of left) state.recordBlob(dst.host, 'leftover/a', digest);
    const requests: Record<string, number> = {};
    const client = new RegistryClient({ credentials, onRequest: (kind) => void (requests[kind] = (requests[kind] ?? 0) + 1) });
    const rules = parseImagesFile(
      JSON.stringify({ [`${src.host}/team/c:v1`]: `${dst.host}/leftover/a:v1`, [`${src.host}/team/a:v1`]: `${dst.host}/fresh/a:v1` }),
      'images.json',
      {},
    );
    const run = await runLocal({ rules, registry: client, workers: 2, retries: 0, state });
    await client.close();
    assert.deepEqual(
      run.results.map((r) => r.outcome),
      ['copied', 'copied'],
    );
    assert.equal(await getManifestDigest(dst, 'leftover/a', 'v1'), image.digest);
    // leftover/a: each believed layer asked about and found, not uploaded again (only the config is);
    // fresh/a: its blobs uploaded without asking.
    assert.equal(requests['blob-head'], left.length);
    assert.ok((run.results[0]?.bytes ?? 0) < 4096, `${run.results[0]?.bytes} bytes sent for leftover/a`);
    assert.equal(await getManifestDigest(dst, 'fresh/a', 'v1'), await getManifestDigest(src, 'team/a', 'v1'));
  });

  it('immutable tags listed at the destination cost no request of their own; missing ones are copied', async () => {
    await migrate();
    await pushImage(src, 'team/a', 'v9');
    const changed = await pushImage(src, 'team/a', 'v1');
    const run = await migrate({ immutable: ['v*'] });
    assert.equal(run.outcomes.get('mirror/a:v9'), 'copied');
    // The documented risk: an immutable tag that did change at the source is not copied again.
    assert.equal(run.outcomes.get('mirror/a:v1'), 'up-to-date');
    assert.notEqual(await getManifestDigest(dst, 'mirror/a', 'v1'), changed.digest);
    // Only v9 (copied into a repository that lists it as absent) sends manifest requests: its GET.
    assert.equal(manifestRequests(run.requests), 1);
  });

  it('the CLI keeps its state in --state, warns about a corrupt one and still copies a changed image', async () => {
    const dir = await workdir({
      'auth.json': { [src.host]: { insecure: true }, [dst.host]: { username: dst.username, password: dst.password, insecure: true } },
      'images.json': { [`${src.host}/team/a`]: `${dst.host}/cli/a` },
    });
    const args = ['--report', 'report.json', '--state', 'state.json'];
    const first = await runCli(args, { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const saved = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as { format: string; tags: Record<string, unknown> };
    assert.equal(saved.format, 'image-migrator/state');
    assert.ok(Object.keys(saved.tags).length >= 4);

    const second = await runCli(args, { cwd: dir });
    assert.equal(second.code, 0, second.stderr);
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as { requests: Record<string, number> };
    assert.equal(report.requests['manifest-get'] ?? 0, 0);

    await writeFile(join(dir, 'state.json'), '{"format":"image-migrator/state","version":1,"tags":{"x":');
    const changed = await pushImage(src, 'team/a', 'v3');
    const third = await runCli(args, { cwd: dir });
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stderr, /warning: ignoring the state file state\.json: not JSON/);
    assert.equal(await getManifestDigest(dst, 'cli/a', 'v3'), changed.digest);
    assert.equal(RunState.parse(await readFile(join(dir, 'state.json'), 'utf8')).size >= 4, true, 'the state is rewritten');

    const none = await mkdtemp(join(tmpdir(), 'im-nostate-'));
    const off = await runCli([...args.slice(0, 2), '--no-state', '--auth', join(dir, 'auth.json'), '--images', join(dir, 'images.json')], {
      cwd: none,
      env: { XDG_CACHE_HOME: none },
    });
    assert.equal(off.code, 0, off.stderr);
    await assert.rejects(readFile(join(none, 'image-migrator', 'state.json')), /ENOENT/);
  });
});
