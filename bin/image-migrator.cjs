#!/usr/bin/env node
// Runs the bundled CLI (dist/bundle/main.cjs: what the npm package ships). In a clone where
// `npm run build` has not run, it runs the TypeScript sources through tsx (a development dependency).
// CommonJS, like the bundle: an ES module entry point would start Node's ES module loader first
// (about 10 ms of CPU at every start).
'use strict';
const { createHash } = require('node:crypto');
const { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { tmpdir } = require('node:os');
const { dirname, join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { cachedDataVersionTag, setFlagsFromString } = require('node:v8');
const vm = require('node:vm');

const bundled = join(__dirname, '../dist/bundle/main.cjs');
if (existsSync(bundled)) {
  if (typeof Module.enableCompileCache === 'function') {
    // Node 22.1 and later keep V8's compiled code of the modules they load on disk (in the OS
    // temporary folder), so that the next start skips compiling the bundle's functions again.
    Module.enableCompileCache();
    require(bundled);
  } else {
    requireWithCodeCache(bundled);
  }
} else {
  void import('tsx/esm/api').then(({ register }) => {
    register();
    return import(pathToFileURL(join(__dirname, '../cli/main.ts')).href);
  });
}

/**
 * Older Node: the same through V8's code cache in node:vm. The bundle is compiled with the cached
 * data of an earlier run; after a run whose cache was missing or refused, the code V8 compiled during
 * the run (the functions a migration used, compiled lazily) is kept for the next one. The cache is in
 * the OS temporary folder, keyed by the bundle's path, size and time, the Node version and the
 * command (a migration, config, cloud: each compiles its own part of the bundle); anything wrong with
 * it only means compiling as usual.
 */
function requireWithCodeCache(file) {
  const stat = statSync(file);
  const [first] = process.argv.slice(2);
  const command = first !== undefined && !first.startsWith('-') ? first : 'migrate';
  const key = createHash('sha256')
    .update(`${file}\0${stat.size}\0${stat.mtimeMs}\0${process.version}\0${process.arch}\0${command}`)
    .digest('hex')
    .slice(0, 32);
  const cacheFile = join(tmpdir(), `image-migrator-compile-cache-${process.getuid?.() ?? 'user'}`, `${key}.bin`);
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  // Read as latin1, which skips UTF-8 decoding (about 4 ms of CPU): esbuild writes the bundle in ASCII
  // (bin/bundle.js), but for comments, where a UTF-8 character would become a few latin1 ones and
  // change nothing else.
  const source = readFileSync(file, 'latin1');
  // V8's tag of its version and flags: a cache made under other flags is refused.
  const compiledUnder = cachedDataVersionTag();
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  // Help and version compile next to nothing, and a run refused for bad input (exit code 2) stops
  // before the work: a cache made by them would serve the next runs poorly.
  const brief = process.argv.slice(2).some((a) => ['-h', '--help', '-V', '--version'].includes(a));
  if ((cachedData === undefined || script.cachedDataRejected) && !brief) {
    process.once('exit', (code) => {
      if (code === 2) return;
      try {
        // The cache is made under the flags the bundle was compiled under, those of the next start.
        // cli/main.ts turns on --liftoff-only (which also turns off V8's tier-up flags) and
        // --no-flush-bytecode once the bundle's modules have loaded: all four are set back here.
        // (Turning them on before compiling would keep the flags the same, but every builtin module
        // Node loaded after that would miss the code cache Node ships for it: about 25 ms of CPU at
        // every start.) A cache V8 would refuse is not written.
        setFlagsFromString('--no-liftoff-only --wasm-tier-up --wasm-dynamic-tiering --flush-bytecode');
        if (cachedDataVersionTag() !== compiledUnder) return;
        mkdirSync(dirname(cacheFile), { recursive: true, mode: 0o700 });
        const temporary = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(temporary, script.createCachedData());
        renameSync(temporary, cacheFile);
      } catch {
        // No cache next time; nothing else changes.
      }
    });
  }
  const bundle = new Module(file);
  bundle.filename = file;
  bundle.paths = Module._nodeModulePaths(dirname(file));
  require.cache[file] = bundle;
  const requireFromBundle = (id) => bundle.require(id);
  requireFromBundle.resolve = (id, options) => Module._resolveFilename(id, bundle, false, options);
  requireFromBundle.cache = require.cache;
  script.runInThisContext().call(bundle.exports, bundle.exports, requireFromBundle, bundle, file, dirname(file));
  bundle.loaded = true;
}
