/**
 * The adaptive limiter alone, with a hand-driven clock: additive increase up to the cap, halving on a
 * 429 or 503 once per cool-down, a fifth off on rising latency, waiting requests served in order, and
 * slots held until a body ends.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { AdaptiveLimiter } from '../../shared/registry/adaptive-limit.js';
import { RequestKind } from '../../shared/registry/types.js';

describe('adaptive limiter', () => {
  it('starts at the cap, halves on a throttle once per cool-down, and grows back by one per round of answers', async () => {
    let now = 0;
    const limiter = new AdaptiveLimiter({ max: 8, now: () => now });
    const head = RequestKind.ManifestHead;
    assert.equal(limiter.limitOf('r', head), 8);
    (await limiter.acquire('r', head)).settle(429);
    (await limiter.acquire('r', head)).settle(503);
    assert.equal(limiter.limitOf('r', head), 4, 'two refusals within one cool-down (a round trip) count once');
    now += 1000;
    (await limiter.acquire('r', head)).settle(429);
    assert.equal(limiter.limitOf('r', head), 2);
    for (let i = 0; i < 2 + 3; i++) (await limiter.acquire('r', head)).settle(200);
    assert.equal(limiter.limitOf('r', head), 3);
    for (let i = 0; i < 200; i++) (await limiter.acquire('r', head)).settle(200);
    assert.equal(limiter.limitOf('r', head), 8, 'never above the cap');
    assert.equal(limiter.limitOf('other', head), 8, 'per host');
    assert.equal(limiter.limitOf('r', RequestKind.BlobGet), 8, 'per kind');
    assert.equal(limiter.limitOf('r', RequestKind.Token), Infinity, 'tokens are not limited');
  });

  it('takes a fifth off when latency rises well above the fastest seen', async () => {
    let now = 0;
    const limiter = new AdaptiveLimiter({ max: 10, now: () => now });
    const timed = async (ms: number): Promise<void> => {
      const p = await limiter.acquire('r', RequestKind.BlobGet);
      now += ms;
      p.settle(200);
    };
    for (let i = 0; i < 5; i++) await timed(10);
    assert.equal(limiter.limitOf('r', RequestKind.BlobGet), 10);
    for (let i = 0; i < 10; i++) await timed(2000);
    assert.ok(limiter.limitOf('r', RequestKind.BlobGet) < 10);
    // Uploads take as long as their blobs are big: their duration is no signal.
    for (let i = 0; i < 10; i++) {
      const p = await limiter.acquire('r', RequestKind.BlobPut);
      now += i === 0 ? 1 : 5000;
      p.settle(201);
    }
    assert.equal(limiter.limitOf('r', RequestKind.BlobPut), 10);
  });

  it('queues beyond the limit, serves the waiting in order, and holds a slot until the body ends', async () => {
    const limiter = new AdaptiveLimiter({ max: 2 });
    const kind = RequestKind.BlobGet;
    const first = await limiter.acquire('r', kind);
    const second = await limiter.acquire('r', kind);
    const order: number[] = [];
    const third = limiter.acquire('r', kind).then((p) => (order.push(3), p));
    const fourth = limiter.acquire('r', kind).then((p) => (order.push(4), p));
    const body = new PassThrough();
    first.settle(200, body);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, [], 'the slot is still held by an unread body');
    body.resume();
    body.end();
    await third;
    assert.deepEqual(order, [3]);
    second.settle(0);
    await fourth;
    assert.deepEqual(order, [3, 4]);
  });
});
