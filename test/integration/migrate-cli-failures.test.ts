/**
 * The migrate command when things go wrong, as a user meets it: rules that cannot be listed, tasks
 * that keep failing, corrupted transfers, bad files and flags. Real registries; the CLI in its own
 * process.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, workdir } from '../support/cli-run.js';
import { startForwardingProxy } from '../support/forwarding-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, listTags, pushImage, randomBytes } from '../support/seed.js';

describe('image-migrator migrate failures', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry({ auth: 'basic' })]);
    await pushImage(src, 'team/ok', '1');
  });
  after(async () => {
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  it('counts rules whose tags cannot be listed as generate failures and copies the rest', async () => {
    const dir = await workdir({
      'auth.json': { [src.host]: { insecure: true }, [dst.host]: { username: dst.username, password: dst.password, insecure: true } },
      'images.json': {
        [`${src.host}/team/ok:1`]: `${dst.host}/m/ok`,
        [`${src.host}/team/missing`]: `${dst.host}/m/missing`,
        [`${dst.host}/team/locked`]: `${src.host}/m/locked`,
      },
    });
    // The third rule lists tags on the Basic registry with wrong credentials; the first then cannot push there.
    const authWrong = { [src.host]: { insecure: true }, [dst.host]: { username: dst.username, password: 'wrong', insecure: true } };
    await writeFile(join(dir, 'auth-wrong.json'), JSON.stringify(authWrong));
    const result = await runCli(['--auth', 'auth-wrong.json', '--images', 'images.json', '--report', 'r.json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /Images\(1\) migration finished, 1 images tasks failed, 2 tasks generate failed/);
    const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as { generateFailures: { source: string; error: string }[] };
    assert.deepEqual(report.generateFailures.map((f) => f.source).sort(), [`${dst.host}/team/locked`, `${src.host}/team/missing`].sort());
    assert.ok(report.generateFailures.every((f) => !f.error.includes('wrong')));
  });

  it('retries a failing request within --retries, logs and counts every retry, then fails the task while the others succeed', async () => {
    await pushImage(src, 'team/flaky', '1');
    const proxy = await startForwardingProxy(src.url);
    try {
      // A 500 is a fault of this request (not an unavailable registry): it uses up the count of --retries.
      proxy.failNext('/v2/team/flaky/manifests/1', 500, 1000);
      const dir = await workdir({
        'auth.json': { [proxy.host]: { insecure: true }, [dst.host]: { username: dst.username, password: dst.password, insecure: true } },
        'images.json': { [`${proxy.host}/team/ok:1`]: `${dst.host}/r/ok`, [`${proxy.host}/team/flaky:1`]: `${dst.host}/r/flaky` },
      });
      const result = await runCli(['--retries', '2', '--report', 'r.json'], { cwd: dir });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /Images\(2\) migration finished, 1 images tasks failed, 0 tasks generate failed/);
      const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as {
        tasks: { source: string; outcome: string; attempts: number; error?: string; retried?: Record<string, number> }[];
        retried: Record<string, number>;
      };
      const flaky = report.tasks.find((t) => t.source.endsWith('team/flaky:1'));
      assert.equal(flaky?.outcome, 'failed');
      // The request was tried 3 times (2 retries); the task is not tried again on top of that.
      assert.equal(flaky?.attempts, 1);
      assert.deepEqual(flaky?.retried, { 'manifest-get': 2 });
      assert.equal(report.retried['manifest-get'], 2);
      assert.match(flaky?.error ?? '', /500 Internal Server Error/);
      assert.equal(proxy.log.filter((l) => l.path === '/v2/team/flaky/manifests/1').length, 3);
      assert.equal(report.tasks.find((t) => t.source.endsWith('team/ok:1'))?.outcome, 'copied');
      assert.deepEqual(await listTags(dst, 'r/flaky').catch(() => []), [], 'no tag for a failed image');
      const log = await readFile(join(dir, 'image-migrator.log'), 'utf8');
      const retries = log.match(/^\S+ retry .*team\/flaky:1 .*$/gm) ?? [];
      assert.equal(retries.length, 2);
      assert.match(
        retries[0] ?? '',
        new RegExp(
          `level=request kind=manifest-get registry=${proxy.host} attempt=1 in=\\d+ms: GET http://${proxy.host}/v2/team/flaky/manifests/1: .*500 Internal Server Error`,
        ),
      );
      assert.match(log, /^\S+ failed .*team\/flaky:1 .*attempts=1/m);
    } finally {
      await proxy.stop();
    }
  });

  it('--retries 0 retries nothing at any level', async () => {
    await pushImage(src, 'team/once', '1');
    const proxy = await startForwardingProxy(src.url);
    try {
      proxy.failNext('/v2/team/once/manifests/1', 503, 1000, { 'retry-after': '0' });
      const dir = await workdir({
        'auth.json': { [proxy.host]: { insecure: true }, [dst.host]: { username: dst.username, password: dst.password, insecure: true } },
        'images.json': { [`${proxy.host}/team/once:1`]: `${dst.host}/r/once` },
      });
      const started = Date.now();
      const result = await runCli(['--retries', '0', '--report', 'r.json'], { cwd: dir });
      assert.equal(result.code, 1, result.stderr);
      assert.ok(Date.now() - started < 20_000, 'fails fast');
      assert.equal(proxy.log.filter((l) => l.path === '/v2/team/once/manifests/1').length, 1);
      const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as { tasks: { attempts: number; retried?: unknown }[] };
      assert.equal(report.tasks[0]?.attempts, 1);
      assert.equal(report.tasks[0]?.retried, undefined);
      assert.doesNotMatch(await readFile(join(dir, 'image-migrator.log'), 'utf8'), / retry /);
    } finally {
      await proxy.stop();
    }
  });

  it('catches a corrupted blob while streaming: retried, then failed with a digest mismatch and no tag', async () => {
    const image = await pushImage(src, 'team/corrupt', '1');
    const proxy = await startForwardingProxy(src.url);
    try {
      for (const layer of image.layers) proxy.tamperNext(`/blobs/${layer}`, 1000);
      const dir = await workdir({
        'auth.json': { [proxy.host]: { insecure: true }, [dst.host]: { username: dst.username, password: dst.password, insecure: true } },
        'images.json': { [`${proxy.host}/team/corrupt:1`]: `${dst.host}/r/corrupt` },
      });
      const result = await runCli(['--retries', '0', '--report', 'r.json'], { cwd: dir });
      assert.equal(result.code, 1, result.stderr);
      const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as {
        tasks: { outcome: string; error?: string }[];
        requests: Record<string, number>;
      };
      assert.equal(report.tasks[0]?.outcome, 'failed');
      assert.match(report.tasks[0]?.error ?? '', /digest mismatch/);
      // --retries 0: each blob is fetched once (config and two layers); nothing is fetched again.
      assert.equal(report.requests['blob-get'], 1 + image.layers.length);
      assert.deepEqual(await listTags(dst, 'r/corrupt').catch(() => []), [], 'no tag for a failed image');
    } finally {
      await proxy.stop();
    }
  });

  it('rejects a bad images.json with exit 2, names the file and rule, and copies nothing', async () => {
    const dir = await workdir({
      'auth.json': {},
      'images.json': { [`${src.host}/team`]: `${dst.host}/m/x` },
    });
    const result = await runCli(['--images', 'images.json'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^image-migrator: images\.json: ".*\/team": rule 1: /m);
  });

  it('rejects an auth.json with an unset variable, naming it, with exit 2', async () => {
    const dir = await workdir({
      'auth.json': { [dst.host]: { username: 'u', password: '${NOT_SET_ANYWHERE}' } },
      'images.json': { [`${src.host}/team/ok:1`]: `${dst.host}/m/ok` },
    });
    const result = await runCli([], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /auth\.json: .*NOT_SET_ANYWHERE/);
    assert.deepEqual(await listTags(dst, 'm/ok').catch(() => []), []);
  });

  it('--dry-run prints the tasks and copies nothing', async () => {
    const dir = await workdir({
      'auth.json': { [src.host]: { insecure: true }, [dst.host]: { username: dst.username, password: dst.password, insecure: true } },
      'images.json': { [`${src.host}/team/ok`]: `${dst.host}/dry/ok` },
    });
    const result = await runCli(['--dry-run'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`${src.host}/team/ok:1 -> ${dst.host}/dry/ok:1`));
    assert.deepEqual(await listTags(dst, 'dry/ok').catch(() => []), []);
  });

  it("retries while planning are in the report's totals and logged once each; the report's start is the run's", async () => {
    const proxy = await startForwardingProxy(src.url);
    try {
      // The source's tag list is throttled twice, for 1 s each: the run's first second goes to planning.
      proxy.failNext('/v2/team/ok/tags/list', 429, 2, { 'retry-after': '1' });
      const dir = await workdir({
        'auth.json': { [proxy.host]: { insecure: true }, [dst.host]: { username: dst.username, password: dst.password, insecure: true } },
        'images.json': { [`${proxy.host}/team/ok`]: `${dst.host}/planning/ok` },
      });
      const result = await runCli(['--report', 'r.json', '--no-state'], { cwd: dir });
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as {
        startedAt: string;
        finishedAt: string;
        retried: Record<string, number>;
        requests: Record<string, number>;
        unanswered?: Record<string, number>;
      };
      assert.equal(report.retried['tag-list'], 2, JSON.stringify(report.retried));
      // The one https attempt at each registry marked insecure got no answer: counted apart from the
      // requests the registries answered (the source's three tag lists, all through the proxy).
      assert.deepEqual(report.unanswered, { 'tag-list': 2 });
      const served = proxy.log.filter((l) => l.path.includes('/tags/list')).length;
      assert.equal(served, 3);
      // Besides those, the destination's listing: its challenge and its answer.
      assert.equal(report.requests['tag-list'], served + 2, JSON.stringify(report.requests));
      assert.ok(Date.parse(report.finishedAt) - Date.parse(report.startedAt) >= 1900, `${report.startedAt} to ${report.finishedAt}`);
      const retries = (await readFile(join(dir, 'image-migrator.log'), 'utf8')).split('\n').filter((l) => l.includes(' retry planning '));
      assert.equal(retries.length, 2, retries.join('\n'));
      // Written once the plan is complete, but stamped when they happened: a second apart (Retry-After: 1).
      const [first, second] = retries.map((l) => Date.parse(l.split(' ')[0] ?? ''));
      assert.ok((second ?? 0) - (first ?? 0) >= 900, retries.join('\n'));
      for (const line of retries) {
        assert.match(line, /kind=tag-list .*: GET \S+\/tags\/list\S*: 429/);
        assert.equal(line.split('/tags/list').length, 2, `the request is named once: ${line}`);
      }
    } finally {
      await proxy.stop();
    }
  });

  it('gives up a destination that answers 429 to everything once, after twice --stall-timeout, not once per request', async () => {
    const tags = Array.from({ length: 10 }, (_, i) => `t${i}`);
    for (const tag of tags) await pushImage(src, 'team/many', tag);
    const proxy = await startForwardingProxy(dst.url);
    try {
      proxy.failNext('/v2/', 429, 1_000_000, { 'retry-after': '1' });
      const dir = await workdir({
        'auth.json': { [src.host]: { insecure: true }, [proxy.host]: { username: dst.username, password: dst.password, insecure: true } },
        'images.json': { [`${src.host}/team/many`]: `${proxy.host}/throttled/many` },
      });
      const started = Date.now();
      const result = await runCli(['--stall-timeout', '2', '--report', 'r.json', '--no-state'], { cwd: dir });
      const elapsed = Date.now() - started;
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /Images\(10\) migration finished, 10 images tasks failed, 0 tasks generate failed/);
      const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as { tasks: { outcome: string; error?: string }[] };
      assert.equal(report.tasks.filter((t) => t.outcome === 'failed').length, 10);
      for (const task of report.tasks) assert.match(task.error ?? '', /429 Too Many Requests|given up on registry/, task.error);
      assert.ok(
        report.tasks.some((t) =>
          new RegExp(`given up on registry ${proxy.host}: 429 from registry ${proxy.host} for \\d+ s`).test(t.error ?? ''),
        ),
        report.tasks.map((t) => t.error).join('\n'),
      );
      assert.match(
        result.stderr,
        new RegExp(
          `image-migrator: registry ${proxy.host} was given up after 4 s unavailable; run again to copy what failed, or give --stall-timeout more to wait longer`,
        ),
      );
      assert.equal(result.stderr.split('was given up after').length, 2, 'the advice is given once');
      // The destination's tag list failed too, and the log says so rather than dropping it.
      const log = await readFile(join(dir, 'image-migrator.log'), 'utf8');
      assert.match(
        log,
        new RegExp(
          `^\\S+ unlisted ${proxy.host}/throttled/many: GET \\S+/tags/list\\S*: 429 .*; its tags are checked one by one instead$`,
          'm',
        ),
      );
      // Waited for once (4 s, a 1 s Retry-After at a time), then one look every 2 s: a few dozen
      // requests, where waiting the window afresh for each request made hundreds.
      assert.ok(proxy.log.length < 60, `${proxy.log.length} requests to the throttling registry`);
      console.log(`always-429 destination: 10 tags failed in ${elapsed} ms with ${proxy.log.length} requests to it`);
    } finally {
      await proxy.stop();
    }
  });

  it('gives up a destination that answers 503 without Retry-After once its window is over, whatever the backoff would wait', async () => {
    const tags = Array.from({ length: 10 }, (_, i) => `u${i}`);
    for (const tag of tags) await pushImage(src, 'team/down', tag);
    const proxy = await startForwardingProxy(dst.url);
    try {
      proxy.failNext('/v2/', 503, 1_000_000);
      const dir = await workdir({
        'auth.json': { [src.host]: { insecure: true }, [proxy.host]: { username: dst.username, password: dst.password, insecure: true } },
        'images.json': { [`${src.host}/team/down`]: `${proxy.host}/unavailable/down` },
      });
      const result = await runCli(['--stall-timeout', '2', '--report', 'r.json', '--no-state'], { cwd: dir });
      assert.equal(result.code, 1, result.stderr);
      const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as { tasks: { outcome: string; error?: string }[] };
      assert.equal(report.tasks.filter((t) => t.outcome === 'failed').length, 10);
      // The backoff's doubling delays would reach past the 4 s window; each wait ends with it instead.
      const retries = (await readFile(join(dir, 'image-migrator.log'), 'utf8')).match(/ in=(\d+)ms/g) ?? [];
      for (const r of retries) assert.ok(Number(/\d+/.exec(r)?.[0]) <= 4000, r);
      assert.ok(proxy.log.length < 40, `${proxy.log.length} requests to the unavailable registry`);
      assert.match(result.stderr, new RegExp(`registry ${proxy.host} was given up after 4 s unavailable`));
    } finally {
      await proxy.stop();
    }
  });

  it('lands a blob whose uploads meet 429s for longer than the window while the registry answers its other requests', async () => {
    const image = await pushImage(src, 'team/throttled', '1', { layers: [randomBytes(512 * 1024, 31)] });
    const proxy = await startForwardingProxy(dst.url, { rewriteLocation: true });
    try {
      // Every blob PUT is throttled 12 times (1 s each): the two blobs are restarted for about 6 s,
      // past the 4 s window, while each restart's POST is answered.
      proxy.failNext('/blobs/uploads/', 429, 12, { 'retry-after': '1' }, undefined, 'PUT');
      const dir = await workdir({
        'auth.json': { [src.host]: { insecure: true }, [proxy.host]: { username: dst.username, password: dst.password, insecure: true } },
        'images.json': { [`${src.host}/team/throttled:1`]: `${proxy.host}/throttled/one` },
      });
      const result = await runCli(['--stall-timeout', '2', '--no-state'], { cwd: dir });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(await getManifestDigest(dst, 'throttled/one', '1'), image.digest);
      const restarts = (await readFile(join(dir, 'image-migrator.log'), 'utf8')).match(/ kind=blob-restart .*429/g) ?? [];
      assert.equal(restarts.length, 12);
    } finally {
      await proxy.stop();
    }
  });

  it('exits 2 with a clear message for a bad flag value', async () => {
    const dir = await workdir({});
    const result = await runCli(['--workers', 'many'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--workers takes a whole number from 1 to 256, not "many"/);
  });
});
