#!/usr/bin/env node
// Runs the bundled CLI (dist/bundle/main.cjs: what the npm package ships). In a clone where
// `npm run build` has not run, it runs the TypeScript sources through tsx (a development dependency).
import { existsSync } from 'node:fs';
import module, { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// Node 22.1 and later keep V8's compiled code of the modules they load on disk (in the OS temporary
// folder), so that the next start skips compiling the bundle's functions again. Older Node lacks it.
module.enableCompileCache?.();

const bundled = new URL('../dist/bundle/main.cjs', import.meta.url);
if (existsSync(bundled)) {
  createRequire(import.meta.url)(fileURLToPath(bundled));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../cli/main.ts', import.meta.url).href);
}
