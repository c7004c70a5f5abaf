import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { copiesReferrers } from '../../shared/config/image-rule.js';
import { type MigrationRule, parseImagesFile } from '../../shared/config/images-file.js';
import { formatReference } from '../../shared/reference.js';

const FILE = 'images.json';
const DEFAULTS = { registry: 'swr.example.com', namespace: 'test' };
const SOURCE = 'quay.io/coreos/etcd';

function parse(rules: Record<string, unknown> | string): MigrationRule[] {
  return parseImagesFile(typeof rules === 'string' ? rules : JSON.stringify(rules), FILE, DEFAULTS);
}

function rejects(value: unknown, message: string, source = SOURCE): void {
  assert.throws(() => parse({ [source]: value }), { name: 'ConfigError', message: `images.json: ${JSON.stringify(source)}: ${message}` });
}

describe('images.json: the object form of a rule', () => {
  it('reads every key, beside string and list rules that keep their meaning', () => {
    const rules = parse({
      [SOURCE]: {
        to: 'registry.example.com/team/etcd',
        tags: { include: ['v3.*'], exclude: ['*-rc*', '/^sha256-/'], semver: '>=3.5.0 <4', latest: 3 },
        platforms: ['linux/amd64', 'linux/arm64'],
        referrers: true,
        immutable: true,
        foreignLayers: true,
      },
      'nginx:1.25': 'registry.example.com/team/web',
      'ghcr.io/acme/worker:1.0': ['a.example.com/team/worker', 'b.example.com/team/worker'],
    });
    assert.equal(rules.length, 4);
    const [object, web, w1] = rules as [MigrationRule, MigrationRule, MigrationRule];
    assert.deepEqual(object.tags, { include: ['v3.*'], exclude: ['*-rc*', '/^sha256-/'], semver: '>=3.5.0 <4', latest: 3 });
    assert.deepEqual(object.platforms, ['linux/amd64', 'linux/arm64']);
    assert.equal(object.referrers, true);
    assert.equal(object.immutable, true);
    assert.equal(object.foreignLayers, true);
    assert.equal(object.allTags, true);
    assert.equal(formatReference(object.destination), 'registry.example.com/team/etcd');
    for (const plain of [web, w1]) {
      assert.equal(plain.tags, undefined);
      assert.equal(plain.platforms, undefined);
      assert.equal(plain.referrers, undefined);
      assert.equal(plain.immutable, undefined);
      assert.equal(plain.foreignLayers, undefined);
    }
    assert.equal(formatReference(web.destination), 'registry.example.com/team/web:1.25');
  });

  it('takes a list or "" as `to`, with the options on every destination', () => {
    const rules = parse({ 'quay.io/coreos/etcd:3.5': { to: ['a.example.com/x/etcd', ''], platforms: ['linux/arm64/v8'] } });
    assert.deepEqual(
      rules.map((r) => `${formatReference(r.destination)} ${r.platforms?.join(',')}`),
      ['a.example.com/x/etcd:3.5 linux/arm64/v8', 'swr.example.com/test/etcd:3.5 linux/arm64/v8'],
    );
  });

  it('takes objects beside destinations in a list, each its own rule', () => {
    const rules = parse({
      'quay.io/coreos/etcd:3.5': ['a.example.com/x/etcd', { to: 'b.example.com/y/etcd', platforms: ['linux/amd64'] }],
    });
    assert.deepEqual(
      rules.map((r) => `${formatReference(r.destination)} ${r.platforms?.join(',') ?? 'all'}`),
      ['a.example.com/x/etcd:3.5 all', 'b.example.com/y/etcd:3.5 linux/amd64'],
    );
    rejects(
      ['a.example.com/x/etcd', { to: 'b.example.com/y/etcd', platforms: ['amd64'] }],
      'element 2: platforms[0]: "amd64" is not os/arch[/variant] (e.g. "linux/amd64", "linux/arm64/v8")',
    );
  });

  it('accepts one pattern written as a string', () => {
    const [rule] = parse({ [SOURCE]: { to: 'a.example.com/x/etcd', tags: { include: 'v*', exclude: '/-rc/' } } });
    assert.deepEqual(rule?.tags, { include: ['v*'], exclude: ['/-rc/'] });
  });

  it("keeps the rules of Huawei's image-migrator inside the object form", () => {
    rejects(
      { to: 'a.example.com/x/etcd:3.5' },
      'rule 6: the source has no tag, so every tag is copied and the destination must not have one (write "a.example.com/x/etcd")',
    );
    assert.throws(() => parseImagesFile(JSON.stringify({ [SOURCE]: { to: '' } }), FILE, {}), {
      message:
        'images.json: "quay.io/coreos/etcd": rule 8: the destination is empty and no default registry is set (use --registry or DEFAULT_REGISTRY)',
    });
  });

  it('copies referrers by default for tag and digest rules and filtered all-tags rules', () => {
    const rules = parse({
      'quay.io/coreos/etcd:3.5': 'a.example.com/x/etcd',
      [`quay.io/coreos/etcd@sha256:${'a'.repeat(64)}`]: 'a.example.com/y/etcd',
      [SOURCE]: 'a.example.com/z/etcd',
      'quay.io/coreos/etcd2': { to: 'a.example.com/w/etcd', tags: { latest: 2 } },
      'quay.io/coreos/etcd3:3': { to: 'a.example.com/v/etcd', referrers: false },
    });
    assert.deepEqual(rules.map(copiesReferrers), [true, true, false, true, false]);
  });
});

describe('images.json: every mistake in the object form names the file, the rule and the key', () => {
  const to = 'a.example.com/x/etcd';
  const cases: [string, unknown, string][] = [
    [
      'an unknown key',
      { to, tag: { latest: 1 } },
      'tag: unknown key (a rule takes to, tags, platforms, referrers, immutable, foreignLayers)',
    ],
    ['an unknown key of tags', { to, tags: { newest: 3 } }, 'tags.newest: unknown key (tags takes include, exclude, semver, latest)'],
    [
      'no `to`',
      { platforms: ['linux/amd64'] },
      'to: is required: the destination, a list of destinations, or "" for the default registry and namespace',
    ],
    ['`to` not a string', { to: 7 }, 'to: must be a destination string, a list of them, or "", not a number'],
    ['an empty `to` list', { to: [] }, 'to: the list of destinations is empty'],
    ['tags not an object', { to, tags: ['v1'] }, 'tags: must be an object with include, exclude, semver, latest, not an array'],
    [
      'a glob with a space',
      { to, tags: { include: ['v3 *'] } },
      'tags.include[0]: "v3 *" is not a valid glob: a glob holds tag characters (letters, digits, _ . -) and the wildcards *, ? and [...]; write anything else as /regex/',
    ],
    [
      'an unclosed glob class',
      { to, tags: { include: ['v*', 'v3.[0-9'] } },
      'tags.include[1]: "v3.[0-9" is not a valid glob: a glob holds tag characters (letters, digits, _ . -) and the wildcards *, ? and [...]; write anything else as /regex/',
    ],
    [
      'a bad regex',
      { to, tags: { exclude: ['-rc', '/^(sha256-/'] } },
      'tags.exclude[1]: "/^(sha256-/" is not a valid regular expression: /^(sha256-/: Unterminated group',
    ],
    [
      'an unclosed regex',
      { to, tags: { exclude: '/^sha256-' } },
      'tags.exclude: "/^sha256-" starts with / but does not end with one; write a regular expression as /.../',
    ],
    [
      'a pattern not a string',
      { to, tags: { include: [3] } },
      'tags.include: must be a pattern or a list of patterns (globs with * and ?, or /regex/), not an array',
    ],
    [
      'a bad semver range',
      { to, tags: { semver: 'newest' } },
      'tags.semver: "newest" is not a semver range (e.g. ">=3.5.0 <4", "^1.2", "~2.0.1 || 3.x")',
    ],
    [
      'semver not a string',
      { to, tags: { semver: 3 } },
      'tags.semver: must be a semver range as a string (e.g. ">=3.5.0 <4"), not a number',
    ],
    ['latest 0', { to, tags: { latest: 0 } }, 'tags.latest: must be a whole number of at least 1, not 0'],
    ['latest negative', { to, tags: { latest: -2 } }, 'tags.latest: must be a whole number of at least 1, not -2'],
    ['latest fractional', { to, tags: { latest: 1.5 } }, 'tags.latest: must be a whole number of at least 1, not 1.5'],
    ['latest a string', { to, tags: { latest: '3' } }, 'tags.latest: must be a whole number of at least 1, not a string'],
    [
      'a platform without an arch',
      { to, platforms: ['linux/amd64', 'linux'] },
      'platforms[1]: "linux" is not os/arch[/variant] (e.g. "linux/amd64", "linux/arm64/v8")',
    ],
    [
      'a platform with four parts',
      { to, platforms: ['linux/arm/v7/x'] },
      'platforms[0]: "linux/arm/v7/x" is not os/arch[/variant] (e.g. "linux/amd64", "linux/arm64/v8")',
    ],
    [
      'platforms as a string',
      { to, platforms: 'linux/amd64' },
      'platforms: must be a list of platforms such as ["linux/amd64", "linux/arm64"], not a string',
    ],
    ['an empty platform list', { to, platforms: [] }, 'platforms: the list is empty; leave the key out to copy every platform'],
    ['referrers not a boolean', { to, referrers: 'yes' }, 'referrers: must be true or false, not a string'],
    ['immutable not a boolean', { to, immutable: 1 }, 'immutable: must be true or false, not 1'],
    ['foreignLayers not a boolean', { to, foreignLayers: 'yes' }, 'foreignLayers: must be true or false, not a string'],
  ];
  for (const [what, value, message] of cases) it(`rejects ${what}`, () => rejects(value, message));

  it('rejects tags on a source with a tag or a digest', () => {
    rejects(
      { to, tags: { latest: 1 } },
      'tags: rule 6: a tag filter chooses among every tag of a source without a tag, but this source names the tag "3.5" (write "quay.io/coreos/etcd")',
      'quay.io/coreos/etcd:3.5',
    );
    const digest = `sha256:${'b'.repeat(64)}`;
    rejects(
      { to, tags: { latest: 1 } },
      'tags: rule 6: a tag filter chooses among every tag of a source without a tag, but this source names a digest (write "quay.io/coreos/etcd")',
      `quay.io/coreos/etcd@${digest}`,
    );
  });
});
