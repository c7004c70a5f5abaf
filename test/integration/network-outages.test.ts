/**
 * Longer trouble, as a user meets it through the CLI with its default settings: a big layer whose
 * download is reset twice resumes instead of starting again; a destination down for 30 s in the
 * middle of a run (a rolling restart) costs time, not failed tasks; a soak of many tasks through
 * proxies that inject random resets, 5xx, 429 and bodies cut short lands every image identical, with
 * counts that add up and every retry in the log. SOAK_TASKS sets the soak's size (default 100; the
 * opt-in `npm run test:soak` runs 500).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageCopier } from '../../shared/copy/image-copier.js';
import { RegistryClient } from '../../shared/registry/client.js';
import type { RetryEvent } from '../../shared/registry/retry.js';
import { runCli, workdir } from '../support/cli-run.js';
import { startForwardingProxy } from '../support/forwarding-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, randomBytes, type SeededImage } from '../support/seed.js';

const MiB = 1024 * 1024;
const SOAK_TASKS = Number(process.env.SOAK_TASKS ?? 100);

interface Report {
  counts: { tasks: number; copied: number; upToDate: number; failed: number; generateFailed: number };
  retried: Record<string, number>;
  tasks: { source: string; destination: string; outcome: string; digest?: string; error?: string; retried?: Record<string, number> }[];
}

describe('network outages', () => {
  let src: TestRegistry;
  let dst: TestRegistry;

  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
  });
  after(async () => {
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  it('resumes a 64+ MiB layer whose download is reset twice, sending far less than three times its size', async () => {
    const layer = randomBytes(64 * MiB + 12_345, 41);
    const image = await pushImage(src, 'big/app', 'v1', { layers: [layer] });
    const proxy = await startForwardingProxy(src.url);
    const client = new RegistryClient({ credentials: { lookup: () => ({ insecure: true }) } });
    try {
      proxy.cutNext(`/blobs/${image.layers[0]}`, 2, 20 * MiB);
      const events: RetryEvent[] = [];
      await new ImageCopier(client).copy(
        { source: `${proxy.host}/big/app:v1`, destination: `${dst.host}/big/app:v1` },
        { onRetry: (e) => events.push(e) },
      );
      assert.equal(await getManifestDigest(dst, 'big/app', 'v1'), image.digest);
      const gets = proxy.log.filter((l) => l.method === 'GET' && l.path.includes(image.layers[0] ?? '-'));
      const sent = gets.reduce((n, l) => n + l.bytesOut, 0);
      assert.equal(gets.length, 3);
      assert.deepEqual(
        gets.map((l) => l.range !== undefined),
        [false, true, true],
      );
      assert.ok(sent < 3 * layer.length, `${sent} bytes sent for a ${layer.length}-byte layer`);
      // Resumed, not restarted: the GETs after a cut ask for the rest (Range, above), never from an
      // earlier byte. What is sent twice is only what was in flight when the connection broke (proxy,
      // socket and client buffers: more the slower the client reads on a loaded machine), never more
      // than the cut connections carried.
      const starts = gets.slice(1).map((l) => Number(/^bytes=(\d+)-$/.exec(l.range ?? '')?.[1] ?? -1));
      assert.ok(starts[0]! > 0 && starts[1]! >= starts[0]!, `ranges asked: ${gets.map((l) => l.range).join(', ')}`);
      assert.ok(sent - layer.length <= 2 * 20 * MiB, `${sent - layer.length} bytes sent again`);
      assert.deepEqual(
        events.map((e) => e.kind),
        ['blob-resume', 'blob-resume'],
      );
      console.log(`resume: layer ${layer.length} B, sent by the source ${sent} B (${sent - layer.length} B again), ${gets.length} GETs`);
    } finally {
      await client.close();
      await proxy.stop();
    }
  });

  it('lands every image when the destination is down for 30 s in the middle of a run (defaults)', async () => {
    const tags = Array.from({ length: 12 }, (_, i) => `r${i}`);
    const images = new Map<string, SeededImage>();
    for (const [i, tag] of tags.entries())
      images.set(tag, await pushImage(src, 'restart/app', tag, { layers: [randomBytes(MiB, 100 + i), randomBytes(256 * 1024, 200 + i)] }));
    const proxy = await startForwardingProxy(dst.url, { rewriteLocation: true });
    try {
      const dir = await workdir({
        'auth.json': { [src.host]: { insecure: true }, [proxy.host]: { insecure: true } },
        'images.json': { [`${src.host}/restart/app`]: `${proxy.host}/restart/app` },
      });
      const run = runCli(['--workers', '2', '--report', 'r.json'], { cwd: dir, timeoutMs: 240_000 });
      // As soon as the first image has landed, the destination goes away for 30 s.
      const deadline = Date.now() + 60_000;
      while (!proxy.log.some((l) => l.method === 'PUT' && l.path.includes('/manifests/')) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 5));
      const downAt = Date.now();
      await proxy.down(30_000);
      const result = await run;
      const elapsed = Date.now() - downAt;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Images\(12\) migration finished, 0 images tasks failed, 0 tasks generate failed/);
      for (const tag of tags) assert.equal(await getManifestDigest(dst, 'restart/app', tag), images.get(tag)?.digest, tag);
      const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as Report;
      assert.equal(report.counts.copied + report.counts.upToDate, 12);
      const log = await readFile(join(dir, 'image-migrator.log'), 'utf8');
      const retries = log.match(/^\S+ retry .*$/gm) ?? [];
      assert.ok(
        retries.some((l) => new RegExp(`registry=${proxy.host}.*ECONNREFUSED`).test(l)),
        retries.slice(0, 3).join('\n'),
      );
      assert.match(result.stderr, new RegExp(`waiting \\d+ s: ECONNREFUSED from registry ${proxy.host}`));
      console.log(
        `rolling restart: 12 images, run ended ${elapsed} ms after the destination went down for 30 s; ${retries.length} retries logged`,
      );
    } finally {
      await proxy.stop();
    }
  });

  it(`soaks ${SOAK_TASKS} tasks through random resets, 5xx, 429 and cut bodies: every image identical, counts add up, every retry logged`, async () => {
    const images = new Map<string, SeededImage>();
    const distinct = Math.max(1, Math.ceil(SOAK_TASKS / 2));
    for (let i = 0; i < distinct; i++) {
      const image = await pushImage(src, 'soak/app', `t${i}a`, { layers: [randomBytes(4096 + i, 1000 + i), randomBytes(2048, 5000 + i)] });
      images.set(`t${i}a`, image);
      if (images.size < SOAK_TASKS) {
        // A second tag of the same image: alias tags race in the copy too.
        await pushImage(src, 'soak/app', `t${i}b`, { layers: [randomBytes(4096 + i, 1000 + i), randomBytes(2048, 5000 + i)] });
        images.set(`t${i}b`, image);
      }
    }
    const [srcProxy, dstProxy] = await Promise.all([
      startForwardingProxy(src.url),
      startForwardingProxy(dst.url, { rewriteLocation: true }),
    ]);
    try {
      srcProxy.chaos({ rate: 0.03, kinds: ['reset', '503', '429', 'cut'], seed: 7 });
      dstProxy.chaos({ rate: 0.03, kinds: ['reset', '503', '429', 'cut'], seed: 11 });
      const dir = await workdir({
        'auth.json': { [srcProxy.host]: { insecure: true }, [dstProxy.host]: { insecure: true } },
        'images.json': { [`${srcProxy.host}/soak/app`]: `${dstProxy.host}/soak/app` },
      });
      const started = Date.now();
      const result = await runCli(['--workers', '7', '--stall-timeout', '10', '--report', 'r.json'], { cwd: dir, timeoutMs: 600_000 });
      const elapsed = Date.now() - started;
      const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as Report;
      const { counts } = report;
      assert.equal(counts.copied + counts.upToDate + counts.failed, counts.tasks, 'counts add up');
      assert.equal(counts.tasks, images.size);
      assert.deepEqual(
        report.tasks.filter((t) => t.outcome === 'failed').map((t) => `${t.source}: ${t.error}`),
        [],
      );
      assert.equal(result.code, 0, result.stderr);
      srcProxy.chaos(undefined);
      for (const [tag, image] of images) assert.equal(await getManifestDigest(dst, 'soak/app', tag), image.digest, tag);
      const log = await readFile(join(dir, 'image-migrator.log'), 'utf8');
      const retryLines = log.match(/^\S+ retry .*$/gm) ?? [];
      // The report's totals count every retry below the task level, those while planning included.
      const belowTasks = retryLines.filter((l) => !/ level=task /.test(l)).length;
      const reported = Object.values(report.retried).reduce((a, b) => a + b, 0);
      assert.equal(belowTasks, reported, 'every retry counted in the report is in the log');
      const injected =
        Object.values(srcProxy.injected).reduce((a, b) => a + b, 0) + Object.values(dstProxy.injected).reduce((a, b) => a + b, 0);
      assert.ok(injected > 0);
      // Every fault injected made something retry.
      assert.ok(retryLines.length >= injected, `${retryLines.length} retries logged for ${injected} faults injected`);
      console.log(
        `soak: ${counts.tasks} tasks in ${elapsed} ms, ${counts.copied} copied, ${counts.upToDate} up to date, ${counts.failed} failed; ` +
          `faults injected src ${JSON.stringify(srcProxy.injected)} dst ${JSON.stringify(dstProxy.injected)}; ${retryLines.length} retries logged; retried ${JSON.stringify(report.retried)}`,
      );
    } finally {
      await Promise.all([srcProxy.stop(), dstProxy.stop()]);
    }
  });
});
