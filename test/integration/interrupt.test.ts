/**
 * Ctrl-C during a migration, as a user presses it: the CLI in its own process against real
 * registries, one image held up at the source by a proxy while the others are copied. The stopped
 * run exits 130, saves the run state with the copies it finished, ends its log with the interruption,
 * writes a report of the tasks finished, and leaves no destination tag pointing at missing content; the next run settles the finished copies
 * from the state and copies the rest.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, startCli, workdir } from '../support/cli-run.js';
import { startForwardingProxy, type ForwardingProxy } from '../support/forwarding-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, randomBytes, type SeededImage } from '../support/seed.js';

describe('a migration stopped by Ctrl-C', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  let proxy: ForwardingProxy;
  const seeded = new Map<string, SeededImage>();
  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
    proxy = await startForwardingProxy(src.url);
    for (const [i, name] of ['a', 'b', 'c'].entries())
      seeded.set(name, await pushImage(src, `team/${name}`, 'v1', { layers: [randomBytes(40_000 + i, 70 + i)] }));
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([src, dst].map((r) => r?.stop()));
  });

  it('exits 130 with the finished copies in the run state and the log, and the next run copies the rest', async () => {
    const images = Object.fromEntries(['a', 'b', 'c'].map((n) => [`${proxy.host}/team/${n}:v1`, `${dst.host}/mirror/${n}:v1`]));
    const dir = await workdir({
      'auth.json': { [proxy.host]: { insecure: true }, [dst.host]: { insecure: true } },
      'images.json': images,
    });
    const args = ['--auth', 'auth.json', '--images', 'images.json', '--workers', '3', '--log', 'run.log', '--report', 'report.json'];
    // team/c's manifest is never answered while the run goes on.
    proxy.holdNext('/v2/team/c/manifests/v1', 1, new Promise(() => undefined));
    const run = startCli(args, { cwd: dir });
    await run.printed(/\[2\/3\] copied/);
    run.child.kill('SIGINT');
    const stopped = await run.result;

    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(
      stopped.stderr,
      /image-migrator: interrupted by SIGINT after 2 of 3 tasks \(2 copied, 0 up to date, 0 failed\); the state keeps what was copied; run again to copy the rest\n/,
    );
    const log = (await readFile(join(dir, 'run.log'), 'utf8')).trimEnd().split('\n');
    assert.match(log.at(-1) ?? '', / interrupted by SIGINT after 2 of 3 tasks \(2 copied, 0 up to date, 0 failed\)$/);
    for (const name of ['a', 'b'])
      assert.ok(
        log.some((l) => l.includes(` copied ${proxy.host}/team/${name}:v1 -> `)),
        log.join('\n'),
      );
    // The report accounts for the tasks finished and says how many were not.
    const partial = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as {
      summary: string;
      counts: { tasks: number; copied: number; failed: number };
      interrupted: { signal: string; notDone: number };
      tasks: { source: string; outcome: string }[];
    };
    assert.equal(partial.summary, 'interrupted by SIGINT after 2 of 3 tasks (2 copied, 0 up to date, 0 failed)');
    assert.deepEqual(partial.interrupted, { signal: 'SIGINT', notDone: 1 });
    assert.deepEqual([partial.counts.tasks, partial.counts.copied, partial.counts.failed], [3, 2, 0]);
    assert.deepEqual(partial.tasks.map((t) => `${t.source.split('/').slice(1).join('/')} ${t.outcome}`).sort(), [
      'team/a:v1 copied',
      'team/b:v1 copied',
    ]);
    const state = JSON.parse(await readFile(join(dir, '.cache', 'image-migrator', 'state.json'), 'utf8')) as {
      tags: Record<string, unknown>;
    };
    assert.deepEqual(Object.keys(state.tags).sort(), [`${proxy.host}/team/a:v1`, `${proxy.host}/team/b:v1`]);
    assert.equal(await getManifestDigest(dst, 'mirror/a', 'v1'), seeded.get('a')?.digest);
    assert.equal(await getManifestDigest(dst, 'mirror/b', 'v1'), seeded.get('b')?.digest);
    assert.equal(await getManifestDigest(dst, 'mirror/c', 'v1'), undefined);

    const next = await runCli(args, { cwd: dir });
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stdout, /Images\(3\) migration finished, 0 images tasks failed, 0 tasks generate failed/);
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as {
      interrupted?: unknown;
      tasks: { source: string; outcome: string }[];
    };
    assert.equal(report.interrupted, undefined);
    assert.deepEqual(report.tasks.map((r) => `${r.source.split('/').slice(1).join('/')} ${r.outcome}`).sort(), [
      'team/a:v1 up-to-date',
      'team/b:v1 up-to-date',
      'team/c:v1 copied',
    ]);
    assert.equal(await getManifestDigest(dst, 'mirror/c', 'v1'), seeded.get('c')?.digest);
  });
});
