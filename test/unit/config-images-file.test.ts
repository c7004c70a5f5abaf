import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type Defaults, type MigrationRule, loadImagesFile, parseImagesFile } from '../../shared/config/images-file.js';
import { formatReference } from '../../shared/reference.js';

const FILE = 'images.json';
const DEFAULTS: Defaults = { registry: 'swr.example.com', namespace: 'test' };
const DIGEST = `sha256:${'a'.repeat(64)}`;

/** Each rule as `source -> destination (all tags)`, the way a user reads a plan. */
function plan(rules: MigrationRule[]): string[] {
  return rules.map((r) => `${r.index} ${formatReference(r.source)} -> ${formatReference(r.destination)}${r.allTags ? ' (all tags)' : ''}`);
}

function parse(rules: Record<string, unknown> | string, defaults: Defaults = DEFAULTS): MigrationRule[] {
  return parseImagesFile(typeof rules === 'string' ? rules : JSON.stringify(rules), FILE, defaults);
}

function rejects(rules: Record<string, unknown> | string, message: string, defaults: Defaults = DEFAULTS): void {
  assert.throws(() => parse(rules, defaults), { name: 'ConfigError', message });
}

describe("images.json: the example of Huawei's documentation", () => {
  it('reads the three rules of the documentation', () => {
    const rules = parse({
      'quay.io/coreos/etcd:1.0.0': 'swr.cn-north-4.myhuaweicloud.com/test/etcd:1.0.0',
      'quay.io/coreos/etcd': 'swr.cn-north-4.myhuaweicloud.com/test/etcd',
      'quay.io/coreos/etcd:2.7.3': 'swr.cn-north-4.myhuaweicloud.com/test/etcd',
    });
    assert.deepEqual(plan(rules), [
      '1 quay.io/coreos/etcd:1.0.0 -> swr.cn-north-4.myhuaweicloud.com/test/etcd:1.0.0',
      '2 quay.io/coreos/etcd -> swr.cn-north-4.myhuaweicloud.com/test/etcd (all tags)',
      '3 quay.io/coreos/etcd:2.7.3 -> swr.cn-north-4.myhuaweicloud.com/test/etcd:2.7.3',
    ]);
    assert.equal(rules[1]?.key, 'quay.io/coreos/etcd');
    assert.equal(rules[2]?.value, 'swr.cn-north-4.myhuaweicloud.com/test/etcd');
  });
});

describe('images.json: rule 1, one repository at most', () => {
  // An untagged registry/name is read as a namespace: copying a whole namespace is what rule 1 forbids.
  const problem = 'rule 1: the source names a namespace or registry, not a repository (write registry/namespace/repository)';
  for (const source of ['quay.io', 'quay.io/coreos', 'localhost:5000', '127.0.0.1:5000/team', 'docker.io/library']) {
    it(`rejects the source ${JSON.stringify(source)}`, () =>
      rejects({ [source]: '' }, `images.json: ${JSON.stringify(source)}: ${problem}`));
  }

  it("accepts a tagged or digested repository at a registry's root, as clusters run them", () => {
    assert.deepEqual(plan(parse({ 'registry.k8s.io/pause:3.9': '', [`registry.k8s.io/kube-proxy@${DIGEST}`]: 'a.io/k8s/kube-proxy' })), [
      '1 registry.k8s.io/pause:3.9 -> swr.example.com/test/pause:3.9',
      `2 registry.k8s.io/kube-proxy@${DIGEST} -> a.io/k8s/kube-proxy`,
    ]);
  });
});

describe('images.json: rule 2, docker pull/push references', () => {
  it('wraps the reason a source is not a reference', () => {
    rejects(
      { 'quay.io/CoreOS/etcd': '' },
      `images.json: "quay.io/CoreOS/etcd": rule 2: the source is not a docker pull/push reference: invalid image reference "quay.io/CoreOS/etcd": "CoreOS" is not a valid repository path segment (lower-case letters, digits and single separators '.', '_', '__', '-')`,
    );
  });

  it('wraps the reason a destination is not a reference', () => {
    rejects(
      { 'quay.io/coreos/etcd:3.5': 'swr.example.com/test/etcd:' },
      `images.json: "quay.io/coreos/etcd:3.5": rule 2: the destination is not a docker pull/push reference: invalid image reference "swr.example.com/test/etcd:": "" is not a valid tag (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')`,
    );
  });

  it('rejects a destination with a digest', () => {
    rejects(
      { [`quay.io/coreos/etcd@${DIGEST}`]: `swr.example.com/test/etcd@${DIGEST}` },
      `images.json: "quay.io/coreos/etcd@${DIGEST}": rule 2: the destination "swr.example.com/test/etcd@${DIGEST}" has a digest; write registry/namespace/repository[:tag] (the copy keeps the source's digest)`,
    );
  });
});

describe('images.json: rule 3, at least registry/namespace/repository', () => {
  it('normalises Docker Hub short names on both sides', () => {
    assert.deepEqual(plan(parse({ 'nginx:1.25': 'team/nginx', 'bitnami/redis': 'docker.io/mirror/redis' })), [
      '1 docker.io/library/nginx:1.25 -> docker.io/team/nginx:1.25',
      '2 docker.io/bitnami/redis -> docker.io/mirror/redis (all tags)',
    ]);
  });

  it('rejects a destination without a namespace on a registry other than Docker Hub', () => {
    rejects(
      { 'quay.io/coreos/etcd:3.5': 'swr.example.com/etcd' },
      'images.json: "quay.io/coreos/etcd:3.5": rule 3: the destination "swr.example.com/etcd" names a namespace or registry, not a repository (write registry/namespace/repository)',
    );
  });

  it('rejects a destination that is only a registry', () => {
    rejects(
      { 'quay.io/coreos/etcd:3.5': 'swr.example.com' },
      'images.json: "quay.io/coreos/etcd:3.5": rule 3: the destination "swr.example.com" names a namespace or registry, not a repository (write registry/namespace/repository)',
    );
  });
});

describe('images.json: rule 4, the source is never empty, and duplicate sources', () => {
  it('rejects an empty source', () => rejects({ '': 'swr.example.com/test/etcd' }, 'images.json: "": rule 4: the source is empty'));

  it('keeps every rule of a repeated key, in file order', () => {
    const rules = parse('{\n "quay.io/coreos/etcd:3.5": "a.io/one/etcd",\n "quay.io/coreos/etcd:3.5": "b.io/two/etcd"\n}');
    assert.deepEqual(plan(rules), ['1 quay.io/coreos/etcd:3.5 -> a.io/one/etcd:3.5', '2 quay.io/coreos/etcd:3.5 -> b.io/two/etcd:3.5']);
  });

  it('accepts a list of destinations, one rule each', () => {
    const rules = parse({ 'quay.io/coreos/etcd:3.5': ['a.io/one/etcd', 'b.io/two/etcd:stable', ''], 'nginx:1.25': 'a.io/one/nginx' });
    assert.deepEqual(plan(rules), [
      '1 quay.io/coreos/etcd:3.5 -> a.io/one/etcd:3.5',
      '2 quay.io/coreos/etcd:3.5 -> b.io/two/etcd:stable',
      '3 quay.io/coreos/etcd:3.5 -> swr.example.com/test/etcd:3.5',
      '4 docker.io/library/nginx:1.25 -> a.io/one/nginx:1.25',
    ]);
    assert.deepEqual(
      rules.map((r) => r.value),
      ['a.io/one/etcd', 'b.io/two/etcd:stable', '', 'a.io/one/nginx'],
    );
  });

  it('rejects an empty list and a list with a value that is not a string', () => {
    rejects({ 'nginx:1.25': [] }, 'images.json: "nginx:1.25": the list of destinations is empty');
    rejects(
      { 'nginx:1.25': ['a.io/one/nginx', 7] },
      'images.json: "nginx:1.25": every destination in the list must be a string or an object {"to": ...}, but element 2 is not',
    );
  });

  it('names the key of a value that is not a string', () => {
    rejects(
      { 'nginx:1.25': 42 },
      'images.json: "nginx:1.25": the destination must be a string, a list of strings, or an object {"to": ...}, not a number',
    );
    rejects(
      { 'nginx:1.25': true },
      'images.json: "nginx:1.25": the destination must be a string, a list of strings, or an object {"to": ...}, not a boolean',
    );
    rejects(
      { 'nginx:1.25': null },
      'images.json: "nginx:1.25": the destination must be a string, a list of strings, or an object {"to": ...}, not null',
    );
  });
});

describe('images.json: rule 5, renaming', () => {
  it('sends a repository to another name and tag', () => {
    assert.deepEqual(plan(parse({ 'quay.io/coreos/etcd:3.5': 'swr.example.com/infra/kv-store:prod' })), [
      '1 quay.io/coreos/etcd:3.5 -> swr.example.com/infra/kv-store:prod',
    ]);
  });

  it('rejects a destination that is the source itself', () => {
    rejects(
      { 'quay.io/coreos/etcd': 'quay.io/coreos/etcd' },
      'images.json: "quay.io/coreos/etcd": the destination "quay.io/coreos/etcd" is the source itself; nothing would be copied',
    );
  });
});

describe('images.json: rules 6 and 7, tags', () => {
  it('rule 6: rejects a tag on the destination of an all-tags source', () => {
    rejects(
      { 'quay.io/coreos/etcd': 'swr.example.com/test/etcd:3.5' },
      'images.json: "quay.io/coreos/etcd": rule 6: the source has no tag, so every tag is copied and the destination must not have one (write "swr.example.com/test/etcd")',
    );
  });

  it('rule 7: a destination without a tag takes the source tag', () => {
    const [rule] = parse({ 'quay.io/coreos/etcd:3.5': 'swr.example.com/test/etcd' });
    assert.equal(rule?.destination.tag, '3.5');
    assert.equal(rule?.allTags, false);
  });
});

describe('images.json: rule 8, the default destination', () => {
  it('uses the default registry and namespace with the path after the first namespace', () => {
    assert.deepEqual(plan(parse({ 'quay.io/coreos/etcd:3.5': '', nginx: '', 'gcr.io/a/b/c:1': '' })), [
      '1 quay.io/coreos/etcd:3.5 -> swr.example.com/test/etcd:3.5',
      '2 docker.io/library/nginx -> swr.example.com/test/nginx (all tags)',
      '3 gcr.io/a/b/c:1 -> swr.example.com/test/b/c:1',
    ]);
  });

  it('says which flag or variable sets a missing default', () => {
    rejects(
      { 'quay.io/coreos/etcd:3.5': '' },
      'images.json: "quay.io/coreos/etcd:3.5": rule 8: the destination is empty and no default registry is set (use --registry or DEFAULT_REGISTRY)',
      { namespace: 'test' },
    );
    rejects(
      { 'quay.io/coreos/etcd:3.5': '' },
      'images.json: "quay.io/coreos/etcd:3.5": rule 8: the destination is empty and no default namespace is set (use --namespace or DEFAULT_NAMESPACE)',
      { registry: 'swr.example.com' },
    );
  });

  it('needs no default when every destination is written', () => {
    assert.equal(parse({ 'nginx:1.25': 'a.io/one/nginx' }, {}).length, 1);
  });

  it('rejects a default that makes an invalid reference', () => {
    rejects(
      { 'nginx:1.25': '' },
      `images.json: "nginx:1.25": rule 8: the default destination "swr.example.com/Team/nginx:1.25" is not valid: invalid image reference "swr.example.com/Team/nginx:1.25": "Team" is not a valid repository path segment (lower-case letters, digits and single separators '.', '_', '__', '-')`,
      { registry: 'swr.example.com', namespace: 'Team' },
    );
  });
});

describe('images.json: digest sources', () => {
  it('pushes a digest-only source by digest: the destination has no tag', () => {
    const [rule] = parse({ [`quay.io/coreos/etcd@${DIGEST}`]: '' });
    assert.deepEqual(rule?.source, { registry: 'quay.io', repository: 'coreos/etcd', digest: DIGEST });
    assert.deepEqual(rule?.destination, { registry: 'swr.example.com', repository: 'test/etcd' });
    assert.equal(rule?.allTags, false);
  });

  it('gives the destination the tag of a tag@digest source, or the tag written', () => {
    assert.deepEqual(
      plan(parse({ [`quay.io/coreos/etcd:3.5@${DIGEST}`]: 'a.io/one/etcd', [`quay.io/coreos/etcd@${DIGEST}`]: 'a.io/one/etcd:pinned' })),
      [`1 quay.io/coreos/etcd:3.5@${DIGEST} -> a.io/one/etcd:3.5`, `2 quay.io/coreos/etcd@${DIGEST} -> a.io/one/etcd:pinned`],
    );
  });
});

describe('images.json: rules that collide on a destination', () => {
  it('rejects two different sources sent to the same destination tag, naming both keys', () => {
    rejects(
      { 'quay.io/coreos/etcd:3.5': 'a.io/one/etcd:stable', 'gcr.io/etcd/etcd:3.6': 'a.io/one/etcd:stable' },
      'images.json: "gcr.io/etcd/etcd:3.6": writes a.io/one/etcd:stable like "quay.io/coreos/etcd:3.5", from a different source; a destination tag takes one source',
    );
  });

  it('rejects two all-tags rules from different repositories into one repository', () => {
    rejects(
      { 'quay.io/coreos/etcd': 'a.io/one/etcd', 'gcr.io/etcd/etcd': 'a.io/one/etcd' },
      'images.json: "gcr.io/etcd/etcd": copies every tag into a.io/one/etcd like "quay.io/coreos/etcd", from a different repository; tags present in both would overwrite each other',
    );
  });

  it('allows the same source twice and a tag of the all-tags source', () => {
    const text =
      '{"quay.io/coreos/etcd:3.5": "a.io/one/etcd", "quay.io/coreos/etcd:3.5": "a.io/one/etcd", "quay.io/coreos/etcd": "a.io/one/etcd"}';
    assert.equal(parse(text).length, 3);
  });
});

describe('images.json: the file as a whole', () => {
  it('rejects a top-level array and an empty object', () => {
    rejects(
      '["quay.io/coreos/etcd:3.5"]',
      'images.json: the top level must be an object of rules, e.g. {"quay.io/coreos/etcd:3.5": "swr.example.com/test/etcd"}, not an array',
    );
    rejects('{ }', 'images.json: there are no rules; write at least one "source": "destination" pair');
    rejects(
      '  \n',
      'images.json: the file is empty; it must hold an object of rules, e.g. {"quay.io/coreos/etcd:3.5": "swr.example.com/test/etcd"}',
    );
  });

  it('gives the line and column of a syntax error', () => {
    rejects(
      '{\n  "nginx:1.25": "a.io/one/nginx",\n  "redis:7" "a.io/one/redis"\n}',
      "images.json: invalid JSON at line 3, column 13: a ':' was expected",
    );
    rejects(
      '{\n  "nginx:1.25": "a.io/one/nginx",\n}',
      'images.json: invalid JSON at line 3, column 1: a property name in double quotes was expected (JSON allows no trailing comma)',
    );
  });

  it('accepts a byte order mark', () => {
    assert.equal(parse('\uFEFF{"nginx:1.25": "a.io/one/nginx"}').length, 1);
  });
});

describe('images.json: loading from a file', () => {
  let dir = '';
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads a file and names its path in errors', async () => {
    dir = await mkdtemp(join(tmpdir(), 'images-file-'));
    const path = join(dir, 'images.json');
    await writeFile(path, '{"quay.io/coreos/etcd:3.5": ""}');
    assert.deepEqual(plan(await loadImagesFile(path, DEFAULTS)), ['1 quay.io/coreos/etcd:3.5 -> swr.example.com/test/etcd:3.5']);
    await assert.rejects(loadImagesFile(path, {}), {
      name: 'ConfigError',
      message: `${path}: "quay.io/coreos/etcd:3.5": rule 8: the destination is empty and no default registry is set (use --registry or DEFAULT_REGISTRY)`,
    });
  });

  it('reports a missing file and a directory as ConfigErrors', async () => {
    const missing = join(tmpdir(), 'no-such-dir-image-migrator', 'images.json');
    await assert.rejects(loadImagesFile(missing, DEFAULTS), { name: 'ConfigError', message: `${missing}: the file does not exist` });
    await assert.rejects(loadImagesFile(tmpdir(), DEFAULTS), {
      name: 'ConfigError',
      message: `${tmpdir()}: this is a directory, not a file`,
    });
  });
});
