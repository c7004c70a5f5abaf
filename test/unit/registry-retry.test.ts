import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, DEFAULT_RETRY, parseRetryAfter, retryPolicy } from '../../shared/registry/retry.js';

describe('retry policy', () => {
  it('defaults to 4 attempts, 500 ms base, 30 s cap, 60 s of waiting for an unavailable registry', () => {
    assert.deepEqual(retryPolicy(undefined), { attempts: 4, baseDelayMs: 500, maxDelayMs: 30_000, outageMs: 60_000 });
    assert.deepEqual(retryPolicy({ attempts: 2, baseDelayMs: undefined }), { ...DEFAULT_RETRY, attempts: 2 });
  });

  it('keeps full-jitter delays within [0, min(max, base * 2^n))', () => {
    const policy = retryPolicy({ baseDelayMs: 100, maxDelayMs: 1000 });
    assert.equal(
      backoffDelay(policy, 0, () => 0),
      0,
    );
    assert.equal(
      backoffDelay(policy, 0, () => 0.999999),
      99,
    );
    assert.equal(
      backoffDelay(policy, 3, () => 0.5),
      400,
    );
    assert.equal(
      backoffDelay(policy, 10, () => 0.999999),
      999,
    );
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(policy, 2);
      assert.ok(d >= 0 && d < 400, `delay ${d}`);
    }
  });

  it('reads Retry-After as seconds or an HTTP date, capped', () => {
    const now = Date.parse('2026-11-27T10:00:00Z');
    assert.equal(parseRetryAfter('2', 10_000, now), 2000);
    assert.equal(parseRetryAfter('120', 10_000, now), 10_000);
    assert.equal(parseRetryAfter('Fri, 27 Nov 2026 10:00:03 GMT', 10_000, now), 3000);
    assert.equal(parseRetryAfter('Fri, 27 Nov 2026 09:00:00 GMT', 10_000, now), 0);
    assert.equal(parseRetryAfter(['1'], 10_000, now), 1000);
    assert.equal(parseRetryAfter(undefined, 10_000, now), undefined);
    assert.equal(parseRetryAfter('soon', 10_000, now), undefined);
  });
});
