/**
 * The smoke test of a shipped image-migrator (the installed npm package, the single executable):
 * help, a dry run and a real migration between two test registries, with the digests read back
 * from the destination. `run` starts the program under test with the given arguments.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import type { CliResult, RunOptions } from './cli-run.js';
import { workdir } from './cli-run.js';
import { startRegistry } from './registries.js';
import { getManifestDigest, listTags, pushImage, pushMultiArch } from './seed.js';

/** Starts the program under test with `args`. */
export type RunShipped = (args: readonly string[], options: RunOptions) => Promise<CliResult>;

/** How long each step took, in milliseconds: what the notes report. */
export interface SmokeTimes {
  readonly helpMs: number;
  readonly dryRunMs: number;
  readonly migrateMs: number;
}

async function timed(work: () => Promise<CliResult>): Promise<{ result: CliResult; ms: number }> {
  const started = performance.now();
  const result = await work();
  return { result, ms: Math.round(performance.now() - started) };
}

/** Runs the smoke test; throws an assertion error naming the step that went wrong. */
export async function smokeTest(run: RunShipped, env: Record<string, string> = {}): Promise<SmokeTimes> {
  const [src, dst] = await Promise.all([startRegistry(), startRegistry({ auth: 'basic' })]);
  let dir: string | undefined;
  try {
    const app = await pushImage(src, 'team/app', '1.0');
    const app2 = await pushImage(src, 'team/app', '2.0', { format: 'oci' });
    const multi = await pushMultiArch(src, 'team/multi', 'v1', { format: 'oci' });
    dir = await workdir({
      'auth.json': { [src.host]: { insecure: true }, [dst.host]: { username: dst.username, password: '${DST_PASSWORD}', insecure: true } },
      'images.json': { [`${src.host}/team/app`]: `${dst.host}/mirror/app`, [`${src.host}/team/multi:v1`]: `${dst.host}/mirror/multi` },
    });
    const options = { cwd: dir, env: { DST_PASSWORD: dst.password ?? '', ...env }, timeoutMs: 120_000 };

    const help = await timed(() => run(['--help'], options));
    assert.equal(help.result.code, 0, `--help: ${help.result.stderr}`);
    assert.match(help.result.stdout, /Usage: image-migrator/);
    assert.match(help.result.stdout, /config/);
    assert.match(help.result.stdout, /cloud/);

    const dry = await timed(() => run(['--auth', 'auth.json', '--images', 'images.json', '--dry-run'], options));
    assert.equal(dry.result.code, 0, `--dry-run: ${dry.result.stderr}`);
    for (const line of [`${src.host}/team/app:1.0`, `${src.host}/team/app:2.0`, `${src.host}/team/multi:v1`])
      assert.ok(dry.result.stdout.includes(line), line);
    assert.deepEqual(await listTags(dst, 'mirror/app'), []);

    const migrate = await timed(() => run(['--auth', 'auth.json', '--images', 'images.json', '--workers', '3'], options));
    assert.equal(migrate.result.code, 0, `migrate: ${migrate.result.stderr}`);
    assert.match(migrate.result.stdout, /^Images\(3\) migration finished, 0 images tasks failed, 0 tasks generate failed$/m);
    assert.equal(await getManifestDigest(dst, 'mirror/app', '1.0'), app.digest);
    assert.equal(await getManifestDigest(dst, 'mirror/app', '2.0'), app2.digest);
    assert.equal(await getManifestDigest(dst, 'mirror/multi', 'v1'), multi.index.digest);
    return { helpMs: help.ms, dryRunMs: dry.ms, migrateMs: migrate.ms };
  } finally {
    await Promise.all([src.stop(), dst.stop(), dir === undefined ? undefined : rm(dir, { recursive: true, force: true })]);
  }
}
