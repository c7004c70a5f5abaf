/**
 * The run state file as users share and steer it: two runs writing one file at once, --refresh-state
 * after a destination was changed by other means, a rule's own `immutable` against --immutable-tags,
 * and the flags that are refused before anything is copied. Real registries; the CLI in its own process.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RunState, tagKey } from '../../shared/state/run-state.js';
import { runCli, workdir } from '../support/cli-run.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestBytes, getManifestDigest, listTags, pushImage, putManifest } from '../support/seed.js';

describe('the run state file', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry({ auth: 'basic' })]);
    for (const repo of ['team/a', 'team/b']) for (const tag of ['v1', 'v2']) await pushImage(src, repo, tag);
  });
  after(async () => {
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  const auth = (): Record<string, unknown> => ({
    [src.host]: { insecure: true },
    [dst.host]: { username: dst.username, password: dst.password, insecure: true },
  });
  const report = async (dir: string): Promise<{ requests: Record<string, number>; tasks: { destination: string; outcome: string }[] }> =>
    JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as {
      requests: Record<string, number>;
      tasks: { destination: string; outcome: string }[];
    };
  const outcome = (r: Awaited<ReturnType<typeof report>>, destination: string): string | undefined =>
    r.tasks.find((t) => t.destination === destination)?.outcome;

  it('two runs writing one state file at once both keep what they learnt', async () => {
    const dir = await workdir({
      'auth.json': auth(),
      'a.json': { [`${src.host}/team/a`]: `${dst.host}/shared/a` },
      'b.json': { [`${src.host}/team/b`]: `${dst.host}/shared/b` },
    });
    const [a, b] = await Promise.all(
      ['a.json', 'b.json'].map((images) => runCli(['--images', images, '--state', 'state.json', '--log', `${images}.log`], { cwd: dir })),
    );
    assert.equal(a?.code, 0, a?.stderr);
    assert.equal(b?.code, 0, b?.stderr);
    const state = RunState.parse(await readFile(join(dir, 'state.json'), 'utf8'));
    for (const repo of ['a', 'b'])
      for (const tag of ['v1', 'v2'])
        assert.ok(
          state.known(
            tagKey({ registry: src.host, repository: `team/${repo}` }, tag),
            tagKey({ registry: dst.host, repository: `shared/${repo}` }, tag),
          )?.destinationDigest,
          `team/${repo}:${tag} is in the state`,
        );
  });

  it('--refresh-state compares in full and records what it finds, after a destination tag was changed by other means', async () => {
    const dir = await workdir({ 'auth.json': auth(), 'images.json': { [`${src.host}/team/a`]: `${dst.host}/refresh/a` } });
    const args = ['--state', 'state.json', '--report', 'r.json'];
    assert.equal((await runCli(args, { cwd: dir })).code, 0);
    // The destination's v1 now holds v2's manifest, written behind the state's back.
    const v2 = await getManifestBytes(dst, 'refresh/a', 'v2');
    assert.ok(v2 !== undefined);
    await putManifest(dst, 'refresh/a', 'v1', 'application/vnd.docker.distribution.manifest.v2+json', v2);
    const sourceV1 = await getManifestDigest(src, 'team/a', 'v1');
    // With the state the run cannot see it (the documented limit): the tag is listed, the source unchanged.
    const trusting = await runCli(args, { cwd: dir });
    assert.equal(trusting.code, 0, trusting.stderr);
    assert.equal(outcome(await report(dir), `${dst.host}/refresh/a:v1`), 'up-to-date');
    assert.notEqual(await getManifestDigest(dst, 'refresh/a', 'v1'), sourceV1);

    const refreshed = await runCli([...args, '--refresh-state'], { cwd: dir });
    assert.equal(refreshed.code, 0, refreshed.stderr);
    assert.equal(outcome(await report(dir), `${dst.host}/refresh/a:v1`), 'copied');
    assert.equal(await getManifestDigest(dst, 'refresh/a', 'v1'), sourceV1);
    // What it found is in the state: the next run is up to date with one source HEAD a tag.
    const next = await runCli(args, { cwd: dir });
    assert.equal(next.code, 0, next.stderr);
    const r = await report(dir);
    assert.deepEqual(
      r.tasks.map((t) => t.outcome),
      ['up-to-date', 'up-to-date'],
    );
    assert.equal(r.requests['manifest-get'] ?? 0, 0);
    assert.equal(r.requests['manifest-head'], 2);
  });

  it('a rule\'s own "immutable": false wins over --immutable-tags; /regex/ works as in tag filters', async () => {
    const dir = await workdir({
      'auth.json': auth(),
      'images.json': { [`${src.host}/team/a`]: `${dst.host}/imm/a`, [`${src.host}/team/b`]: { to: `${dst.host}/imm/b`, immutable: false } },
    });
    assert.equal((await runCli(['--no-state'], { cwd: dir })).code, 0);
    const changed = await pushImage(src, 'team/b', 'v1');
    const run = await runCli(['--no-state', '--immutable-tags', '/^v[0-9]$/', '--report', 'r.json'], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    const r = await report(dir);
    // team/a's tags match the pattern and are taken as they are; team/b's are compared, and v1 copied.
    assert.equal(outcome(r, `${dst.host}/imm/a:v1`), 'up-to-date');
    // Without a state nothing asked for its digest: the report and the log say how it was found instead.
    const taken = r.tasks.find((t) => t.destination === `${dst.host}/imm/a:v1`) as { digest?: string; reason?: string };
    assert.deepEqual([taken.digest, taken.reason], [undefined, 'immutable tag, listed at the destination']);
    assert.match(
      await readFile(join(dir, 'image-migrator.log'), 'utf8'),
      /up-to-date \S+\/team\/a:v1 -> \S+\/imm\/a:v1 .*digest=unknown \(immutable tag, listed at the destination\)/,
    );
    assert.equal(outcome(r, `${dst.host}/imm/b:v1`), 'copied');
    assert.equal(await getManifestDigest(dst, 'imm/b', 'v1'), changed.digest);
    assert.equal(r.requests['manifest-get'], 2, "team/b's two tags only");
  });

  it('refuses contradictory or empty state flags, bad --immutable-tags and an unwritable --report before copying anything', async () => {
    const dir = await workdir({ 'auth.json': auth(), 'images.json': { [`${src.host}/team/a`]: `${dst.host}/refused/a` } });
    const cases: [string[], RegExp][] = [
      [['--state', ''], /--state takes a file path, not an empty string/],
      [['--state', 's.json', '--no-state'], /--state and --no-state contradict each other/],
      [['--no-state', '--state', 's.json'], /--state and --no-state contradict each other/],
      [['--no-state', '--refresh-state'], /--refresh-state writes the state that --no-state turns off/],
      [['--immutable-tags', ''], /"" is not a valid glob/],
      [['--immutable-tags', '[z-a]'], /"\[z-a\]" is not a valid glob/],
      [['--immutable-tags', '/^v(/'], /"\/\^v\(\/" is not a valid regular expression/],
      [['--report', join(dir, 'missing', 'r.json')], /--report .*missing\/r\.json: the folder .*missing does not exist/],
      [['--report', dir], /--report .*: it is a folder/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args, { cwd: dir });
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(' '));
      assert.doesNotMatch(result.stderr, /Usage:/, 'a usage error is not drowned in the help');
      assert.doesNotMatch(result.stderr, /Invalid regular expression: \/\^/, 'no internal regular expression');
    }
    assert.deepEqual(await listTags(dst, 'refused/a'), [], 'nothing copied');
  });
});
