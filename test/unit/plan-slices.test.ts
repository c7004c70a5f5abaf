/**
 * Plan slices: a run's rules cut in order by count and by bytes, each slice under the SQS message
 * limit, the covered tags of an all-tags rule travelling with it, and what a slice turns into.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseQueueMessage } from '../../functions/adapters/queue-message.js';
import { SQS_PAYLOAD_LIMIT } from '../../functions/adapters/sqs-task-queue.js';
import { planSlices, SLICE_MAX_RULES, sliceContents, tagTaskCount } from '../../functions/tasks/plan-slices.js';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { resolveOverlaps } from '../../shared/pipeline/rule-overlap.js';
import { imagesText, tagRuleLines } from '../support/large-images.js';

describe('plan slices', () => {
  it('cuts 2,500 tag rules in order into slices under the SQS limit, every rule once', () => {
    const rules = parseImagesFile(imagesText(tagRuleLines(2500)), 'images.json', {});
    const slices = planSlices('run-1', rules, new Map());
    assert.ok(slices.length >= 3, `${slices.length} slices`);
    assert.deepEqual(
      slices.map((s) => s.slice),
      slices.map((_, i) => i + 1),
    );
    assert.deepEqual(
      slices.flatMap((s) => s.rules.map((r) => r.index)),
      rules.map((r) => r.index),
    );
    for (const slice of slices) {
      assert.ok(slice.rules.length <= SLICE_MAX_RULES);
      const body = JSON.stringify(slice);
      assert.ok(Buffer.byteLength(body) < SQS_PAYLOAD_LIMIT, `slice ${slice.slice}: ${Buffer.byteLength(body)} bytes`);
      assert.deepEqual(parseQueueMessage(body), slice, 'read back as sent');
    }
  });

  it('cuts by rule count when rules are small, and puts a rule larger than the byte limit alone', () => {
    const rules = parseImagesFile(imagesText(tagRuleLines(25)), 'images.json', {});
    assert.deepEqual(
      planSlices('r', rules, new Map(), { rules: 10, bytes: 1_000_000 }).map((s) => s.rules.length),
      [10, 10, 5],
    );
    assert.deepEqual(
      planSlices('r', rules.slice(0, 3), new Map(), { rules: 10, bytes: 10 }).map((s) => s.rules.length),
      [1, 1, 1],
    );
  });

  it('carries the covered tags of an all-tags rule in its slice and turns a slice into tasks and expansions', () => {
    const rules = parseImagesFile(
      JSON.stringify({
        'quay.io/team/app': 'swr.example.com/mirror/app',
        'quay.io/team/app:1.0': 'swr.example.com/mirror/app:1.0',
        'quay.io/team/app:2.0': 'swr.example.com/mirror/app',
        'quay.io/team/db:5': { to: 'swr.example.com/mirror/db', platforms: ['linux/amd64'] },
      }),
      'images.json',
      {},
    );
    const { rules: unique, coveredTags } = resolveOverlaps(rules);
    assert.equal(tagTaskCount(unique), 3);
    const slices = planSlices('run-2', unique, coveredTags, { rules: 10, bytes: 100_000 });
    assert.equal(slices.length, 1);
    const slice = slices[0];
    assert.ok(slice !== undefined);
    assert.deepEqual(slice.skipTags, { '1': ['1.0', '2.0'] });
    const { tasks, expansions, coveredTags: covered } = sliceContents(slice);
    assert.deepEqual(
      tasks.map((t) => [t.taskId, t.source, t.destination, t.platforms]),
      [
        ['2:1.0', 'quay.io/team/app:1.0', 'swr.example.com/mirror/app:1.0', undefined],
        ['3:2.0', 'quay.io/team/app:2.0', 'swr.example.com/mirror/app:2.0', undefined],
        ['4:5', 'quay.io/team/db:5', 'swr.example.com/mirror/db:5', ['linux/amd64']],
      ],
    );
    assert.deepEqual(
      expansions.map((r) => r.key),
      ['quay.io/team/app'],
    );
    assert.deepEqual([...covered], [[1, ['1.0', '2.0']]]);
  });
});
