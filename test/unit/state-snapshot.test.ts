/**
 * The run state as a store outside the process keeps it (the table on AWS): snapshots of records, what
 * a copy records on top, renewal of old records a run relies on, and the table items of a record: their
 * keys, and every kind of item that is refused as a hint.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stateItem, stateKey, stateRecordOf } from '../../functions/adapters/dynamo-items.js';
import { copyDestinationKey } from '../../shared/state/copy-destination-key.js';
import { splitTagKey, tagKey } from '../../shared/state/run-state.js';
import { StateSnapshot } from '../../shared/state/state-snapshot.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const SRC = 'src.example:5000/team/app:v1';
const DST = 'dst.example/mirror/app:v1';

describe('state snapshot', () => {
  it('answers from loaded records and writes back only what a copy changed', () => {
    const snapshot = new StateSnapshot([{ source: SRC, destination: DST, sourceDigest: D1, destinationDigest: D1 }]);
    assert.deepEqual(snapshot.known(SRC, DST), { sourceDigest: D1, destinationDigest: D1 });
    assert.equal(snapshot.known(SRC, 'dst.example/other/app:v1'), undefined);
    snapshot.recordCopy(SRC, D1, DST, D1);
    assert.deepEqual(snapshot.take(), [], 'the same copy again is no write');
    snapshot.recordCopy(SRC, D2, DST, D2);
    snapshot.recordCopy('s/r:2', D1, 'd/r:2', D1);
    assert.deepEqual(snapshot.take(SRC, DST), [{ source: SRC, destination: DST, sourceDigest: D2, destinationDigest: D2 }]);
    assert.deepEqual(snapshot.take(SRC, DST), [], 'taken once');
    assert.deepEqual(
      snapshot.take().map((r) => r.source),
      ['s/r:2'],
    );
    assert.deepEqual(snapshot.known(SRC, DST), { sourceDigest: D2, destinationDigest: D2 });
  });

  it('renews an old record once when a run relies on it, and never a fresh one', () => {
    const snapshot = new StateSnapshot([
      { source: SRC, destination: DST, sourceDigest: D1, destinationDigest: D1, renew: true },
      { source: 's/r:2', destination: 'd/r:2', sourceDigest: D1, destinationDigest: D1 },
    ]);
    snapshot.confirm('s/r:2', 'd/r:2');
    snapshot.confirm(SRC, DST);
    snapshot.confirm(SRC, DST);
    assert.deepEqual(snapshot.take(), [{ source: SRC, destination: DST, sourceDigest: D1, destinationDigest: D1 }]);
    snapshot.confirm(SRC, DST);
    assert.deepEqual(snapshot.take(), [], 'renewed once');
  });

  it('knows no blob: blobs are the blob claims', () => {
    const snapshot = new StateSnapshot();
    snapshot.recordBlob();
    assert.deepEqual(snapshot.blobRepositories(), []);
  });
});

describe('state items', () => {
  it('splits a tag key at the tag, a port in the registry included', () => {
    assert.deepEqual(splitTagKey(SRC), { repository: 'src.example:5000/team/app', tag: 'v1' });
    assert.deepEqual(splitTagKey(tagKey({ registry: 'r:1', repository: 'a/b' }, 'x')), { repository: 'r:1/a/b', tag: 'x' });
    assert.equal(splitTagKey('src.example:5000/team/app'), undefined, 'no tag');
    assert.equal(splitTagKey('app:v1'), undefined, 'no registry');
  });

  it('keys a record by its repository pair and tags, one partition per pair', () => {
    assert.deepEqual(stateKey({ source: SRC, destination: DST }), {
      pk: 'STATE#src.example:5000/team/app#dst.example/mirror/app',
      sk: 'TAG#v1#v1',
    });
    assert.deepEqual(stateKey({ source: SRC, destination: 'dst.example/mirror/app:stable' })?.sk, 'TAG#v1#stable');
    assert.equal(stateKey({ source: 'nonsense', destination: DST }), undefined);
  });

  it('keys a copy under a platform filter apart from the unfiltered one, and reads it back', () => {
    const destination = copyDestinationKey({ registry: 'dst.example', repository: 'mirror/app' }, 'v1', ['linux/arm64', 'linux/amd64']);
    assert.deepEqual(stateKey({ source: SRC, destination }), {
      pk: 'STATE#src.example:5000/team/app#dst.example/mirror/app',
      sk: 'TAG#v1#v1#linux/amd64,linux/arm64',
    });
    const keys = [undefined, ['linux/amd64'], ['linux/arm64']].map(
      (platforms) =>
        stateKey({ source: SRC, destination: copyDestinationKey({ registry: 'dst.example', repository: 'mirror/app' }, 'v1', platforms) })
          ?.sk,
    );
    assert.deepEqual(keys, ['TAG#v1#v1', 'TAG#v1#v1#linux/amd64', 'TAG#v1#v1#linux/arm64']);
    const item = stateItem({ source: SRC, destination, sourceDigest: D1, destinationDigest: D2 }, 2_000);
    assert.ok(item !== undefined);
    assert.deepEqual(stateRecordOf(item, 1_000), { source: SRC, destination, sourceDigest: D1, destinationDigest: D2 });
    // A record of one selection under the key of another is refused.
    assert.equal(stateRecordOf({ ...item, sk: 'TAG#v1#v1#linux/amd64' }, 1_000), undefined);
    assert.equal(stateRecordOf({ ...item, sk: 'TAG#v1#v1' }, 1_000), undefined);
  });

  it('reads back what it writes and marks an item for renewal past half its life', () => {
    const item = stateItem({ source: SRC, destination: DST, sourceDigest: D1, destinationDigest: D2 }, 2_000);
    assert.ok(item !== undefined);
    assert.equal(item.expiresAt, 2_000);
    assert.deepEqual(stateRecordOf(item, 1_000), { source: SRC, destination: DST, sourceDigest: D1, destinationDigest: D2 });
    assert.equal(stateRecordOf(item, 3_000)?.renew, true);
  });

  it('refuses an item with a field missing or of another type, a digest that is not sha256, or references not of its key', () => {
    const item = stateItem({ source: SRC, destination: DST, sourceDigest: D1, destinationDigest: D1 }, 2_000) ?? {};
    for (const broken of [
      { ...item, sourceDigest: undefined },
      { ...item, sourceDigest: 42 },
      { ...item, destinationDigest: ['x'] },
      { ...item, sourceDigest: 'sha256:zzz' },
      { ...item, destinationDigest: `md5:${'1'.repeat(32)}` },
      { ...item, source: 'src.example:5000/team/app:v2' },
      { ...item, destination: 'dst.example/elsewhere/app:v1' },
      { ...item, sk: 'TAG#v2#v2' },
      { ...item, source: 17 },
    ]) {
      assert.equal(stateRecordOf(broken, 0), undefined, JSON.stringify(broken));
    }
  });
});
