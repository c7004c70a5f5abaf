/**
 * The work queue's messages and the planner's event: what the planner sends is what the copier
 * reads back, and a body of the wrong shape is refused naming the field that is wrong.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { ConfigError } from '../../shared/errors.js';
import { parseEvent, PlannerEventSchema } from '../../shared/pipeline/function-events.js';
import { copyMessage, expandMessage, MalformedMessageError, parseQueueMessage, taskOf } from '../../functions/adapters/queue-message.js';

const [rule] = parseImagesFile('{"quay.io/coreos/etcd": "swr.example.com/team/etcd"}', 'images.json', {});

describe('queue messages', () => {
  it('reads back what the planner sends, rule included', () => {
    const copy = copyMessage({
      runId: 'r1',
      taskId: 't1',
      source: 'quay.io/coreos/etcd:3.5',
      destination: 'swr.example.com/team/etcd:3.5',
    });
    assert.deepEqual(parseQueueMessage(JSON.stringify(copy)), copy);
    const expand = expandMessage('r1', rule!, ['3.5']);
    assert.deepEqual(parseQueueMessage(JSON.stringify(expand)), expand);
    assert.deepEqual(parseQueueMessage(JSON.stringify(expand)).type, 'expand');
  });

  it("carries a rule's copy options in the copy message and back to the task", () => {
    const task = {
      runId: 'r1',
      taskId: 't1',
      source: 'mcr.microsoft.com/windows/servercore:ltsc2022',
      destination: 'swr.example.com/team/servercore:ltsc2022',
      platforms: ['windows/amd64'],
      referrers: true,
      foreignLayers: true,
    };
    const message = parseQueueMessage(JSON.stringify(copyMessage(task)));
    assert.equal(message.type, 'copy');
    assert.deepEqual(message.type === 'copy' ? taskOf(message) : undefined, task);
  });

  it('carries what the run state needs: hints already checked, a run without the state', () => {
    const copy = copyMessage({
      runId: 'r1',
      taskId: 't1',
      source: 'quay.io/coreos/etcd:3.5',
      destination: 'swr.example.com/team/etcd:3.5',
      hintsChecked: true,
      noState: true,
    });
    assert.deepEqual(parseQueueMessage(JSON.stringify(copy)), copy);
    assert.equal(copy.hintsChecked, true);
    assert.equal(copy.noState, true);
    const expand = expandMessage('r1', rule!, [], true);
    assert.deepEqual(parseQueueMessage(JSON.stringify(expand)), { type: 'expand', runId: 'r1', rule, noState: true });
    assert.equal('noState' in expandMessage('r1', rule!, [], false), false);
    assert.deepEqual(parseEvent(PlannerEventSchema, { images: '{}', state: false }, 'planner event'), { images: '{}', state: false });
  });

  it('reads back a task handed on by an invocation that reached its deadline, and refuses a malformed hand-over', () => {
    const task = { runId: 'r1', taskId: 't1', source: 'a.io/n/r:1', destination: 'b.io/n/r:1' };
    const handedOn = { invocations: 2, bytes: 33554432, requests: 17, durationMs: 4200, retried: { 'upload-resume': 1 } };
    const message = { ...copyMessage(task), handedOn };
    assert.deepEqual(parseQueueMessage(JSON.stringify(message)), message);
    assert.throws(
      () => parseQueueMessage(JSON.stringify({ ...message, handedOn: { ...handedOn, bytes: -1 } })),
      (e: unknown) => e instanceof MalformedMessageError && /handedOn\.bytes/.test(e.message),
    );
  });

  it('reads a body without a type as a copy task', () => {
    const task = { runId: 'r1', taskId: 't1', source: 'a.io/n/r:1', destination: 'b.io/n/r:1' };
    assert.deepEqual(parseQueueMessage(JSON.stringify(task)), { type: 'copy', ...task });
  });

  it('refuses bodies of the wrong shape, naming the field', () => {
    const refused = (body: string, text: RegExp) =>
      assert.throws(
        () => parseQueueMessage(body),
        (e: unknown) => e instanceof MalformedMessageError && text.test(e.message),
      );
    refused('not json', /^malformed queue message: not JSON$/);
    refused('{"taskId":"t","source":"s","destination":"d"}', /^malformed queue message: runId: /);
    refused('{"type":"copy","runId":"r","taskId":"t","source":"s"}', /destination: /);
    refused('{"type":"ping","runId":"r"}', /type: /);
    const { source: _source, ...noSource } = rule!;
    refused(JSON.stringify({ type: 'expand', runId: 'r', rule: noSource }), /rule\.source: /);
    refused(JSON.stringify({ type: 'expand', runId: 'r', rule: { ...rule, index: 'one' } }), /rule\.index: /);
    refused(JSON.stringify({ type: 'slice', runId: 'r', slice: 1, rules: [] }), /^malformed queue message: rules: /);
    refused(JSON.stringify({ type: 'slice', runId: 'r', slice: 0, rules: [rule] }), /^malformed queue message: slice: /);
  });
});

describe('planner event', () => {
  it('accepts rules inline or stored, and refuses anything else as a ConfigError naming the field', () => {
    assert.deepEqual(parseEvent(PlannerEventSchema, { images: '{}' }, 'planner event'), { images: '{}' });
    assert.deepEqual(parseEvent(PlannerEventSchema, { rulesParameter: 'nightly', trigger: 'schedule:nightly' }, 'planner event'), {
      rulesParameter: 'nightly',
      trigger: 'schedule:nightly',
    });
    const refused = (event: unknown, message: string) =>
      assert.throws(
        () => parseEvent(PlannerEventSchema, event, 'planner event'),
        (e: unknown) => e instanceof ConfigError && e.message === message,
      );
    refused({ images: {}, rulesParameter: 'x' }, 'planner event: give one of "images", "imagesGzip" and "rulesParameter", not several');
    refused(
      {},
      'planner event: needs "images" (the rules of images.json, as an object or its text), "imagesGzip" (the text gzipped, in base64) or "rulesParameter" (the name of stored rules)',
    );
    refused({ images: ['a'] }, 'planner event: "images": Invalid input');
    refused({ images: '{}', trigger: 7 }, 'planner event: "trigger": Invalid input: expected string, received number');
  });
});
