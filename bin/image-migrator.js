#!/usr/bin/env node
// Runs the bundled CLI when it has been built (npm run build), else the compiled one, else the
// TypeScript sources through tsx.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const bundled = new URL('../dist/bundle/main.cjs', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(bundled)) {
  createRequire(import.meta.url)(fileURLToPath(bundled));
} else if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../cli/main.ts', import.meta.url).href);
}
