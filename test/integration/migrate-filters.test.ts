/**
 * Tag filters of the object form, as a user meets them: each filter and their combination on a
 * repository with semver, pre-release and non-semver tags, a second run that copies nothing,
 * `--dry-run` explaining the choice, and a bad filter refused with exit 2. Real registries; the CLI
 * in its own process.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, workdir } from '../support/cli-run.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { listTags, pushImage, randomBytes } from '../support/seed.js';

const TAGS = ['v3.4.9', 'v3.5.0', 'v3.5.1-rc.1', 'v3.5.1', '3.5.2', 'v3.6.0', 'v4.0.0', 'latest', 'main-1f2e3d'];

describe('image-migrator tag filters', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  let auth: Record<string, unknown>;
  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
    auth = { [src.host]: { insecure: true }, [dst.host]: { insecure: true } };
    let seed = 1;
    for (const tag of TAGS) await pushImage(src, 'team/etcd', tag, { layers: [randomBytes(64, seed++)] });
  });
  after(async () => {
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  const images = (): Record<string, unknown> => {
    const rule = (to: string, tags: unknown): unknown => ({ to: `${dst.host}/${to}`, tags });
    const source = `${src.host}/team/etcd`;
    // Duplicate keys, one rule each: written as text because an object literal keeps one.
    const rules = [
      rule('f/include', { include: ['v3.5.*'] }),
      rule('f/exclude', { exclude: ['*-rc*', '/^main-/', 'latest'] }),
      rule('f/semver', { semver: '>=3.5.0 <4' }),
      rule('f/latest', { latest: 3 }),
      rule('f/all', { include: ['v3.*', '3.*'], exclude: ['*-rc*'], semver: '>=v3.5.0 <4', latest: 2 }),
    ];
    return { text: `{\n${rules.map((r) => `  ${JSON.stringify(source)}: ${JSON.stringify(r)}`).join(',\n')}\n}\n` };
  };

  it('copies exactly the tags each filter selects, then nothing on a second run', async () => {
    const dir = await workdir({ 'auth.json': auth, 'images.json': images().text });
    const first = await runCli(['--report', 'r1.json'], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Images\(18\) migration finished, 0 images tasks failed, 0 tasks generate failed/);
    const sorted = async (repo: string): Promise<string[]> => (await listTags(dst, repo)).sort();
    assert.deepEqual(await sorted('f/include'), ['v3.5.0', 'v3.5.1', 'v3.5.1-rc.1']);
    assert.deepEqual(await sorted('f/exclude'), ['3.5.2', 'v3.4.9', 'v3.5.0', 'v3.5.1', 'v3.6.0', 'v4.0.0']);
    assert.deepEqual(await sorted('f/semver'), ['3.5.2', 'v3.5.0', 'v3.5.1', 'v3.6.0']);
    assert.deepEqual(await sorted('f/latest'), ['3.5.2', 'v3.6.0', 'v4.0.0']);
    assert.deepEqual(await sorted('f/all'), ['3.5.2', 'v3.6.0']);

    const second = await runCli(['--report', 'r2.json'], { cwd: dir });
    assert.equal(second.code, 0, second.stderr);
    const report = JSON.parse(await readFile(join(dir, 'r2.json'), 'utf8')) as {
      counts: { copied: number; upToDate: number; bytes: number };
    };
    assert.equal(report.counts.copied, 0);
    assert.equal(report.counts.upToDate, 18);
    assert.equal(report.counts.bytes, 0);
  });

  it('--dry-run shows which tags each rule selected and why the others were not', async () => {
    const dir = await workdir({ 'auth.json': auth, 'images.json': images().text });
    const result = await runCli(['--dry-run'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    const source = `${src.host}/team/etcd`;
    const lines = result.stdout.split('\n');
    const at = lines.indexOf(`rule 5 ${JSON.stringify(source)}: 2 of 9 tags selected: 3.5.2, v3.6.0`);
    assert.ok(at >= 0, result.stdout);
    // Sorted by tag, whatever order the registry lists them in.
    assert.deepEqual(lines.slice(at + 1, at + 8), [
      '  not selected: latest (not included by "v3.*", "3.*")',
      '  not selected: main-1f2e3d (not included by "v3.*", "3.*")',
      '  not selected: v3.4.9 (outside the semver range ">=v3.5.0 <4")',
      '  not selected: v3.5.0 (not among the latest 2)',
      '  not selected: v3.5.1 (not among the latest 2)',
      '  not selected: v3.5.1-rc.1 (excluded by "*-rc*")',
      '  not selected: v4.0.0 (not included by "v3.*", "3.*")',
    ]);
    assert.ok(lines.includes(`rule 4 ${JSON.stringify(source)}: 3 of 9 tags selected: 3.5.2, v3.6.0, v4.0.0`), result.stdout);
    assert.ok(lines.includes('  not selected: latest (not a semantic version)'));
    assert.ok(lines.includes(`${source}:v3.6.0 -> ${dst.host}/f/all:v3.6.0`));
    assert.match(result.stdout, /Images\(18\) planned \(dry run, nothing copied\)/);
  });

  it('refuses a bad filter with exit 2, naming the file, the rule and the key, and copies nothing', async () => {
    const dir = await workdir({
      'auth.json': auth,
      'images.json': {
        [`${src.host}/team/etcd:v3.6.0`]: `${dst.host}/bad/one`,
        [`${src.host}/team/etcd`]: { to: `${dst.host}/bad/etcd`, tags: { semver: '>=3.5.0 <4', latest: 0 } },
      },
    });
    const result = await runCli([], { cwd: dir });
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.equal(
      result.stderr,
      `image-migrator: ./images.json: "${src.host}/team/etcd": tags.latest: must be a whole number of at least 1, not 0\n`,
    );
    assert.deepEqual(await listTags(dst, 'bad/one'), []);
  });
});
