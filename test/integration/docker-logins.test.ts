/**
 * The logins users already have: Docker's config.json (stored `auths`, `credHelpers`, `credsStore`)
 * and podman's auth.json, read when there is no auth.json, and given to --auth. Real registries with
 * htpasswd logins (one a Harbor-style robot account), a credential helper script of the tests, and
 * the CLI in its own process with a HOME of its own.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentialHelperRunner } from '../../shared/credential-sources/credential-helper.js';
import { runCli, workdir } from '../support/cli-run.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, type SeededImage } from '../support/seed.js';

const ROBOT = 'robot$mirror';

describe('Docker and podman logins', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  let podmanOnly: TestRegistry;
  let image: SeededImage;
  let dir: string;
  let env: Record<string, string>;
  let helperLog: string;

  before(async () => {
    [src, dst, podmanOnly] = await Promise.all([
      startRegistry({ auth: 'basic' }),
      startRegistry({ auth: 'basic', users: { [ROBOT]: 'Helper-pw-0192' } }),
      startRegistry({ auth: 'basic' }),
    ]);
    image = await pushImage(src, 'team/app', '1.0');
    await pushImage(podmanOnly, 'team/tool', '2.0');
    dir = await workdir({});
    const bin = join(dir, 'bin');
    helperLog = join(dir, 'helper.log');
    await mkdir(bin);
    // A credential helper as Docker's protocol describes: the server URL on stdin, JSON on stdout.
    await writeFile(
      join(bin, 'docker-credential-imtest'),
      [
        '#!/bin/sh',
        '[ "$1" = get ] || exit 3',
        'read -r server',
        `printf '%s\\n' "$server" >> ${JSON.stringify(helperLog)}`,
        `if [ "$server" = ${JSON.stringify(dst.host)} ]; then printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "$server" 'robot$mirror' "$HELPER_SECRET"; exit 0; fi`,
        'echo "credentials not found in native keychain"; exit 1',
        '',
      ].join('\n'),
    );
    await writeFile(join(bin, 'docker-credential-broken'), '#!/bin/sh\necho "keychain locked" >&2\nexit 4\n');
    await writeFile(join(bin, 'docker-credential-slow'), '#!/bin/sh\nexec sleep 30\n');
    await Promise.all(['imtest', 'broken', 'slow'].map((name) => chmod(join(bin, `docker-credential-${name}`), 0o755)));
    const home = join(dir, 'home');
    const runtime = join(dir, 'run');
    await mkdir(join(home, '.docker'), { recursive: true });
    await mkdir(join(runtime, 'containers'), { recursive: true });
    await writeFile(
      join(home, '.docker', 'config.json'),
      JSON.stringify({
        auths: {
          [`https://${src.host}/v1/`]: { auth: Buffer.from(`${src.username}:${src.password}`).toString('base64') },
          [dst.host]: {},
        },
        credHelpers: { [dst.host]: 'imtest' },
        psFormat: 'table {{.ID}}',
      }),
    );
    await writeFile(
      join(runtime, 'containers', 'auth.json'),
      JSON.stringify({
        auths: { [podmanOnly.host]: { auth: Buffer.from(`${podmanOnly.username}:${podmanOnly.password}`).toString('base64') } },
      }),
    );
    await writeFile(
      join(dir, 'images.json'),
      JSON.stringify({
        [`${src.host}/team/app:1.0`]: `${dst.host}/mirror/app`,
        [`${podmanOnly.host}/team/tool:2.0`]: `${dst.host}/mirror/tool`,
      }),
    );
    env = { HOME: home, XDG_RUNTIME_DIR: runtime, PATH: `${bin}:${process.env.PATH ?? ''}`, HELPER_SECRET: 'Helper-pw-0192' };
    delete process.env.DOCKER_CONFIG;
  });

  after(async () => {
    await Promise.all([src?.stop(), dst?.stop(), podmanOnly?.stop()]);
  });

  it('migrates with no auth.json after docker login and podman login, and logs which source served each registry', async () => {
    const result = await runCli(['--images', 'images.json', '--log', 'run.log'], { cwd: dir, env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Images\(2\) migration finished, 0 images tasks failed, 0 tasks generate failed/);
    assert.equal(await getManifestDigest(dst, 'mirror/app', '1.0'), image.digest);
    assert.ok(await getManifestDigest(dst, 'mirror/tool', '2.0'));
    const log = await readFile(join(dir, 'run.log'), 'utf8');
    assert.match(log, new RegExp(`credentials ${src.host}: ${join(env.HOME!, '.docker', 'config.json')}\\n`));
    assert.match(log, new RegExp(`credentials ${dst.host}: credential helper docker-credential-imtest \\(`));
    assert.match(log, new RegExp(`credentials ${podmanOnly.host}: ${join(env.XDG_RUNTIME_DIR!, 'containers', 'auth.json')}\\n`));
    for (const secret of ['Helper-pw-0192', src.password!, podmanOnly.password!]) {
      assert.ok(!(log + result.stdout + result.stderr).includes(secret), 'no secret in the output or the log');
    }
    // The helper ran once for its registry, however many requests the copy made.
    assert.deepEqual((await readFile(helperLog, 'utf8')).trim().split('\n'), [dst.host]);
  });

  it('takes a Docker config given to --auth, with $DOCKER_CONFIG', async () => {
    const config = join(dir, 'other-docker');
    await mkdir(config, { recursive: true });
    await writeFile(
      join(config, 'config.json'),
      JSON.stringify({
        auths: { [src.host]: { username: src.username, password: src.password } },
        credsStore: 'imtest',
      }),
    );
    await writeFile(join(dir, 'one.json'), JSON.stringify({ [`${src.host}/team/app:1.0`]: `${dst.host}/again/app` }));
    const viaFlag = await runCli(['--auth', join(config, 'config.json'), '--images', 'one.json', '--log', 'flag.log'], { cwd: dir, env });
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    assert.equal(await getManifestDigest(dst, 'again/app', '1.0'), image.digest);
    assert.match(
      await readFile(join(dir, 'flag.log'), 'utf8'),
      new RegExp(`credentials ${dst.host}: credential helper docker-credential-imtest`),
    );

    await writeFile(join(dir, 'two.json'), JSON.stringify({ [`${src.host}/team/app:1.0`]: `${dst.host}/third/app` }));
    const viaEnv = await runCli(['--images', 'two.json', '--log', 'env.log'], { cwd: dir, env: { ...env, DOCKER_CONFIG: config } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(await getManifestDigest(dst, 'third/app', '1.0'), image.digest);
  });

  it('fails a task whose helper fails, naming the helper and registry but no secret', async () => {
    const configPath = join(dir, 'broken.json');
    await writeFile(configPath, JSON.stringify({ credHelpers: { [dst.host]: 'broken' } }));
    const result = await runCli(['--auth', configPath, '--images', 'one.json', '--log', 'broken.log', '--retries', '0'], { cwd: dir, env });
    assert.equal(result.code, 1, result.stderr);
    const log = await readFile(join(dir, 'broken.log'), 'utf8');
    assert.match(
      log,
      new RegExp(`credential helper docker-credential-broken for ${dst.host.replace(/\./g, '\\.')}: exit code 4: keychain locked`),
    );
  });

  it('bounds a helper that does not answer by its timeout', async () => {
    const run = credentialHelperRunner({ env: { ...process.env, PATH: env.PATH }, timeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(run('slow', 'registry.example.com'), {
      message: 'credential helper docker-credential-slow for registry.example.com: no answer within 300 ms',
    });
    assert.ok(Date.now() - started < 10_000);
    await assert.rejects(run('absent', 'registry.example.com'), {
      message: 'credential helper docker-credential-absent for registry.example.com: not found on PATH',
    });
  });

  it('refuses a Docker config whose stored login is not base64 of user:password, without quoting it', async () => {
    const configPath = join(dir, 'bad.json');
    await writeFile(configPath, JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from('no-colon-secret').toString('base64') } } }));
    const result = await runCli(['--auth', configPath, '--images', 'one.json'], { cwd: dir, env });
    assert.equal(result.code, 2);
    assert.equal(result.stderr, `image-migrator: ${configPath}: "auths.ghcr.io": "auth" is not base64 of "username:password"\n`);
  });
});
