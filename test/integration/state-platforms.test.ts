/**
 * The run state and a rule's platform list, against real registries: the digest a state records for a
 * destination tag holds only for the platforms it was narrowed to. A rule whose platforms change (one
 * platform for another, a filter added or taken away) is copied again, whatever the state says; an
 * unchanged narrowed rule still costs one source HEAD, with its platforms listed in any order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { runLocal } from '../../shared/pipeline/local-run.js';
import type { TaskResult } from '../../shared/pipeline/task.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { RunState } from '../../shared/state/run-state.js';
import { loopbackCredentials, startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestBytes, getManifestDigest, pushImage, pushIndex, type SeededImage } from '../support/seed.js';

const PLATFORMS = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
];

describe('run state and platform filters', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  let index: SeededImage;
  /** The children of the source index by platform (`amd64`, `arm64`, `arm`). */
  const child: Record<string, string> = {};
  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry({ auth: 'token' })]);
    const children: SeededImage[] = [];
    for (const platform of PLATFORMS) {
      const image = await pushImage(src, 'team/multi', '', { format: 'oci', platform });
      children.push(image);
      child[platform.architecture] = image.digest;
    }
    index = await pushIndex(src, 'team/multi', 'v1', children, 'oci');
  });
  after(async () => {
    await Promise.all([src, dst].map((r) => r?.stop()));
  });

  // Every registry is `insecure`; the destination has its login.
  const credentials = loopbackCredentials(() => [dst]);

  /**
   * The rules of a case as images.json text: the all-tags rule, and two tag rules of the same source
   * tag (so the same key twice, as the file allows), without and with referrers, each to its own repository.
   */
  const rules = (name: string, platforms?: string[]): string => {
    const filter = platforms === undefined ? {} : { platforms };
    const entries: [string, unknown][] = [
      [`${src.host}/team/multi`, { to: `${dst.host}/${name}/all`, ...filter }],
      [`${src.host}/team/multi:v1`, { to: `${dst.host}/${name}/tag:v1`, referrers: false, ...filter }],
      [`${src.host}/team/multi:v1`, { to: `${dst.host}/${name}/refs:v1`, ...filter }],
    ];
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')}}`;
  };
  const REPOSITORIES = ['all', 'tag', 'refs'];

  /** One run of `images` with `state` as a state file would hand it (serialised and read back). */
  async function migrate(
    images: Record<string, unknown> | string,
    state: RunState,
  ): Promise<{ requests: Record<string, number>; outcomes: string[]; results: TaskResult[]; state: RunState }> {
    const requests: Record<string, number> = {};
    const client = new RegistryClient({ credentials, onRequest: (kind) => void (requests[kind] = (requests[kind] ?? 0) + 1) });
    const parsed = parseImagesFile(typeof images === 'string' ? images : JSON.stringify(images), 'images.json', {});
    const loaded = RunState.parse(state.serialize());
    const run = await runLocal({ rules: parsed, registry: client, workers: 3, retries: 0, state: loaded });
    await client.close();
    return { requests, outcomes: run.results.map((r) => r.outcome), results: run.results, state: loaded };
  }

  /** The children a destination tag's index lists, by architecture; its digest too. */
  async function atDestination(repository: string): Promise<{ digest: string | undefined; architectures: string[] }> {
    const bytes = await getManifestBytes(dst, repository, 'v1');
    const json = JSON.parse(bytes?.toString('utf8') ?? '{}') as { manifests?: { digest: string; platform?: { architecture: string } }[] };
    const architectures = (json.manifests ?? []).map((m) => {
      assert.equal(m.digest, child[m.platform?.architecture ?? ''], 'each entry is the source child of its platform');
      return m.platform?.architecture ?? '';
    });
    return { digest: await getManifestDigest(dst, repository, 'v1'), architectures };
  }

  it('platforms changed from [amd64] to [arm64]: copied again, the arm64 index at the destination', async () => {
    const cold = await migrate(rules('swap', ['linux/amd64']), RunState.empty());
    assert.deepEqual(cold.outcomes, ['copied', 'copied', 'copied']);
    for (const repo of REPOSITORIES) assert.deepEqual((await atDestination(`swap/${repo}`)).architectures, ['amd64']);

    const changed = await migrate(rules('swap', ['linux/arm64']), cold.state);
    assert.deepEqual(changed.outcomes, ['copied', 'copied', 'copied'], 'a new platform list is not up to date');
    for (const repo of REPOSITORIES) {
      const now = await atDestination(`swap/${repo}`);
      assert.deepEqual(now.architectures, ['arm64'], `swap/${repo} holds the arm64 index`);
      assert.notEqual(now.digest, index.digest);
    }
  });

  it('a filter added ([] to [amd64]): copied again, narrowed at the destination', async () => {
    const cold = await migrate(rules('added'), RunState.empty());
    assert.deepEqual(cold.outcomes, ['copied', 'copied', 'copied']);
    for (const repo of REPOSITORIES) assert.equal((await atDestination(`added/${repo}`)).digest, index.digest);

    const narrowed = await migrate(rules('added', ['linux/amd64']), cold.state);
    assert.deepEqual(narrowed.outcomes, ['copied', 'copied', 'copied'], 'the unfiltered record does not hold for a filter');
    for (const repo of REPOSITORIES) {
      const now = await atDestination(`added/${repo}`);
      assert.deepEqual(now.architectures, ['amd64'], `added/${repo} holds the amd64 index`);
      assert.notEqual(now.digest, index.digest);
    }
  });

  it('a filter taken away ([amd64] to none): copied again, the whole index at the destination', async () => {
    const cold = await migrate(rules('removed', ['linux/amd64']), RunState.empty());
    assert.deepEqual(cold.outcomes, ['copied', 'copied', 'copied']);

    const full = await migrate(rules('removed'), cold.state);
    assert.deepEqual(full.outcomes, ['copied', 'copied', 'copied'], 'the narrowed record does not hold without the filter');
    for (const repo of REPOSITORIES) {
      const now = await atDestination(`removed/${repo}`);
      assert.equal(now.digest, index.digest, `removed/${repo} holds the source's index`);
      assert.deepEqual(now.architectures, ['amd64', 'arm64', 'arm']);
    }
  });

  it('the same platforms again, in any order: up to date with one source HEAD and no manifest GET', async () => {
    // The all-tags rule alone: tag rules with referrers look for them, which costs the same with or without a state.
    const all = (platforms: string[]): Record<string, unknown> => ({
      [`${src.host}/team/multi`]: { to: `${dst.host}/same/all`, platforms },
    });
    const cold = await migrate(all(['linux/amd64']), RunState.empty());
    assert.deepEqual(cold.outcomes, ['copied']);
    const warm = await migrate(all(['linux/amd64']), cold.state);
    assert.deepEqual(warm.outcomes, ['up-to-date']);
    // The result says which index stands for which source index, as a full comparison's does.
    assert.deepEqual(
      [warm.results[0]?.digest, warm.results[0]?.sourceDigest],
      [cold.results[0]?.digest, cold.results[0]?.sourceDigest ?? 'a source digest'],
    );
    assert.equal(warm.requests['manifest-get'] ?? 0, 0, JSON.stringify(warm.requests));
    assert.equal(warm.requests['manifest-head'], 1, JSON.stringify(warm.requests));

    const two = await migrate(all(['linux/arm64', 'linux/amd64']), warm.state);
    assert.deepEqual(two.outcomes, ['copied']);
    assert.deepEqual((await atDestination('same/all')).architectures, ['amd64', 'arm64']);
    const reordered = await migrate(all(['linux/amd64', 'linux/arm64', 'linux/amd64']), two.state);
    assert.deepEqual(reordered.outcomes, ['up-to-date'], 'the same selection in another order');
    assert.equal(reordered.requests['manifest-get'] ?? 0, 0, JSON.stringify(reordered.requests));
    assert.equal(reordered.requests['manifest-head'], 1, JSON.stringify(reordered.requests));
  });
});
