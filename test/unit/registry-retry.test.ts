import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../shared/registry/registry-error.js';
import {
  backoffDelay,
  DEFAULT_RETRY,
  isExhausted,
  isRedeliverable,
  markExhausted,
  parseRetryAfter,
  RegistryBackoff,
  RetryBudget,
  retryPolicy,
  type Clock,
} from '../../shared/registry/retry.js';

/** A clock whose sleeps move time on at once. */
function manualClock(): Clock & { at: number } {
  const clock = {
    at: 0,
    now: () => clock.at,
    sleep: (ms: number) => {
      clock.at += ms;
      return Promise.resolve();
    },
  };
  return clock;
}

/** A 429 as the sender sees it. */
function throttled(): RegistryError {
  return new RegistryError({ method: 'GET', url: 'https://reg/v2/a/manifests/1', status: 429 });
}

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

  it('counts the outage window from when the registry was first found unavailable, so a later operation does not wait it again', () => {
    const clock = manualClock();
    const policy = retryPolicy({ outageMs: 60_000 });
    const backoff = new RegistryBackoff(policy, clock, () => 0);
    backoff.unavailable('reg', '429 from registry reg', undefined);
    clock.at = 50_000;
    const late = new RetryBudget(policy, clock);
    // On its own, the operation would wait 60 s from now; the registry has been refusing for 50 s.
    assert.equal(late.allowsRetry(throttled(), backoff.unavailableSince('reg')), true);
    clock.at = 60_000;
    const error = throttled();
    assert.equal(late.allowsRetry(error, backoff.unavailableSince('reg')), false);
    assert.equal(isExhausted(error), true);
    // Without the registry's episode, the same operation would still be waiting.
    const alone = new RetryBudget(policy, clock);
    assert.equal(alone.allowsRetry(throttled(), undefined), true);
  });

  it('gives up a registry unavailable for the whole window: requests are refused at once, but one goes every half window to see whether it is back', async () => {
    const clock = manualClock();
    const backoff = new RegistryBackoff(retryPolicy({ outageMs: 10_000, maxDelayMs: 30_000 }), clock, () => 0);
    backoff.unavailable('reg', '429 from registry reg', 1000);
    assert.equal(await backoff.wait('reg'), undefined, 'within the window, requests wait');
    assert.equal(clock.at, 1000);
    clock.at = 9000;
    backoff.unavailable('reg', '429 from registry reg', 1000);
    assert.deepEqual(backoff.givenUp(), [], 'within the window: not given up');
    clock.at = 12_000;
    assert.equal(await backoff.wait('reg'), undefined, 'the first request after the window goes, to see whether the registry is back');
    backoff.unavailable('reg', '429 from registry reg', 1000);
    assert.deepEqual(backoff.givenUp(), ['reg'], 'a failure past the window gives the registry up');
    const refusal = await backoff.wait('reg');
    assert.equal(refusal?.reason, 'given up on registry reg: 429 from registry reg for 12 s without a success (looked at again every 5 s)');
    assert.equal(clock.at, 12_000, 'a refusal does not wait');
    clock.at = 17_000;
    assert.equal(await backoff.wait('reg'), undefined, 'half a window later, one more request goes');
    assert.notEqual(await backoff.wait('reg'), undefined);
    backoff.recovered('reg');
    assert.equal(await backoff.wait('reg'), undefined, 'a success ends the episode');
    assert.equal(backoff.unavailableSince('reg'), undefined);
    assert.equal(await backoff.wait('other'), undefined, 'other registries are never held');
  });

  it('a success during a shared wait starts the window again for the next failure', () => {
    const clock = manualClock();
    const backoff = new RegistryBackoff(retryPolicy({ outageMs: 10_000 }), clock, () => 0);
    backoff.unavailable('reg', '503 from registry reg', 5000);
    clock.at = 2000;
    backoff.recovered('reg');
    assert.equal(backoff.unavailableSince('reg'), 2000);
    assert.equal(backoff.pending('reg').ms, 3000, 'the requests already waiting still wait');
  });

  it('forgets an episode with no failure for a whole window, so a long-lived process gives a registry a fresh window later', async () => {
    const clock = manualClock();
    const backoff = new RegistryBackoff(retryPolicy({ outageMs: 10_000 }), clock, () => 0);
    backoff.unavailable('reg', '503 from registry reg', 1000);
    clock.at = 8000;
    backoff.unavailable('reg', '503 from registry reg', 1000);
    clock.at = 17_000;
    assert.equal(backoff.unavailableSince('reg'), 0, 'failed 9 s ago: the episode goes on');
    assert.equal(await backoff.wait('reg'), undefined, 'a look, the window being over');
    assert.notEqual(await backoff.wait('reg'), undefined, 'the rest are refused');
    clock.at = 19_000;
    assert.equal(backoff.unavailableSince('reg'), 0, 'the last wait ended at 9 s: 10 s without a failure since, not more');
    clock.at = 19_001;
    assert.equal(backoff.unavailableSince('reg'), undefined, 'more than 10 s without a failure after the last wait: over');
    assert.equal(await backoff.wait('reg'), undefined);
    backoff.unavailable('reg', '503 from registry reg', 1000);
    assert.equal(backoff.unavailableSince('reg'), 19_001, 'a new failure starts a new window');
  });

  it('ends every wait for an unavailable registry with its window, however long the registry asks to wait', () => {
    const clock = manualClock();
    const backoff = new RegistryBackoff(retryPolicy({ outageMs: 6000, maxDelayMs: 30_000 }), clock, () => 0.999);
    assert.equal(backoff.unavailable('reg', '503 from registry reg', 20_000), 6000, 'not 20 s: the window is 6 s');
    clock.at = 6000;
    assert.equal(backoff.windowLeftMs('reg'), 0);
    assert.equal(backoff.windowLeftMs('other'), Infinity);
  });

  it('does not give up a registry that throttles now and then but answers other requests meanwhile', () => {
    const clock = manualClock();
    const policy = retryPolicy({ outageMs: 4000 });
    const backoff = new RegistryBackoff(policy, clock, () => 0);
    const op = new RetryBudget(policy, clock);
    for (let at = 0; at <= 20_000; at += 1000) {
      clock.at = at;
      backoff.unavailable('reg', '429 from registry reg', 500);
      // This operation meets a 429 every second for 20 s, while another request succeeds each time.
      assert.equal(op.allowsRetry(throttled(), backoff.unavailableSince('reg')), true, `at ${at} ms`);
      clock.at = at + 600;
      backoff.recovered('reg');
    }
    assert.equal(op.attempts, 21, 'every try is numbered');
  });

  it('hands a failure back for a later delivery when it is transient or its registry stayed unavailable, not when it was refused', () => {
    assert.equal(isRedeliverable(markExhausted(throttled())), true, 'a 429 that outlasted the window: a later delivery waits for it');
    assert.equal(isRedeliverable(markExhausted(Object.assign(new Error('given up on registry reg'), { unavailable: true }))), true);
    assert.equal(isRedeliverable(new RegistryError({ method: 'GET', url: 'https://reg/v2/', status: 500 })), true);
    assert.equal(isRedeliverable(markExhausted(new RegistryError({ method: 'GET', url: 'https://reg/v2/', status: 500 }))), false);
    assert.equal(
      isRedeliverable(new RegistryError({ method: 'GET', url: 'https://reg/v2/', status: 403, codes: [{ code: 'DENIED', message: '' }] })),
      false,
    );
  });
});
