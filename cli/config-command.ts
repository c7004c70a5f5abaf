/**
 * `image-migrator config`: reads the images a cluster's workloads use and writes images.json, as
 * the reference tool's `config` subcommand does (`-k`, `-n`, `-t`), plus `--context`, `--output`,
 * `--stdout`, `--keep-path` and kubectl's `--chunk-size`.
 */
import { writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { formatImagesJson, mapImages, parseTarget } from '../shared/discovery/image-map.js';
import { DEFAULT_PAGING } from '../shared/discovery/paging.js';
import { ConfigError, ImageMigratorError } from '../shared/errors.js';
import { parsePlatform } from '../shared/platform.js';
import { ExitCode } from './exit-code.js';

/** Where the command reads its environment and writes its output; tests pass their own. */
export interface ConfigCommandIo {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly home: string;
}

interface ConfigOptions {
  kubeconfig?: string;
  namespaces: string;
  repo?: string;
  context?: string;
  output: string;
  stdout?: boolean;
  keepPath?: boolean;
  chunkSize: string;
  platform?: string;
}

/** `--platform linux/amd64,linux/arm64`: each checked as os/arch[/variant], in the order given. */
function parsePlatforms(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const platforms = [
    ...new Set(
      text
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p.length > 0),
    ),
  ];
  if (platforms.length === 0)
    throw new ConfigError('--platform', text, 'needs at least one platform os/arch[/variant], e.g. linux/amd64,linux/arm64');
  for (const platform of platforms) {
    if (parsePlatform(platform) === undefined) {
      throw new ConfigError('--platform', text, `${JSON.stringify(platform)} is not os/arch[/variant] (e.g. linux/amd64, linux/arm64/v8)`);
    }
  }
  return platforms;
}

const PREFIX = 'image-migrator config: ';

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

async function run(options: ConfigOptions, io: ConfigCommandIo): Promise<void> {
  if (options.repo === undefined || options.repo.trim() === '') {
    throw new ConfigError('-t/--repo', undefined, 'is required: the target registry/namespace, e.g. swr.example.com/team');
  }
  const target = parseTarget(options.repo);
  const chunkSize = Number(options.chunkSize);
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new ConfigError('--chunk-size', options.chunkSize, 'must be a positive integer');
  const platforms = parsePlatforms(options.platform);
  const namespaces = options.namespaces
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n.length > 0);

  // The Kubernetes client takes about 0.6 s of CPU to load: a run of this command loads it, help does not.
  const [{ discoverImages }, { defaultKubeconfigPath, loadKubeConfig }] = await Promise.all([
    import('../shared/discovery/discover.js'),
    import('../shared/discovery/kubeconfig.js'),
  ]);
  const kubeconfig = resolve(io.cwd, options.kubeconfig ?? defaultKubeconfigPath(io.env, io.home));
  const kc = loadKubeConfig(kubeconfig, options.context);
  const found = await discoverImages(kc, { namespaces, paging: { ...DEFAULT_PAGING, pageSize: chunkSize } });
  const { rules, skipped } = mapImages(found.images, target, { keepPath: options.keepPath === true });
  for (const skip of skipped) {
    io.stderr.write(`${PREFIX}warning: skipped ${JSON.stringify(skip.image)} (used by ${skip.workloads.join(', ')}): ${skip.reason}\n`);
  }

  if (Object.keys(rules).length === 0) {
    const scope = namespaces.length === 0 ? 'any namespace' : `namespaces ${namespaces.join(', ')}`;
    throw new ConfigError(kubeconfig, kc.getCurrentContext(), `found no workload images in ${scope}; nothing written`);
  }
  const text = formatImagesJson(rules, platforms === undefined ? {} : { platforms });
  let where = 'standard output';
  if (options.stdout === true) {
    io.stdout.write(text);
  } else {
    where = resolve(io.cwd, options.output);
    try {
      await writeFile(where, text);
    } catch (error) {
      throw new ConfigError(where, undefined, `cannot write the images file (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
        cause: error,
      });
    }
  }
  io.stderr.write(
    `Found ${plural(Object.keys(rules).length, 'image', 'images')} in ${plural(found.workloads, 'workload', 'workloads')} ` +
      `across ${plural(found.namespaces.length, 'namespace', 'namespaces')}; wrote ${where}\n`,
  );
}

/** Adds `config` to the program; its action sets process.exitCode (0 ok, 2 errors) and never calls process.exit. */
export function addConfigCommand(program: Command, io: Partial<ConfigCommandIo> = {}): void {
  const env = io.env ?? process.env;
  const fullIo: ConfigCommandIo = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    env,
    cwd: io.cwd ?? process.cwd(),
    home: io.home ?? homedir(),
  };
  program
    .command('config')
    .description("generate images.json from the images a Kubernetes cluster's workloads use")
    .option('-k, --kubeconfig <file>', 'kubeconfig of the cluster (default: $KUBECONFIG, else ~/.kube/config)')
    .option('-n, --namespaces <list>', 'namespaces to read, comma separated; empty means all namespaces', '')
    .option('-t, --repo <registry/namespace>', 'target registry and namespace, e.g. swr.example.com/team (required)')
    .option('--context <name>', 'kubeconfig context to use (default: its current-context)')
    .option('-o, --output <file>', 'where to write images.json', './images.json')
    .option('--stdout', 'print images.json to standard output instead of writing a file')
    .option('--keep-path', 'keep the full source repository path under the target (target/coreos/etcd) to keep images apart')
    .option(
      '--platform <list>',
      'copy only these platforms of multi-arch images, comma separated os/arch[/variant] (e.g. linux/amd64,linux/arm64)',
    )
    .option('--chunk-size <n>', 'objects per list request (pages with limit/continue)', String(DEFAULT_PAGING.pageSize))
    .action(async (options: ConfigOptions) => {
      try {
        await run(options, fullIo);
        process.exitCode = ExitCode.Success;
      } catch (error) {
        const message =
          error instanceof ImageMigratorError ? error.message : `unexpected error: ${(error as Error).name}: ${(error as Error).message}`;
        fullIo.stderr.write(`${PREFIX}${message}\n`);
        process.exitCode = ExitCode.BadInput;
      }
    });
}
