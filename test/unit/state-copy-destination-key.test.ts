/**
 * The run state's key of a copy's destination (shared/state/copy-destination-key.ts): the tag key for
 * an unfiltered copy, the same tag key with a canonical platform list for a copy under a filter, and
 * the split of such a key back into the two.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalPlatforms, copyDestinationKey, splitCopyDestinationKey } from '../../shared/state/copy-destination-key.js';
import { splitTagKey, tagKey } from '../../shared/state/run-state.js';

const destination = { registry: 'dst.example:5000', repository: 'mirror/app' };

describe('copy destination key', () => {
  it('is the tag key of the destination without platforms', () => {
    assert.equal(copyDestinationKey(destination, 'v1'), tagKey(destination, 'v1'));
    assert.equal(copyDestinationKey(destination, 'v1', undefined), 'dst.example:5000/mirror/app:v1');
  });

  it('names the platforms after the tag key, sorted and each once, whatever the order of the rule', () => {
    const key = copyDestinationKey(destination, 'v1', ['linux/arm64', 'linux/amd64']);
    assert.equal(key, 'dst.example:5000/mirror/app:v1 [linux/amd64,linux/arm64]');
    assert.equal(copyDestinationKey(destination, 'v1', ['linux/amd64', 'linux/arm64', 'linux/amd64']), key);
    assert.equal(copyDestinationKey(destination, 'v1', ['linux/amd64', 'linux/arm64/v8', 'linux/arm64']), key, 'arm64 takes arm64/v8');
  });

  it('keeps apart selections that are not the same', () => {
    const keys = [
      copyDestinationKey(destination, 'v1'),
      copyDestinationKey(destination, 'v1', ['linux/amd64']),
      copyDestinationKey(destination, 'v1', ['linux/arm64']),
      copyDestinationKey(destination, 'v1', ['linux/arm64/v8']),
      copyDestinationKey(destination, 'v1', ['linux/amd64', 'linux/arm64']),
      copyDestinationKey(destination, 'v2', ['linux/amd64']),
    ];
    assert.equal(new Set(keys).size, keys.length, keys.join('\n'));
  });

  it('canonical platforms: formatted, sorted, without duplicates or variants another entry already selects', () => {
    assert.deepEqual(canonicalPlatforms(['linux/s390x', 'linux/arm/v7', 'linux/arm64/v8', 'linux/amd64', 'linux/s390x']), [
      'linux/amd64',
      'linux/arm/v7',
      'linux/arm64/v8',
      'linux/s390x',
    ]);
    assert.deepEqual(canonicalPlatforms(['linux/arm/v7', 'linux/arm', 'linux/arm/v6']), ['linux/arm']);
  });

  it('splits back into the tag key and the platforms; a plain tag key has none', () => {
    const key = copyDestinationKey(destination, 'v1', ['linux/arm64', 'linux/amd64']);
    assert.deepEqual(splitCopyDestinationKey(key), { tagKey: tagKey(destination, 'v1'), platforms: 'linux/amd64,linux/arm64' });
    assert.deepEqual(splitCopyDestinationKey(tagKey(destination, 'v1')), { tagKey: tagKey(destination, 'v1'), platforms: undefined });
    // The tag key part is what the state's other names are made of.
    assert.deepEqual(splitTagKey(splitCopyDestinationKey(key).tagKey), { repository: 'dst.example:5000/mirror/app', tag: 'v1' });
  });
});
