/**
 * The in-process pieces of the local pipeline: bounded concurrency, one result per task, the summary
 * line of Huawei's image-migrator, which failures are retried.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlobTracker } from '../../shared/copy/blob-tracker.js';
import { mapLimit } from '../../shared/copy/limit.js';
import { backoffMs, isRetryable } from '../../shared/registry/retry.js';
import { ConfigError, DigestMismatchError } from '../../shared/errors.js';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { InProcessQueue } from '../../shared/pipeline/in-process-queue.js';
import type { CopyTask } from '../../shared/pipeline/task.js';
import { runLocal, type RunEvent } from '../../shared/pipeline/local-run.js';
import type { Registry } from '../../shared/registry/types.js';
import { MemoryResultStore } from '../../shared/pipeline/memory-result-store.js';
import { exitCodeOf, summaryLine } from '../../shared/pipeline/run-counts.js';
import { RegistryError } from '../../shared/registry/registry-error.js';

describe('local pipeline pieces', () => {
  it("prints the summary line of Huawei's image-migrator", () => {
    assert.equal(
      summaryLine({ tasks: 38, failed: 2, generateFailed: 1 }),
      'Images(38) migration finished, 2 images tasks failed, 1 tasks generate failed',
    );
    assert.equal(exitCodeOf({ failed: 0, generateFailed: 0 }), 0);
    assert.equal(exitCodeOf({ failed: 0, generateFailed: 1 }), 1);
  });

  it('runs at most `workers` tasks at once and handles every task', async () => {
    let running = 0;
    let peak = 0;
    const done: string[] = [];
    const queue = new InProcessQueue(3, async (task) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      done.push(task.taskId);
    });
    await queue.enqueue(Array.from({ length: 10 }, (_, i) => ({ runId: 'r', taskId: String(i), source: 's', destination: 'd' })));
    await queue.drained();
    assert.equal(peak, 3);
    assert.equal(done.length, 10);
  });

  it('hands each free slot to the largest waiting task, equal ones in the order they came', async () => {
    const order: string[] = [];
    let release: () => void = () => undefined;
    const busy = new Promise<void>((resolve) => (release = resolve));
    const queue = new InProcessQueue(
      1,
      async (task) => {
        order.push(task.taskId);
        if (task.taskId === 'first') await busy;
      },
      { size: (task) => Number(task.source) },
    );
    const task = (taskId: string, size: number): CopyTask => ({ runId: 'r', taskId, source: String(size), destination: 'd' });
    await queue.enqueue([task('first', 1)]);
    // While the only slot is busy, tasks of every size wait.
    await queue.enqueue([
      task('small', 5),
      task('big', 900),
      task('mid-a', 40),
      task('tiny', 0),
      task('mid-b', 40),
      task('huge', Infinity),
    ]);
    release();
    await queue.drained();
    assert.deepEqual(order, ['first', 'huge', 'big', 'mid-a', 'mid-b', 'small', 'tiny']);
  });

  it('keeps the first result of a task and ignores a second one', async () => {
    const store = new MemoryResultStore();
    const result = { taskId: 't', source: 's', destination: 'd', outcome: 'copied' as const, bytes: 1, attempts: 1, durationMs: 1 };
    assert.equal(await store.recordResult('r', result), true);
    assert.equal(await store.recordResult('r', { ...result, outcome: 'failed' }), false);
    assert.deepEqual(
      (await store.listResults('r')).map((r) => r.outcome),
      ['copied'],
    );
  });

  it('mapLimit keeps order and reports the first failure after the others settle', async () => {
    assert.deepEqual(await mapLimit([3, 1, 2], 2, async (n) => n * 2), [6, 2, 4]);
    let settled = 0;
    await assert.rejects(
      mapLimit([1, 2, 3], 3, async (n) => {
        if (n === 1) throw new Error('one');
        settled++;
      }),
      /one/,
    );
    assert.equal(settled, 2);
  });

  it('remembers where blobs are, to skip or mount them', () => {
    const tracker = new BlobTracker();
    tracker.add('reg', 'a/b', 'sha256:1');
    assert.equal(tracker.has('reg', 'a/b', 'sha256:1'), true);
    assert.equal(tracker.has('reg', 'a/c', 'sha256:1'), false);
    assert.equal(tracker.repositoryWith('reg', 'sha256:1'), 'a/b');
    assert.equal(tracker.repositoryWith('other', 'sha256:1'), undefined);
  });

  it('retries transient failures only, never longer than asked', () => {
    assert.equal(isRetryable(new ConfigError('f', 'k', 'bad')), false);
    assert.equal(isRetryable(new DigestMismatchError('a', 'b', 'blob')), true);
    assert.equal(isRetryable(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), true);
    assert.equal(isRetryable(new Error('plain')), false);
    for (let attempt = 1; attempt < 10; attempt++) {
      const delay = backoffMs(attempt, undefined, 100, 1000);
      assert.ok(delay >= 0 && delay <= 1000);
    }
    assert.equal(backoffMs(1, { retryAfterMs: 700 }, 1, 1000), 700);
    assert.equal(isRetryable(new RegistryError({ method: 'GET', url: 'http://r/v2/', status: 503 })), true);
    assert.equal(isRetryable(new RegistryError({ method: 'GET', url: 'http://r/v2/', status: 404 })), false);
  });

  it('starts copying a listed rule while another is still listed, and reports in plan order', { timeout: 5000 }, async () => {
    // Only the tag listing is stood in for: its timing is what this test controls. Real registries are
    // exercised by the integration tests.
    const rules = parseImagesFile(
      JSON.stringify({
        'r.example/a/one': 'd.example/a/one',
        'r.example/a/two': 'd.example/a/two',
        'r.example/a/one:v1': 'd.example/a/one:v1',
      }),
      'images.json',
      {},
    );
    let releaseTwo: () => void = () => undefined;
    const twoListed = new Promise<void>((resolve) => (releaseTwo = resolve));
    const registry = {
      listTags: async (repo: { repository: string }) => {
        if (repo.repository === 'a/two') await twoListed;
        return ['v1', 'v2'];
      },
    } as unknown as Registry;
    const copied: string[] = [];
    const copier = {
      copy: async (task: { source: string }) => {
        copied.push(task.source);
        // The second rule is listed only once the first rule's copies are under way.
        if (task.source.includes('/a/one:')) releaseTwo();
        return { outcome: 'up-to-date' as const, digest: 'sha256:x', bytes: 0 };
      },
    };
    const events: RunEvent[] = [];
    const result = await runLocal({ rules, registry, copier, workers: 2, retries: 0, onEvent: (e) => events.push(e) });
    assert.deepEqual(copied.slice(0, 2), ['r.example/a/one:v1', 'r.example/a/one:v2']);
    assert.equal(copied.length, 4, 'the tag rule repeats a copy of the first rule and is done once');
    assert.equal(events[0]?.type, 'planned');
    assert.deepEqual(
      events.slice(1).map((e) => (e.type === 'done' ? `${e.finished}/${e.total}` : e.type)),
      ['1/4', '2/4', '3/4', '4/4'],
    );
    assert.deepEqual(
      result.results.map((r) => r.taskId),
      ['1:v1', '1:v2', '2:v1', '2:v2'],
    );
    assert.deepEqual([result.counts.tasks, result.counts.upToDate, result.counts.failed], [4, 4, 0]);
  });
});
