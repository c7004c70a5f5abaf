/**
 * Which requests the run's shared token serves, and how announcements are grouped so that a token
 * URL stays short.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunScopes } from '../../shared/registry/run-scopes.js';

describe('run scopes', () => {
  it('serves requests whose scopes were all announced, with the actions announced', () => {
    const s = new RunScopes();
    s.announce('r', 'src/a', false);
    s.announce('r', 'dst/a', true);
    assert.deepEqual(s.covering('r', ['repository:dst/a:pull']), ['repository:src/a:pull', 'repository:dst/a:pull,push']);
    assert.ok(s.covering('r', ['repository:dst/a:pull,push', 'repository:src/a:pull']) !== undefined);
    assert.equal(s.covering('r', ['repository:src/a:pull,push']), undefined, 'push was not announced');
    assert.equal(s.covering('r', ['repository:other:pull']), undefined);
    assert.equal(s.covering('other', ['repository:src/a:pull']), undefined);
    assert.equal(s.covering('r', ['registry:catalog:*']), undefined);
    s.announce('r', 'src/a', true);
    assert.ok(s.covering('r', ['repository:src/a:pull,push']) !== undefined, 'a later announcement widens the actions');
  });

  it('takes out repositories the shared token could not serve, or the whole registry when refused', () => {
    const s = new RunScopes();
    for (const r of ['a', 'b']) s.announce('r', r, true);
    s.exclude('r', ['repository:a:pull,push']);
    assert.equal(s.covering('r', ['repository:a:pull']), undefined);
    assert.ok(s.covering('r', ['repository:b:pull']) !== undefined);
    s.refuse('r');
    assert.equal(s.covering('r', ['repository:b:pull']), undefined);
  });

  it('splits very many repositories into groups of a few KB of scopes', () => {
    const s = new RunScopes();
    const names = Array.from({ length: 400 }, (_, i) => `some-organisation/a-fairly-long-repository-name-${i}`);
    for (const n of names) s.announce('r', n, true);
    const first = s.covering('r', [`repository:${names[0]}:pull`]) ?? [];
    const last = s.covering('r', [`repository:${names[399]}:pull`]) ?? [];
    assert.ok(first.length > 10 && first.length < 400);
    assert.ok(first.join('&scope=').length < 8000);
    assert.notDeepEqual(first, last);
    assert.equal(
      s.covering('r', [`repository:${names[0]}:pull`, `repository:${names[399]}:pull`]),
      undefined,
      'two groups need a token of their own',
    );
  });
});
