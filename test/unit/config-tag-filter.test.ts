import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectTags } from '../../shared/config/tag-filter.js';

const TAGS = ['latest', 'v3.4.9', 'v3.5.0', 'v3.5.1-rc.1', 'v3.5.1', '3.5.2', 'v3.6.0', 'v4.0.0', 'sha256-abc.sig', 'main-1f2e3d', 'v3.x'];

describe('tag filters', () => {
  it('includes by glob: * any run, ? one character, the whole tag', () => {
    assert.deepEqual(selectTags(TAGS, { include: ['v3.5.?'] }).selected, ['v3.5.0', 'v3.5.1']);
    assert.deepEqual(selectTags(TAGS, { include: ['v3.*'] }).selected, ['v3.4.9', 'v3.5.0', 'v3.5.1-rc.1', 'v3.5.1', 'v3.6.0', 'v3.x']);
    assert.deepEqual(selectTags(TAGS, { include: ['3.*', 'latest'] }).selected, ['latest', '3.5.2']);
    assert.deepEqual(selectTags(TAGS, { include: ['v[34].[05].0'] }).selected, ['v3.5.0', 'v4.0.0']);
  });

  it('excludes by glob and by /regex/ (a regex matches anywhere unless anchored)', () => {
    const { selected, rejected } = selectTags(TAGS, { exclude: ['*-rc*', '/^sha256-/', '/[0-9a-f]{6}$/'] });
    assert.deepEqual(selected, ['latest', 'v3.4.9', 'v3.5.0', 'v3.5.1', '3.5.2', 'v3.6.0', 'v4.0.0', 'v3.x']);
    assert.deepEqual(rejected, [
      { tag: 'v3.5.1-rc.1', reason: 'excluded by "*-rc*"' },
      { tag: 'sha256-abc.sig', reason: 'excluded by "/^sha256-/"' },
      { tag: 'main-1f2e3d', reason: 'excluded by "/[0-9a-f]{6}$/"' },
    ]);
  });

  it('takes a semver range, with or without a leading v; pre-releases only when the range names one; other tags drop out', () => {
    const { selected, rejected } = selectTags(TAGS, { semver: '>=3.5.0 <4' });
    assert.deepEqual(selected, ['v3.5.0', 'v3.5.1', '3.5.2', 'v3.6.0']);
    assert.deepEqual(
      rejected.map((r) => `${r.tag}: ${r.reason}`),
      [
        'latest: not a semantic version',
        'v3.4.9: outside the semver range ">=3.5.0 <4"',
        'v3.5.1-rc.1: outside the semver range ">=3.5.0 <4"',
        'v4.0.0: outside the semver range ">=3.5.0 <4"',
        'sha256-abc.sig: not a semantic version',
        'main-1f2e3d: not a semantic version',
        'v3.x: not a semantic version',
      ],
    );
    assert.deepEqual(selectTags(TAGS, { semver: '>=v3.5.1-rc.0 <3.5.2' }).selected, ['v3.5.1-rc.1', 'v3.5.1']);
  });

  it('keeps the latest N by semver, pre-releases ranked as semver ranks them, in listing order', () => {
    assert.deepEqual(selectTags(TAGS, { latest: 3 }).selected, ['3.5.2', 'v3.6.0', 'v4.0.0']);
    assert.deepEqual(selectTags(['1.0.0-rc.1', '0.9.0'], { latest: 1 }).selected, ['1.0.0-rc.1']);
    const { rejected } = selectTags(TAGS, { latest: 6 });
    assert.deepEqual(
      rejected.filter((r) => r.reason.startsWith('not among')).map((r) => r.tag),
      ['v3.4.9'],
    );
  });

  it('applies include, exclude, semver, then latest', () => {
    const filter = { include: ['v3.*', '3.*'], exclude: ['*-rc*'], semver: '>=3.5.0 <4', latest: 2 };
    const { selected, rejected } = selectTags(TAGS, filter);
    assert.deepEqual(selected, ['3.5.2', 'v3.6.0']);
    assert.deepEqual(Object.fromEntries(rejected.map((r) => [r.tag, r.reason])), {
      latest: 'not included by "v3.*", "3.*"',
      'v3.4.9': 'outside the semver range ">=3.5.0 <4"',
      'v3.5.1-rc.1': 'excluded by "*-rc*"',
      'v3.5.0': 'not among the latest 2',
      'v3.5.1': 'not among the latest 2',
      'v4.0.0': 'not included by "v3.*", "3.*"',
      'sha256-abc.sig': 'not included by "v3.*", "3.*"',
      'main-1f2e3d': 'not included by "v3.*", "3.*"',
      'v3.x': 'not a semantic version',
    });
  });

  it('breaks ties between equal versions by tag, whatever the listing order', () => {
    assert.deepEqual(selectTags(['v1.2.3', '1.2.3', '1.0.0'], { latest: 1 }).selected, ['1.2.3']);
    assert.deepEqual(selectTags(['1.2.3', 'v1.2.3', '1.0.0'], { latest: 1 }).selected, ['1.2.3']);
  });
});
