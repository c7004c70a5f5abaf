/**
 * The single-file executable: `npm run build:binary` builds dist/bin/image-migrator-<platform>, and
 * that file alone, with no Node.js on PATH, migrates images between real registries.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PROJECT_ROOT, runProgram } from '../support/cli-run.js';
import { smokeTest } from '../support/smoke.js';

const platform = `${process.platform === 'win32' ? 'win' : process.platform}-${process.arch}`;
const binary = join(PROJECT_ROOT, 'dist', 'bin', `image-migrator-${platform}`);

describe('the single-file executable', () => {
  let emptyPath: string;

  before(async () => {
    await promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'scripts', 'build-binary.js')], {
      cwd: PROJECT_ROOT,
      timeout: 600_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    emptyPath = await mkdtemp(join(tmpdir(), 'image-migrator-no-node-'));
  });
  after(() => rm(emptyPath, { recursive: true, force: true }));

  it('is built for this platform', () => {
    assert.ok(existsSync(binary), binary);
    process.stderr.write(`${binary}: ${statSync(binary).size} bytes\n`);
  });

  it('migrates images with no node on PATH', async () => {
    const times = await smokeTest((args, options) => runProgram(binary, args, options), { PATH: emptyPath });
    process.stderr.write(`single executable smoke: ${JSON.stringify(times)}\n`);
  });
});
