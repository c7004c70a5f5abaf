#!/usr/bin/env node
// `npm run build:binary [-- PLATFORM...]`: the single-file executable, built with Node's single
// executable applications (SEA). The CLI is bundled with every dependency inside (bin/bundle.js
// --standalone), turned into a SEA blob by Node 24, and injected with postject into a copy of the
// Node 24 binary of each platform (from the npm registry, see scripts/node-binary.js):
//   dist/bin/image-migrator-linux-x64, -linux-arm64, -win-x64.exe, ...
// Without arguments it builds this machine's platform. The executable needs no Node.js installed.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postject from 'postject';
import { HOST_PLATFORM, nodeBinary } from './node-binary.js';

/** The Node major the executables embed: the newest LTS line. */
export const EMBEDDED_NODE = 24;
const SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const root = fileURLToPath(new URL('..', import.meta.url));
const platforms = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [HOST_PLATFORM];
const work = join(root, 'dist', 'sea');
const out = join(root, 'dist', 'bin');
mkdirSync(out, { recursive: true });

execFileSync(process.execPath, [join(root, 'bin', 'bundle.js'), '--standalone', work], { stdio: 'inherit' });
// A blob is made by the same Node version as the binaries it goes into. This machine's platform
// gets one with V8's code cache (start-up compiles nothing); other platforms one without, since the
// cache is specific to one V8 build and CPU.
const hostNode = nodeBinary(EMBEDDED_NODE);
function seaBlob(name, useCodeCache) {
  const config = join(work, `sea-config-${name}.json`);
  const blob = join(work, `sea-${name}.blob`);
  writeFileSync(
    config,
    JSON.stringify({ main: join(work, 'main.cjs'), output: blob, disableExperimentalSEAWarning: true, useCodeCache, useSnapshot: false }),
  );
  execFileSync(hostNode, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  return readFileSync(blob);
}

for (const platform of platforms) {
  const windows = platform.startsWith('win');
  const target = join(out, `image-migrator-${platform}${windows ? '.exe' : ''}`);
  rmSync(target, { force: true });
  copyFileSync(nodeBinary(EMBEDDED_NODE, platform), target);
  chmodSync(target, 0o755);
  await postject.inject(target, 'NODE_SEA_BLOB', seaBlob(platform, platform === HOST_PLATFORM), {
    sentinelFuse: SENTINEL_FUSE,
    ...(platform.startsWith('darwin') ? { machoSegmentName: 'NODE_SEA' } : {}),
  });
  process.stdout.write(`${target}: ${(statSync(target).size / 1024 / 1024).toFixed(1)} MiB\n`);
}
