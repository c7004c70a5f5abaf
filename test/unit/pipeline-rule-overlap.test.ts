/**
 * Rules naming the same copy are planned once: exact duplicates dropped, and the tags an all-tags
 * rule shares with tag rules left to those rules.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { resolveOverlaps } from '../../shared/pipeline/rule-overlap.js';

describe('resolveOverlaps', () => {
  it("leaves the tag rule of Huawei's example to itself and drops exact duplicates", () => {
    const text = `{
      "quay.io/coreos/etcd:1.0.0": "swr.example.com/test/etcd:1.0.0",
      "quay.io/coreos/etcd": "swr.example.com/test/etcd",
      "quay.io/coreos/etcd": "swr.example.com/test/etcd",
      "quay.io/coreos/etcd:2.7.3": "swr.example.com/test/etcd",
      "quay.io/coreos/etcd:3.0": "swr.example.com/other/etcd",
      "quay.io/coreos/etcd:3.1": "swr.example.com/test/etcd:renamed"
    }`;
    const rules = parseImagesFile(text, 'images.json', {});
    const resolved = resolveOverlaps(rules);
    assert.equal(resolved.rules.length, rules.length - 1);
    const allTags = resolved.rules.filter((r) => r.allTags);
    assert.equal(allTags.length, 1);
    assert.deepEqual(resolved.coveredTags.get(allTags[0]?.index ?? -1), ['1.0.0', '2.7.3']);
  });
});
