/**
 * Pacing before a registry's pull budget runs out (Docker Hub's ratelimit-* headers), with a fake
 * clock: no real waits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRateLimitHeader, RateLimitPacer } from '../../shared/registry/rate-limit.js';

function pacer() {
  let clock = 0;
  const waits: number[] = [];
  const paced = new RateLimitPacer({
    now: () => clock,
    sleep: async (ms) => {
      waits.push(ms);
      clock += ms;
    },
  });
  return { paced, waits };
}

describe('rate-limit pacing', () => {
  it("reads Docker Hub's header form", () => {
    assert.deepEqual(parseRateLimitHeader('76;w=21600'), { count: 76, windowMs: 21_600_000 });
    assert.deepEqual(parseRateLimitHeader('5'), { count: 5, windowMs: undefined });
    assert.equal(parseRateLimitHeader('x'), undefined);
    assert.equal(parseRateLimitHeader(undefined), undefined);
  });

  it('never slows a registry without a budget, or with plenty left', async () => {
    const { paced, waits } = pacer();
    await paced.wait('quay.io');
    paced.observe('docker.io', { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '60;w=21600' });
    for (let i = 0; i < 5; i++) await paced.wait('docker.io');
    assert.deepEqual(waits, []);
  });

  it('spaces requests once the budget is low, so that the rest lasts the window, each wait bounded', async () => {
    const { paced, waits } = pacer();
    paced.observe('docker.io', { 'ratelimit-limit': '100;w=600', 'ratelimit-remaining': '8;w=600' });
    await Promise.all([1, 2, 3].map(() => paced.wait('docker.io')));
    // 600 s / 8 left = 75 s, capped at 30 s; the first goes at once, each other one spacing after the one before.
    assert.deepEqual(waits, [30_000, 30_000]);
    paced.observe('docker.io', { 'ratelimit-limit': '100;w=60', 'ratelimit-remaining': '6;w=60' });
    waits.length = 0;
    await paced.wait('docker.io');
    await paced.wait('docker.io');
    assert.ok(waits.every((w) => w <= 30_000));
  });
});
