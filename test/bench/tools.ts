/**
 * The two tools under comparison, set up to run as their users run them: image-migrator's CLI (built as
 * `npm run build` builds it, run as `bin/image-migrator.cjs` runs it once built) and `skopeo sync`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../support/cli-run.js';

/** A command line to measure. */
export interface ToolCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** Registry endpoints and the destination's credentials, as the tools see them (through the proxies). */
export interface Endpoints {
  readonly sourceHost: string;
  readonly destinationHost: string;
  readonly username: string;
  readonly password: string;
  readonly repositories: readonly string[];
}

/**
 * How the CLI will be started: the esbuild bundle (what bin/ runs after `npm run build`), compiled
 * JavaScript when bundling failed, or TypeScript through tsx when tsc emitted nothing.
 */
export interface BuiltCli {
  readonly mode: 'bundled' | 'compiled' | 'tsx';
  /** The script node runs: a copy of bin/image-migrator.cjs beside the bundle, or the compiled main. */
  readonly main: string;
  readonly buildSeconds: number;
  /** First lines of tsc's complaints, if any (tsc still emits on type errors elsewhere in the tree). */
  readonly diagnostics: string;
}

/**
 * Compiles cli/ and shared/ into `outDir`, then bundles them there (not the project's dist/, which
 * would change what bin/image-migrator.cjs runs for everyone else working in the tree). `root`: the
 * tree to build (default this one; another checkout for an A/B comparison of two commits).
 */
export async function buildCli(outDir: string, timeoutMs: number, root: string = PROJECT_ROOT): Promise<BuiltCli> {
  const started = Date.now();
  await mkdir(outDir, { recursive: true });
  const tsconfig = join(outDir, 'tsconfig.json');
  await writeFile(
    tsconfig,
    JSON.stringify({
      extends: join(root, 'tsconfig.json'),
      // typeRoots: type packages are looked up from the tsconfig's folder, which has no node_modules.
      compilerOptions: {
        outDir: join(outDir, 'out'),
        rootDir: root,
        sourceMap: false,
        incremental: false,
        typeRoots: [join(PROJECT_ROOT, 'node_modules/@types')],
      },
      include: [join(root, 'cli/**/*.ts'), join(root, 'shared/**/*.ts')],
    }),
  );
  const out = await runQuiet(process.execPath, [join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], timeoutMs);
  const main = join(outDir, 'out/cli/main.js');
  const buildSeconds = (Date.now() - started) / 1000;
  const diagnostics = out.split('\n').slice(0, 5).join('\n').trim();
  if (!existsSync(main)) return { mode: 'tsx', main: join(PROJECT_ROOT, 'bin/image-migrator.cjs'), buildSeconds, diagnostics };
  // The compiled files are ES modules and resolve packages from the project's node_modules.
  await writeFile(join(outDir, 'out/package.json'), '{"type":"module"}\n');
  await symlink(join(PROJECT_ROOT, 'node_modules'), join(outDir, 'out/node_modules'), 'dir');
  // The bundle, as `npm run build` makes it, started by a copy of bin/image-migrator.cjs as a user's
  // `image-migrator` starts it (with V8's code cache); beside node_modules for the bundle's externals.
  const bundle = join(outDir, 'out/dist/bundle');
  await runQuiet(process.execPath, [join(root, 'bin/bundle.js'), bundle], timeoutMs);
  const bundled = join(bundle, 'main.cjs');
  const total = (Date.now() - started) / 1000;
  if (existsSync(bundled)) {
    await mkdir(join(outDir, 'out/bin'), { recursive: true });
    const launcher = join(outDir, 'out/bin/image-migrator.cjs');
    await copyFile(join(root, 'bin/image-migrator.cjs'), launcher);
    return { mode: 'bundled', main: launcher, buildSeconds: total, diagnostics };
  }
  return { mode: 'compiled', main, buildSeconds: total, diagnostics };
}

/**
 * An A/B comparison of two trees (COLD_TREE_B, WARM_TREE_B) means something only when both were built
 * the same way: a tree without node_modules cannot be bundled and runs compiled, without V8's code
 * cache, which costs hundreds of milliseconds of CPU a run. Returns why the two differ, or undefined.
 */
export function unlikeBuilds(a: BuiltCli, b: BuiltCli, treeB: string): string | undefined {
  if (a.mode === b.mode) return undefined;
  return `the tree under test runs ${a.mode}, ${treeB} runs ${b.mode}${b.mode === 'bundled' ? '' : ' (give it a node_modules, e.g. a symlink to this one)'}: no comparison`;
}

function runQuiet(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(output);
    });
  });
}

/**
 * The environment both tools run in: this process's, without NODE_EXTRA_CA_CERTS unless
 * BENCH_KEEP_NODE_EXTRA_CA_CERTS=1. Node 20 parses that file's certificates (with its whole CA store)
 * as it starts, before any code of the tool: about 80 ms of CPU per run on a machine that sets it
 * for an outbound proxy, as this one does, and nothing on Node 22 and later, which load them at the
 * first TLS connection. The bench's registries are plain HTTP on loopback; neither tool needs it.
 */
export function toolEnvironment(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (process.env.BENCH_KEEP_NODE_EXTRA_CA_CERTS !== '1') delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** A note for the bench's output when toolEnvironment left NODE_EXTRA_CA_CERTS out. */
export function environmentNote(): string | undefined {
  if (process.env.NODE_EXTRA_CA_CERTS === undefined || process.env.BENCH_KEEP_NODE_EXTRA_CA_CERTS === '1') return undefined;
  return "NODE_EXTRA_CA_CERTS is set here and left out of the tools' environment (Node 20 parses it at every start: ~80 ms of CPU); BENCH_KEEP_NODE_EXTRA_CA_CERTS=1 keeps it";
}

/** Writes auth.json and images.json (one rule per repository, every tag) and returns the command. */
export async function imageMigratorCommand(cli: BuiltCli, dir: string, e: Endpoints, workers: number): Promise<ToolCommand> {
  await writeFile(
    join(dir, 'auth.json'),
    JSON.stringify(
      {
        [e.sourceHost]: { insecure: true },
        [e.destinationHost]: { username: e.username, password: e.password, insecure: true },
      },
      null,
      2,
    ),
  );
  const rules = Object.fromEntries(e.repositories.map((r) => [`${e.sourceHost}/${r}`, `${e.destinationHost}/${r}`]));
  await writeFile(join(dir, 'images.json'), JSON.stringify(rules, null, 2));
  const args = [
    '--auth',
    'auth.json',
    '--images',
    'images.json',
    '--workers',
    String(workers),
    '--report',
    'report.json',
    '--log',
    'run.log',
  ];
  // The default state file goes into the lane's folder, never the user's cache.
  return { command: process.execPath, args: [cli.main, ...args], env: toolEnvironment({ XDG_CACHE_HOME: join(dir, 'cache') }) };
}

/**
 * Writes a sync YAML naming every repository (all tags) and a destination auth file, and returns one
 * `skopeo sync` invocation for the whole workload: one process, like image-migrator's one process,
 * rather than a process start per repository.
 */
export async function skopeoCommand(dir: string, e: Endpoints): Promise<ToolCommand> {
  const yaml = [`${e.sourceHost}:`, '  tls-verify: false', '  images:', ...e.repositories.map((r) => `    ${r}: []`), ''].join('\n');
  await writeFile(join(dir, 'sync.yaml'), yaml);
  const auth = Buffer.from(`${e.username}:${e.password}`).toString('base64');
  await writeFile(join(dir, 'dest-auth.json'), JSON.stringify({ auths: { [e.destinationHost]: { auth } } }), { mode: 0o600 });
  // Without --scoped, skopeo names each copy DEST/<last path segment>, so DEST carries the namespace.
  const namespace = e.repositories[0]?.split('/').slice(0, -1).join('/') ?? '';
  const destination = namespace === '' ? e.destinationHost : `${e.destinationHost}/${namespace}`;
  return {
    command: 'skopeo',
    args: [
      'sync',
      '--all',
      '--preserve-digests',
      '--src',
      'yaml',
      '--dest',
      'docker',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      '--dest-authfile',
      join(dir, 'dest-auth.json'),
      join(dir, 'sync.yaml'),
      destination,
    ],
    // A private HOME: skopeo must not read or write the machine user's container configuration.
    env: toolEnvironment({ HOME: dir, XDG_RUNTIME_DIR: dir }),
  };
}
