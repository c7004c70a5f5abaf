/**
 * The npm package as a user gets it: `npm pack` (which runs the `prepack` bundle) and a global
 * install of the tarball with `--omit=dev` into a temporary prefix.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from './cli-run.js';

const run = promisify(execFile);
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** What `npm pack --json` says about the tarball. */
export interface PackedTarball {
  readonly filename: string;
  readonly size: number;
  readonly unpackedSize: number;
  readonly files: readonly { path: string; size: number }[];
}

/** An installed package. */
export interface InstalledPackage {
  readonly tarball: PackedTarball;
  /** The prefix: `bin/image-migrator`, `lib/node_modules/image-migrator/`. */
  readonly prefix: string;
  /** `<prefix>/bin/image-migrator`, which npm links to the package's bin script. */
  readonly bin: string;
  /** The package's folder. */
  readonly packageDir: string;
  remove(): Promise<void>;
}

/** Packs the project and installs the tarball globally into a fresh prefix, without dev dependencies. */
export async function packAndInstall(): Promise<InstalledPackage> {
  const dir = await mkdtemp(join(tmpdir(), 'image-migrator-pack-'));
  try {
    const packed = await run(NPM, ['pack', '--json', '--pack-destination', dir], { cwd: PROJECT_ROOT, maxBuffer: 16 * 1024 * 1024 });
    const [tarball] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as PackedTarball[];
    if (tarball === undefined) throw new Error(`npm pack said nothing about its tarball: ${packed.stdout}`);
    const prefix = join(dir, 'prefix');
    // The dependencies come from the npm cache when they are there.
    await run(
      NPM,
      ['install', '--global', '--prefix', prefix, '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tarball.filename)],
      {
        cwd: dir,
        maxBuffer: 16 * 1024 * 1024,
        timeout: 300_000,
      },
    );
    return {
      tarball,
      prefix,
      bin: join(prefix, 'bin', 'image-migrator'),
      packageDir: join(prefix, 'lib', 'node_modules', 'image-migrator'),
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
