/**
 * Resumable uploads of large blobs through fault-injecting proxies in front of real registries: an
 * upload broken twice goes on at the offset the registry holds instead of starting again (also while
 * the source download breaks, and where the registry keeps part of a broken chunk); a registry that
 * loses the session still gets the blob in a new one; chunks grow while the upload goes well and
 * start small again after a break; `--retries 0` fails at once with the reason; `--resumable-above`
 * and `--chunk-size` choose which blobs go in chunks and how big they are.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_UPLOAD_SETTINGS, type UploadSettings } from '../../shared/copy/chunked-upload.js';
import { CopySuspendedError } from '../../shared/copy/deadline.js';
import { ImageCopier } from '../../shared/copy/image-copier.js';
import { RegistryClient } from '../../shared/registry/client.js';
import type { RetryEvent } from '../../shared/registry/retry.js';
import { runCli, workdir } from '../support/cli-run.js';
import { startForwardingProxy, type ForwardingProxy, type SeenRequest } from '../support/forwarding-proxy.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, randomBytes, type SeededImage } from '../support/seed.js';

const MiB = 1024 * 1024;
/** The default first chunk size; the tests of resumes keep every chunk at it (as `--chunk-size 16` does). */
const CHUNK = 16 * MiB;
const FIXED: UploadSettings = { ...DEFAULT_UPLOAD_SETTINGS, maxChunkSize: CHUNK };

/** Bytes of upload bodies (PATCH and PUT) that reached a proxy for one repository. */
function uploaded(log: readonly SeenRequest[], repository: string): number {
  return log
    .filter((l) => (l.method === 'PATCH' || l.method === 'PUT') && l.path.startsWith(`/v2/${repository}/blobs/uploads/`))
    .reduce((n, l) => n + l.bytesIn, 0);
}

describe('resumable uploads', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  let srcProxy: ForwardingProxy;
  let dstProxy: ForwardingProxy;
  let layer: Buffer;
  let image: SeededImage;

  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
    [srcProxy, dstProxy] = await Promise.all([startForwardingProxy(src.url), startForwardingProxy(dst.url, { rewriteLocation: true })]);
    // Above the 64 MiB threshold, and not a whole number of chunks.
    layer = randomBytes(72 * MiB + 4321, 71);
    image = await pushImage(src, 'big/app', 'v1', { layers: [layer] });
  });
  after(async () => {
    await Promise.all([srcProxy?.stop(), dstProxy?.stop()]);
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  /** The size of big/app:v1's config blob (uploaded in one PUT beside the layer). */
  async function configSize(): Promise<number> {
    return (JSON.parse(image.manifest.toString('utf8')) as { config: { size: number } }).config.size;
  }

  /** Copies big/app:v1 into `repository` at the destination (through its proxy); the retries it made. */
  async function copy(
    repository: string,
    from = src.host,
    uploads: UploadSettings = FIXED,
  ): Promise<{ events: RetryEvent[]; requests: Record<string, number>; ms: number }> {
    const requests: Record<string, number> = {};
    const client = new RegistryClient({
      credentials: { lookup: () => ({ insecure: true }) },
      retry: { baseDelayMs: 20 },
      onRequest: (kind) => void (requests[kind] = (requests[kind] ?? 0) + 1),
    });
    const events: RetryEvent[] = [];
    const started = Date.now();
    try {
      await new ImageCopier(client, { retry: { baseDelayMs: 20 }, uploads }).copy(
        { source: `${from}/big/app:v1`, destination: `${dstProxy.host}/${repository}:v1` },
        { onRetry: (e) => events.push(e) },
      );
    } finally {
      await client.close();
    }
    assert.equal(await getManifestDigest(dst, repository, 'v1'), image.digest);
    return { events, requests, ms: Date.now() - started };
  }

  it('goes on at the offset the registry holds when an upload is reset twice mid-transfer', async () => {
    // A front that buffers request bodies: the registry never sees the broken chunk.
    dstProxy.dropUploadNext('/v2/resume/twice/blobs/uploads/', 1, 8 * MiB, { fromOffset: CHUNK });
    dstProxy.dropUploadNext('/v2/resume/twice/blobs/uploads/', 1, 8 * MiB, { fromOffset: 3 * CHUNK });
    const { events, requests } = await copy('resume/twice');
    const resumes = events.filter((e) => e.kind === 'upload-resume');
    assert.deepEqual(
      resumes.map((e) => e.what.replace(/sha256:\w+/, 'D')),
      [
        `blob D to ${dstProxy.host}/resume/twice (resumed at byte ${CHUNK})`,
        `blob D to ${dstProxy.host}/resume/twice (resumed at byte ${3 * CHUNK})`,
      ],
    );
    assert.equal(resumes[0]?.registry, dstProxy.host);
    assert.match(resumes[0]?.reason ?? '', /PATCH .*: network error/);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['upload-resume', 'upload-resume'],
    );
    const sent = uploaded(dstProxy.log, 'resume/twice');
    assert.ok(sent < 3 * layer.length, `${sent} bytes sent for a ${layer.length}-byte layer`);
    // Only the two broken chunks' bytes went twice.
    assert.ok(sent <= layer.length + 2 * CHUNK, `${sent - layer.length} bytes sent again`);
    assert.equal(requests['upload-status'], 2);
    console.log(
      `upload reset twice: layer ${layer.length} B, sent ${sent} B (${sent - layer.length} B again); requests ${JSON.stringify(requests)}`,
    );
  });

  it('goes on when the source download breaks too', async () => {
    srcProxy.cutNext(`/blobs/${image.layers[0]}`, 1, 20 * MiB);
    dstProxy.dropUploadNext('/v2/resume/both/blobs/uploads/', 1, 4 * MiB, { fromOffset: 2 * CHUNK });
    const { events, ms } = await copy('resume/both', srcProxy.host);
    const kinds = events.map((e) => e.kind).sort();
    assert.deepEqual(kinds, ['blob-resume', 'upload-resume']);
    const gets = srcProxy.log.filter((l) => l.method === 'GET' && l.path.includes(image.layers[0] ?? '-'));
    // The first GET broke after 20 MiB and was resumed from the last byte received; the upload's resume
    // read again from the chunk the registry held.
    assert.equal(gets.length, 3);
    assert.equal(gets[0]?.range, undefined);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]?.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 20 * MiB, `download resumed at ${gets[1]?.range}`);
    assert.equal(gets[2]?.range, `bytes=${2 * CHUNK}-`);
    const read = gets.reduce((n, g) => n + g.bytesOut, 0);
    const sent = uploaded(dstProxy.log, 'resume/both');
    assert.ok(sent <= layer.length + CHUNK, `${sent - layer.length} bytes sent again`);
    assert.ok(read <= layer.length + 2 * CHUNK, `${read - layer.length} bytes read again`);
    console.log(
      `source and upload broken: ${ms} ms, read ${read} B (${read - layer.length} again), sent ${sent} B (${sent - layer.length} again)`,
    );
    srcProxy.reset();
  });

  it('hashes again without sending what a registry kept of a broken chunk', async () => {
    dstProxy.keepUploadSessions(true);
    try {
      dstProxy.cutUploadNext('/v2/resume/kept/blobs/uploads/', 1, 5 * MiB, { fromOffset: CHUNK });
      const before = srcProxy.log.length;
      const { events } = await copy('resume/kept', srcProxy.host);
      const kept = CHUNK + 5 * MiB;
      assert.deepEqual(
        events.map((e) => `${e.kind} ${e.what.replace(/^.*\(/, '(')}`),
        [`upload-resume (resumed at byte ${kept})`],
      );
      const chunks = dstProxy.log.filter((l) => l.method === 'PATCH' && l.path.startsWith('/v2/resume/kept/')).map((l) => l.contentRange);
      assert.deepEqual(chunks.slice(0, 3), [`0-${CHUNK - 1}`, `${CHUNK}-${2 * CHUNK - 1}`, `${kept}-${kept + CHUNK - 1}`]);
      // The source is read again from the last chunk boundary whose hash state was kept, and the 5 MiB the registry kept are not sent.
      const gets = srcProxy.log.slice(before).filter((l) => l.method === 'GET' && l.path.includes(image.layers[0] ?? '-'));
      assert.deepEqual(
        gets.map((g) => g.range),
        [undefined, `bytes=${CHUNK}-`],
      );
      const sent = uploaded(dstProxy.log, 'resume/kept');
      assert.ok(sent <= layer.length + CHUNK, `${sent - layer.length} bytes sent again`);
    } finally {
      dstProxy.keepUploadSessions(false);
    }
  });

  it('starts a new session when the registry gives up the one that broke (distribution after a partial chunk)', async () => {
    // distribution holds more bytes than its last answer said, and drops the session.
    dstProxy.cutUploadNext('/v2/resume/lost/blobs/uploads/', 1, 4 * MiB, { fromOffset: CHUNK });
    const { events } = await copy('resume/lost', src.host, DEFAULT_UPLOAD_SETTINGS);
    assert.deepEqual(
      events.map((e) => `${e.kind} ${e.what.replace(/^.*\(/, '(')}`),
      ['blob-restart (from byte 0)'],
    );
    const starts = dstProxy.log.filter((l) => l.method === 'POST' && l.path.startsWith('/v2/resume/lost/blobs/uploads/'));
    // One session for the config, two for the layer.
    assert.equal(starts.length, 3);
  });

  it('starts a new session when the registry forgets it (404 BLOB_UPLOAD_UNKNOWN)', async () => {
    dstProxy.loseUploadSessionAt(2 * CHUNK);
    const { events } = await copy('resume/forgot', src.host, DEFAULT_UPLOAD_SETTINGS);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['blob-restart'],
    );
    assert.match(events[0]?.reason ?? '', /404|BLOB_UPLOAD_UNKNOWN|network error/);
  });

  /** Chunks from 4 MiB up to 32 MiB: the default policy at a scale where a 72 MiB layer shows it. */
  const GROWING: UploadSettings = { resumableAbove: 64 * MiB, chunkSize: 4 * MiB, maxChunkSize: 32 * MiB };
  /** The Content-Range of each chunk (PATCH) that reached the destination for `repository`. */
  const chunkRanges = (repository: string): (string | undefined)[] =>
    dstProxy.log.filter((l) => l.method === 'PATCH' && l.path.startsWith(`/v2/${repository}/`)).map((l) => l.contentRange);
  const range = (from: number, to: number): string => `${from}-${to - 1}`;
  /** The Content-Ranges of chunks that follow each other from `offsets[0]`, each ending where the next starts (in MiB, or bytes past 1 MiB). */
  const ranges = (...offsets: number[]): string[] => offsets.slice(1).map((to, i) => range(toBytes(offsets[i] ?? 0), toBytes(to)));
  const toBytes = (n: number): number => (n < MiB ? n * MiB : n);

  it('doubles the chunk size after each acknowledged chunk up to the largest: 5 PATCHes from a 4 MiB start instead of 19', async () => {
    const { events, requests } = await copy('grow/clean', src.host, GROWING);
    assert.deepEqual(events, []);
    assert.deepEqual(chunkRanges('grow/clean'), ranges(0, 4, 12, 28, 60, layer.length));
    assert.equal(requests['upload-chunk'], 5);
    // The config in one PUT, the layer's commit in another.
    assert.equal(requests['blob-put'], 2);
    assert.equal(uploaded(dstProxy.log, 'grow/clean'), layer.length + (await configSize()));
    console.log(
      `growing chunks: ${layer.length} B layer in ${requests['upload-chunk']} PATCHes (fixed 4 MiB chunks: ${Math.ceil(layer.length / (4 * MiB))})`,
    );
  });

  it('starts again from the first size after a break, and sends again no more than the broken chunk', async () => {
    // The third chunk (16 MiB at 12 MiB) is taken part way and dropped by a buffering front.
    dstProxy.dropUploadNext('/v2/grow/broken/blobs/uploads/', 1, 6 * MiB, { fromOffset: 12 * MiB });
    const { events, requests } = await copy('grow/broken', src.host, GROWING);
    assert.deepEqual(
      events.map((e) => `${e.kind} ${e.what.replace(/^.*\(/, '(')}`),
      [`upload-resume (resumed at byte ${12 * MiB})`],
    );
    // 4, 8, then the broken 16; from the break on 4, 8, 16, 32 and the rest.
    assert.deepEqual(chunkRanges('grow/broken'), [...ranges(0, 4, 12, 28), ...ranges(12, 16, 24, 40, 72, layer.length)]);
    assert.equal(requests['upload-chunk'], 8);
    assert.equal(requests['upload-status'], 1);
    const again = uploaded(dstProxy.log, 'grow/broken') - layer.length - (await configSize());
    assert.ok(again > 0 && again <= 16 * MiB, `${again} bytes sent again`);
    console.log(`growing chunks, reset in the third: ${again} B sent again, ${requests['upload-chunk']} PATCHes`);
  });

  it('under a deadline, halves the next chunk until it fits the time left, and stops at a chunk boundary when none does', async () => {
    // Time is what the chunks took at 1 MiB per 100 ms: each PATCH that reaches the destination
    // moves the clock on by its size when its answer comes, so the pace is known whatever the machine.
    let now = 0;
    const clock = { now: () => now, sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)) };
    const client = new RegistryClient({
      credentials: { lookup: () => ({ insecure: true }) },
      retry: { baseDelayMs: 20 },
      onRequest: (kind) => {
        if (kind !== 'upload-chunk') return;
        const [from, to] = (chunkRanges('grow/deadline').at(-1) ?? '0-0').split('-').map(Number);
        now += (((to ?? 0) - (from ?? 0) + 1) / MiB) * 100;
      },
    });
    try {
      const error = await new ImageCopier(client, { retry: { baseDelayMs: 20 }, uploads: GROWING, clock })
        .copy(
          { source: `${src.host}/big/app:v1`, destination: `${dstProxy.host}/grow/deadline:v1` },
          { deadline: { remainingMs: () => 2000 - now } },
        )
        .catch((e: unknown) => e);
      // 4 MiB (400 ms), 8 MiB (800 ms of the 1,600 left), then 16 MiB would not fit the 800 left: 8 MiB
      // goes; with nothing left, not even 4 MiB fits.
      assert.deepEqual(chunkRanges('grow/deadline'), ranges(0, 4, 12, 20));
      assert.ok(error instanceof CopySuspendedError, String(error));
      assert.match(error.message, new RegExp(`^stopped before the deadline at byte ${20 * MiB} of ${layer.length} of blob `));
    } finally {
      await client.close();
    }
  });

  it('copies an empty layer in one PUT and in chunks without downloading it (its digest says it all)', async () => {
    const empty = await pushImage(src, 'empty/app', 'v1', { layers: [Buffer.alloc(0), randomBytes(3, 73)] });
    for (const [repository, uploads] of [
      ['empty/put', { resumableAbove: 64 * MiB, chunkSize: CHUNK }],
      ['empty/chunks', { resumableAbove: 0, chunkSize: CHUNK }],
    ] as const) {
      const requests: Record<string, number> = {};
      const client = new RegistryClient({
        credentials: { lookup: () => ({ insecure: true }) },
        onRequest: (kind) => void (requests[kind] = (requests[kind] ?? 0) + 1),
      });
      try {
        await new ImageCopier(client, { uploads }).copy({
          source: `${src.host}/empty/app:v1`,
          destination: `${dst.host}/${repository}:v1`,
        });
      } finally {
        await client.close();
      }
      assert.equal(await getManifestDigest(dst, repository, 'v1'), empty.digest);
      // The config and the 3-byte layer are downloaded; the empty layer is not.
      assert.equal(requests['blob-get'], 2, `${repository}: ${JSON.stringify(requests)}`);
    }
  });

  it('fails at once with the reason under --retries 0, and chooses chunks with --resumable-above and --chunk-size', async () => {
    const small = await pushImage(src, 'small/app', 'v1', { layers: [randomBytes(10 * MiB + 7, 72)] });
    dstProxy.dropUploadNext('/v2/cli/broken/blobs/uploads/', 1, MiB, { fromOffset: 4 * MiB });
    const dir = await workdir({
      'auth.json': { [src.host]: { insecure: true }, [dstProxy.host]: { insecure: true } },
      'images.json': {
        [`${src.host}/small/app:v1`]: `${dstProxy.host}/cli/broken`,
      },
    });
    const started = Date.now();
    const failed = await runCli(['--retries', '0', '--resumable-above', '8', '--chunk-size', '4', '--no-state'], { cwd: dir });
    const elapsed = Date.now() - started;
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stdout, /Images\(1\) migration finished, 1 images tasks failed, 0 tasks generate failed/);
    const log = await readFile(join(dir, 'image-migrator.log'), 'utf8');
    assert.match(
      log,
      new RegExp(
        `failed ${src.host}/small/app:v1 -> ${dstProxy.host}/cli/broken:v1 attempts=1 .*PATCH http://${dstProxy.host}/v2/cli/broken/blobs/uploads/[^ ?]+: network error`,
      ),
    );
    assert.doesNotMatch(log, / retry /);
    assert.doesNotMatch(log, /_state/, 'the session state is not logged');
    assert.ok(elapsed < 60_000, `took ${elapsed} ms`);

    const ok = await workdir({
      'auth.json': { [src.host]: { insecure: true }, [dstProxy.host]: { insecure: true } },
      'images.json': { [`${src.host}/small/app:v1`]: `${dstProxy.host}/cli/chunks` },
    });
    const done = await runCli(['--resumable-above', '8', '--chunk-size', '4', '--no-state', '--report', 'r.json'], { cwd: ok });
    assert.equal(done.code, 0, done.stderr);
    assert.equal(await getManifestDigest(dst, 'cli/chunks', 'v1'), small.digest);
    const report = JSON.parse(await readFile(join(ok, 'r.json'), 'utf8')) as { requests: Record<string, number> };
    // 10 MiB in chunks of 4: three PATCHes; the small config goes in one PUT; the layer's commit is a second.
    assert.equal(report.requests['upload-chunk'], 3);
    assert.equal(report.requests['blob-put'], 2);
    // Without --chunk-size, chunks grow from 16 MiB: the 72 MiB layer in 16 + 32 + 24 MiB.
    const grown = await workdir({
      'auth.json': { [src.host]: { insecure: true }, [dstProxy.host]: { insecure: true } },
      'images.json': { [`${src.host}/big/app:v1`]: `${dstProxy.host}/cli/grown` },
    });
    const growing = await runCli(['--no-state', '--report', 'r.json'], { cwd: grown });
    assert.equal(growing.code, 0, growing.stderr);
    assert.equal(await getManifestDigest(dst, 'cli/grown', 'v1'), image.digest);
    assert.deepEqual(chunkRanges('cli/grown'), ranges(0, 16, 48, layer.length));
    const help = await runCli(['--help'], { cwd: ok });
    assert.match(help.stdout, /--resumable-above <MiB>/);
    assert.match(help.stdout, /--chunk-size <MiB>/);
    assert.match(help.stdout.replace(/\s+/g, ' '), /default: 16 MiB, doubling after each acknowledged chunk up to 128 MiB/);
  });
});
