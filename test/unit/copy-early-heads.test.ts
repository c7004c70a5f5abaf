/**
 * Early source HEADs (shared/copy/early-heads.ts) in isolation: how many go at once, a check that comes
 * for a HEAD still waiting, which tags are asked, and a tag the source no longer has.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EarlyHeads, type EarlyHeadsRule } from '../../shared/copy/early-heads.js';
import type { ManifestHead, RepositoryRef } from '../../shared/registry/types.js';
import { copyDestinationKey } from '../../shared/state/copy-destination-key.js';
import { RunState, tagKey } from '../../shared/state/run-state.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const source: RepositoryRef = { registry: 'src.example', repository: 'team/app' };
const destination: RepositoryRef = { registry: 'dst.example', repository: 'mirror/app' };
const rule: EarlyHeadsRule = { source, destination, immutable: () => false };

/** A source whose HEADs are answered by hand: `digests` holds each tag's digest (none: 404). */
function handSource(digests: Record<string, string>): {
  headManifest: (repo: RepositoryRef, tag: string) => Promise<ManifestHead | undefined>;
  asked: string[];
  inFlight: () => number;
  answerAll: () => void;
} {
  const asked: string[] = [];
  const pending: (() => void)[] = [];
  return {
    asked,
    inFlight: () => pending.length,
    answerAll: () => pending.splice(0).forEach((answer) => answer()),
    headManifest: (_repo, tag) => {
      asked.push(tag);
      return new Promise((resolve) =>
        pending.push(() => resolve(Object.hasOwn(digests, tag) ? { digest: digests[tag], mediaType: undefined, size: 1 } : undefined)),
      );
    },
  };
}

/** A state that knows `tags` copied unchanged from the source to the destination. */
function stateKnowing(tags: readonly string[], digest = D1): RunState {
  const state = RunState.empty();
  for (const tag of tags) state.recordCopy(tagKey(source, tag), digest, tagKey(destination, tag), digest);
  return state;
}

const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('early source HEADs', () => {
  it('sends at most `concurrency` at once, the next as each is answered', async () => {
    const tags = ['v1', 'v2', 'v3', 'v4', 'v5'];
    const registry = handSource(Object.fromEntries(tags.map((t) => [t, D1])));
    const heads = new EarlyHeads(registry, stateKnowing(tags), 2);
    assert.equal(heads.start(rule), 5);
    assert.equal(registry.inFlight(), 2);
    registry.answerAll();
    await settled();
    assert.equal(registry.inFlight(), 2);
    registry.answerAll();
    await settled();
    registry.answerAll();
    await settled();
    assert.deepEqual(registry.asked, tags, 'each asked once, in order');
  });

  it('a check for a HEAD still waiting sends it at once; a check takes an answer once', async () => {
    const registry = handSource({ v1: D1, v2: D1, v3: D1 });
    const heads = new EarlyHeads(registry, stateKnowing(['v1', 'v2', 'v3']), 1);
    heads.start(rule);
    const v3 = heads.headManifest(source, 'v3');
    assert.deepEqual(registry.asked, ['v1', 'v3']);
    registry.answerAll();
    assert.equal((await v3)?.digest, D1);
    // Taken: a second check asks the source itself.
    const again = heads.headManifest(source, 'v3');
    await settled();
    registry.answerAll();
    assert.equal((await again)?.digest, D1);
    assert.equal(registry.asked.filter((t) => t === 'v3').length, 2);
  });

  it('asks only tags whose check would: not immutable ones, not those filtered out, not copies to elsewhere', () => {
    const registry = handSource({});
    const state = stateKnowing(['v1', 'v2', 'latest', 'beta']);
    state.recordCopy(tagKey(source, 'other'), D1, tagKey({ ...destination, repository: 'elsewhere' }, 'other'), D1);
    // Pushed from another source digest (a narrowed index, but the rule does not narrow): the check would not ask.
    state.recordCopy(tagKey(source, 'v9'), D1, tagKey(destination, 'v9'), D2);
    const heads = new EarlyHeads(registry, state, 10);
    heads.start({ ...rule, immutable: (tag) => tag === 'latest', tags: { exclude: ['beta'] } });
    assert.deepEqual(registry.asked, ['v1', 'v2']);
  });

  it("with platforms, asks only tags whose copy the state knows under the rule's platform list", () => {
    const registry = handSource({});
    const state = RunState.empty();
    // Narrowed to the rule's platforms (listed in another order): asked, though the digests differ.
    state.recordCopy(tagKey(source, 'v1'), D1, copyDestinationKey(destination, 'v1', ['linux/arm64', 'linux/amd64']), D2);
    // Narrowed to other platforms, or not at all: not this rule's copies.
    state.recordCopy(tagKey(source, 'v2'), D1, copyDestinationKey(destination, 'v2', ['linux/amd64']), D2);
    state.recordCopy(tagKey(source, 'v3'), D1, copyDestinationKey(destination, 'v3'), D1);
    const heads = new EarlyHeads(registry, state, 10);
    heads.start({ ...rule, platforms: ['linux/amd64', 'linux/arm64'] });
    assert.deepEqual(registry.asked, ['v1']);
  });

  it('a tag the source answers 404 for is forgotten by the state', async () => {
    const registry = handSource({ v1: D1 });
    const state = stateKnowing(['v1', 'gone']);
    const heads = new EarlyHeads(registry, state, 10);
    heads.start(rule);
    registry.answerAll();
    await settled();
    assert.equal(state.known(tagKey(source, 'gone'), tagKey(destination, 'gone')), undefined);
    assert.equal(state.known(tagKey(source, 'v1'), tagKey(destination, 'v1'))?.sourceDigest, D1);
  });
});
