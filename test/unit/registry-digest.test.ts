import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DigestMismatchError } from '../../shared/errors.js';
import { assertSha256, sha256Digest, UnsupportedDigestError, verifyBytes } from '../../shared/registry/digest.js';
import { emptyMark, loadedMark } from '../../shared/registry/sha256-state.js';

const data = Buffer.from('hello registry');
const good = sha256Digest(data);

describe('digests', () => {
  it('hashes bytes as sha256:<hex>', () => {
    assert.equal(good, 'sha256:84b358610dfe0f22ccaed0d75a78dec48c14b6cb5f58d26e215cb98dfa828f74');
    assert.equal(verifyBytes(data, good, 'x'), good);
    assert.throws(
      () => verifyBytes(Buffer.from('other'), good, 'manifest r@d'),
      (e: unknown) => e instanceof DigestMismatchError && e.message.startsWith(`digest mismatch for manifest r@d: expected ${good}`),
    );
  });

  it('refuses digests it cannot verify', () => {
    assert.throws(() => assertSha256('sha512:abc'), UnsupportedDigestError);
    assert.doesNotThrow(() => assertSha256(good));
  });
});

describe('sha256 states that resume', () => {
  const whole = Buffer.concat([data, Buffer.from(' and more')]);

  for (const kind of ['native', 'saveable'] as const) {
    it(`goes on from a mark (${kind}) as if never stopped, and the mark stays usable`, async () => {
      const hash = await emptyMark(kind).restore();
      hash.update(data);
      const mark = hash.mark();
      hash.update(Buffer.from('something else'));
      for (let i = 0; i < 2; i++) {
        const resumed = await mark.restore();
        resumed.update(Buffer.from(' and more'));
        assert.equal(resumed.digest(), sha256Digest(whole));
      }
      assert.equal(mark.saved === undefined, kind === 'native', 'only a saveable mark has bytes');
    });
  }

  it('loads a saved state in a new hash (another process) and refuses one that is not', async () => {
    const hash = await emptyMark('saveable').restore();
    hash.update(data);
    const saved = Buffer.from(hash.mark().saved ?? new Uint8Array()).toString('base64');
    const loaded = await loadedMark(Buffer.from(saved, 'base64')).restore();
    loaded.update(Buffer.from(' and more'));
    assert.equal(loaded.digest(), sha256Digest(whole));
    await assert.rejects(loadedMark(Buffer.from('not a state')).restore());
  });
});
