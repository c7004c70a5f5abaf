#!/usr/bin/env node
// Bundles the command line into one CommonJS file (part of `npm run build` and of `npm pack`):
//   node bin/bundle.js [OUTDIR]               dist/bundle/main.cjs, which bin/image-migrator.cjs runs
//   node bin/bundle.js --standalone [OUTDIR]  dist/sea/main.cjs with every dependency inside, for
//                                             the single executable (bin/build-binary.js)
// Node reads and compiles one file instead of a few hundred modules: a migration reaches its first
// request about 0.2 s sooner. CommonJS because Node 20 loads one large CommonJS file about 40 ms
// faster than the same code as an ES module. In the package bundle the AWS SDK and the Kubernetes
// client stay external: only the cloud and config commands load them, lazily, from the package's
// dependencies. Target: the oldest Node of package.json's `engines`.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const args = process.argv.slice(2);
const standalone = args.includes('--standalone');
const outArg = args.find((a) => !a.startsWith('--'));
const outdir = outArg ?? fileURLToPath(new URL(standalone ? '../dist/sea' : '../dist/bundle', import.meta.url));
/** `undici` is the few parts the transport uses (bin/undici-lite.cjs), not undici's whole index. */
const undiciParts = {
  name: 'undici-parts',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: fileURLToPath(new URL('./undici-lite.cjs', import.meta.url)) }));
  },
};

/**
 * Builtins a migration never calls, loaded when first used instead of when the bundle starts:
 * node:http2 (undici's HTTP/2 client, which the transport never enables) and node:child_process
 * (commander's executable subcommands, docker credential helpers). Loading them costs about 10 ms of
 * CPU at every start. node:tls too: a run that reaches its registries over plain HTTP (`insecure`
 * ones the run state knows) never needs it, and one over https loads it at its first connection. A require of one gets a stand-in with a getter per export of the real module;
 * node:http2's `constants` are the build's values (the protocol's header names and codes), since
 * undici reads them as it loads.
 */
const LAZY_BUILTINS = { http2: ['constants'], child_process: [], tls: [] };
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${Object.keys(LAZY_BUILTINS).join('|')})$`);
    // The stand-in's own require of the builtin is left to esbuild (external, as every builtin).
    b.onResolve({ filter }, (args) =>
      args.namespace === 'lazy-builtin' ? undefined : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, ({ path }) => {
      const real = createRequire(import.meta.url)(`node:${path}`);
      const copied = LAZY_BUILTINS[path];
      const getters = Object.keys(real).filter((name) => !copied.includes(name));
      const contents = [
        `'use strict';`,
        `let real;`,
        `const load = () => (real ??= require('node:${path}'));`,
        `for (const name of ${JSON.stringify(getters)}) Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });`,
        ...copied.map((name) => `exports[${JSON.stringify(name)}] = ${JSON.stringify(real[name])};`),
      ].join('\n');
      return { contents, loader: 'js' };
    });
  },
};

await build({
  entryPoints: [fileURLToPath(new URL('../cli/main.ts', import.meta.url))],
  outfile: join(outdir, 'main.cjs'),
  bundle: true,
  // The lazily imported commands stay lazy: their code is evaluated only when reached.
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Every character beyond ASCII is escaped (but in comments): bin/image-migrator.cjs reads the bundle
  // as latin1.
  charset: 'ascii',
  // Errors keep their class names (the cloud command maps the functions' errors by name).
  keepNames: true,
  // jsonc-parser's `main` is a UMD build whose internal requires esbuild cannot follow.
  mainFields: ['module', 'main'],
  external: standalone ? [] : ['@aws-sdk/*', '@smithy/*', '@aws-lambda-powertools/*', '@kubernetes/*'],
  logLevel: 'warning',
  plugins: [undiciParts, lazyBuiltins],
});

// bin/image-migrator.cjs reads the package's bundle as latin1. esbuild escapes every character beyond
// ASCII in code (charset: 'ascii'), not in comments: a check that such characters follow a comment's
// start on their line, or are in the license notices esbuild gathers at the end.
if (!standalone) {
  const bundled = readFileSync(join(outdir, 'main.cjs'), 'utf8');
  const notices = bundled.lastIndexOf('/*! Bundled license information:');
  for (const match of bundled.matchAll(/[\u0080-\uffff]/g)) {
    const line = bundled.slice(bundled.lastIndexOf('\n', match.index) + 1, match.index);
    if ((notices < 0 || match.index < notices) && !line.includes('//') && !line.includes('/*')) {
      throw new Error(`main.cjs holds ${JSON.stringify(match[0])} outside a comment: ${line.trim()}`);
    }
  }
}
