/**
 * The npm package: the tarball holds the bundled CLI, the README and the license and no TypeScript,
 * and once installed with --omit=dev it starts from the bundle (tsx is not installed) and migrates
 * images between real registries. The smoke test runs on the Node that runs the tests, and on every
 * Node binary listed in IMAGE_MIGRATOR_SMOKE_NODES (comma-separated paths; .ci/run passes 22 and 24).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import Module from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runProgram, workdir } from '../support/cli-run.js';
import { packAndInstall, type InstalledPackage } from '../support/packed-cli.js';
import { smokeTest } from '../support/smoke.js';

const extraNodes = (process.env.IMAGE_MIGRATOR_SMOKE_NODES ?? '').split(',').filter((p) => p.length > 0);

describe('the npm package', () => {
  let installed: InstalledPackage;

  before(async () => {
    installed = await packAndInstall();
  });
  after(() => installed?.remove());

  it('ships the bundle, the bin script, README and LICENSE, and no TypeScript source or test', () => {
    const paths = installed.tarball.files.map((f) => f.path).sort();
    assert.deepEqual(paths, ['LICENSE', 'README.md', 'bin/image-migrator.cjs', 'dist/bundle/main.cjs', 'package.json']);
    process.stderr.write(
      `tarball ${installed.tarball.filename}: ${installed.tarball.size} bytes, ${paths.length} files, ${installed.tarball.unpackedSize} bytes unpacked\n`,
    );
  });

  it('installs without development dependencies: no tsx, esbuild, CDK or Powertools', () => {
    for (const name of ['tsx', 'esbuild', 'aws-cdk-lib', 'typescript', '@aws-lambda-powertools/logger', 'undici', 'zod']) {
      assert.equal(existsSync(join(installed.packageDir, 'node_modules', name)), false, `${name} is installed`);
    }
    for (const name of ['@aws-sdk/client-cloudformation', '@kubernetes/client-node']) {
      assert.equal(existsSync(join(installed.packageDir, 'node_modules', name)), true, `${name} is missing`);
    }
  });

  it('migrates with the installed command (the Node on PATH)', async () => {
    const times = await smokeTest((args, options) => runProgram(installed.bin, args, options));
    process.stderr.write(`smoke on ${process.version}: ${JSON.stringify(times)}\n`);
  });

  it(
    'reuses the code it compiled: a second migration accepts the code cache the first one wrote, a refused run writes none',
    { skip: 'enableCompileCache' in Module },
    async () => {
      // Node 20 (no module compile cache): bin/image-migrator.cjs keeps V8's code cache of the bundle in
      // the OS temporary folder. A cache that V8 refuses (made under other flags) is written again at
      // every exit, so an unchanged file after the second migration means it was accepted. A registry
      // that drops every connection makes the migrations fail fast (exit code 1) without a network.
      const temp = await mkdtemp(join(tmpdir(), 'image-migrator-cache-'));
      const dropping = createServer((socket) => socket.destroy());
      await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
      try {
        const registry = `127.0.0.1:${(dropping.address() as AddressInfo).port}`;
        const cwd = await workdir({ 'auth.json': {}, 'images.json': { [`${registry}/team/app:1`]: `${registry}/copy/app:1` } });
        const run = (images: string) =>
          runProgram(installed.bin, ['--auth', 'auth.json', '--images', images, '--retries', '0', '--no-state'], {
            cwd,
            env: { TMPDIR: temp },
          });
        const cacheFiles = async () => {
          const folder = (await readdir(temp)).find((name) => name.startsWith('image-migrator-compile-cache-'));
          return folder === undefined ? [] : (await readdir(join(temp, folder))).map((name) => join(temp, folder, name));
        };
        assert.equal((await run('missing.json')).code, 2);
        assert.deepEqual(await cacheFiles(), [], 'a run refused for bad input wrote a code cache');
        assert.equal((await run('images.json')).code, 1);
        const [file] = await cacheFiles();
        assert.ok(file !== undefined, 'the first migration wrote no code cache');
        const written = await stat(file);
        assert.equal((await run('images.json')).code, 1);
        const after = await stat(file);
        assert.equal(after.mtimeMs, written.mtimeMs, 'the second migration refused the cache and wrote it again');
      } finally {
        dropping.close();
        await rm(temp, { recursive: true, force: true });
      }
    },
  );

  for (const node of extraNodes) {
    const version = existsSync(node) ? execFileSync(node, ['--version'], { encoding: 'utf8' }).trim() : `missing ${node}`;
    it(`migrates with the installed command on Node ${version}`, async () => {
      const entry = join(installed.packageDir, 'bin', 'image-migrator.cjs');
      const times = await smokeTest((args, options) => runProgram(node, [entry, ...args], options));
      process.stderr.write(`smoke on ${version}: ${JSON.stringify(times)}\n`);
    });
  }
});
