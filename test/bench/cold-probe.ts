/**
 * `npm run bench:cold`: a quick look at the cold run alone, for tuning it. It seeds the bench's
 * workload, then copies it into a fresh destination several times (image-migrator, and skopeo once
 * for the ratio) and prints, per run, where the machine's CPU went: the tool's own user and system
 * time, the counting proxies every byte passes through (a process of their own), the bench's own
 * process, the source and the destination registry, and the rest (the kernel's work for no process in
 * particular, other processes), against the CPU the machine had over the run's wall time; and the CPU seconds idle
 * while a disk write was awaited (iowait: the destination registry syncs every upload to disk before
 * it answers). `COLD_ARGS` adds options to image-migrator's command line. `COLD_PEER_RUNS` runs skopeo
 * that many times (default 1), each after the tool's run of the same number. `COLD_DIRECT=1` sends both
 * tools to the registries themselves, with no proxy between (no requests counted): the ratio without
 * the instrument. `npm run bench` stays the reference.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry } from '../support/registries.js';
import { startProxyProcess } from './proxy-process.js';
import { addCounts, perTagTotal } from './request-kinds.js';
import { traceRun } from './trace.js';
import { cpuSince, machineTicks, median, processCpuSeconds, settleMachine } from './measure.js';
import { buildCli, unlikeBuilds, imageMigratorCommand, skopeoCommand } from './tools.js';
import { DEFAULT_SHAPE, seedWorkload } from './workload.js';

const RUNS = Number(process.env.COLD_RUNS ?? 3);
const PEER_RUNS = Number(process.env.COLD_PEER_RUNS ?? 1);
const DIRECT = process.env.COLD_DIRECT === '1';
const words = (value: string | undefined): string[] => (value ?? '').split(' ').filter((a) => a !== '');
/**
 * COLD_ARGS_B: every second run uses these options instead, for an A/B comparison on the same machine
 * state; COLD_TREE_B: every second run uses the CLI built from that tree (a checkout of another commit).
 */
const extraArgs = (n: number): string[] =>
  process.env.COLD_ARGS_B !== undefined && n % 2 === 0 ? words(process.env.COLD_ARGS_B) : words(process.env.COLD_ARGS);
const log = (line: string): void => void process.stdout.write(`${line}\n`);

/** Runs the command under GNU time and returns wall seconds and the child's user and system seconds. */
function timed(
  command: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv | undefined,
): Promise<{ wall: number; user: number; sys: number; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    traceRun('SPAWN', [command, ...args]);
    const child = spawn('/usr/bin/time', ['-f', 'TIME %U %S', command, ...args], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)));
    child.once('error', reject);
    child.once('close', (code) => {
      traceRun('EXIT', [command, ...args]);
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      const m = /TIME ([\d.]+) ([\d.]+)/.exec(stderr);
      resolve({ wall, user: Number(m?.[1] ?? NaN), sys: Number(m?.[2] ?? NaN), code, stderr });
    });
  });
}

const root = await mkdtemp(join(tmpdir(), 'im-cold-'));
const source = await startRegistry();
const stops: (() => Promise<unknown>)[] = [() => source.stop()];
try {
  const treeB = process.env.COLD_TREE_B;
  const [cli, workload, cliB] = await Promise.all([
    buildCli(join(root, 'build'), 180_000),
    seedWorkload(source, DEFAULT_SHAPE),
    treeB === undefined ? undefined : buildCli(join(root, 'build-b'), 180_000, treeB),
  ]);
  const ab = process.env.COLD_ARGS_B !== undefined || cliB !== undefined;
  const unlike = cliB === undefined || treeB === undefined ? undefined : unlikeBuilds(cli, cliB, treeB);
  if (unlike !== undefined) throw new Error(`COLD_TREE_B: ${unlike}`);
  const proxies = await startProxyProcess();
  stops.push(() => proxies.stop());
  const sourceProxy = await proxies.proxy(source.url);
  const run = async (tool: 'image-migrator' | 'skopeo', n: number): Promise<number> => {
    const registry = await startRegistry({ auth: 'token' });
    const proxy = await proxies.proxy(registry.url);
    const dir = await mkdtemp(join(root, `${tool}-`));
    try {
      const e = {
        sourceHost: DIRECT ? new URL(source.url).host : sourceProxy.host,
        destinationHost: DIRECT ? new URL(registry.url).host : proxy.host,
        username: registry.username ?? '',
        password: registry.password ?? '',
        repositories: workload.repositories,
      };
      const built = cliB !== undefined && n % 2 === 0 ? cliB : cli;
      const c = tool === 'image-migrator' ? await imageMigratorCommand(built, dir, e, 7) : await skopeoCommand(dir, e);
      const args = tool === 'image-migrator' ? [...words(process.env.COLD_NODE_ARGS), ...c.args, ...extraArgs(n)] : c.args;
      await sourceProxy.take();
      await settleMachine();
      const registries = [source.pid, registry.pid, proxies.pid];
      const registriesBefore = await Promise.all(registries.map(processCpuSeconds));
      const before = await machineTicks();
      const benchBefore = process.cpuUsage();
      const r = await timed(c.command, args, dir, c.env);
      const bench = process.cpuUsage(benchBefore);
      const { busySeconds: busy, ioWaitSeconds: ioWait, stolenSeconds: steal } = await cpuSince(before);
      // NaN when a registry's CPU time could not be read.
      const [sourceCpu, destinationCpu, proxiesCpu] = (await Promise.all(registries.map(processCpuSeconds))).map(
        (after, i) => (after ?? NaN) - (registriesBefore[i] ?? NaN),
      ) as [number, number, number];
      const counts = addCounts((await sourceProxy.take()).counts, (await proxy.take()).counts);
      const benchCpu = (bench.user + bench.system) / 1e6;
      const rest = busy - r.user - r.sys - benchCpu - proxiesCpu - sourceCpu - destinationCpu;
      const had = r.wall * cpus().length;
      log(
        `${`${tool} cold ${n}${tool === 'image-migrator' && ab ? (n % 2 === 0 ? ' B' : ' A') : ''}`.padEnd(22)} ${r.wall.toFixed(2)} s exit ${r.code}; cpu: tool ${r.user.toFixed(2)}u+${r.sys.toFixed(2)}s, proxies ${proxiesCpu.toFixed(2)}, bench ${benchCpu.toFixed(2)}, registries ${sourceCpu.toFixed(2)} source + ${destinationCpu.toFixed(2)} destination, other ${rest.toFixed(2)}, machine busy ${busy.toFixed(2)} of ${had.toFixed(2)}, iowait ${ioWait.toFixed(2)}, stolen ${steal.toFixed(2)}; req/tag ${(perTagTotal(counts) / workload.tags.length).toFixed(2)}`,
      );
      if (r.code !== 0) log(r.stderr.slice(-2000));
      if (process.env.COLD_KEEP_LOG !== undefined && tool === 'image-migrator')
        await copyFile(join(dir, 'run.log'), join(process.env.COLD_KEEP_LOG, `cold-${n}.log`)).catch(() => undefined);
      return r.wall;
    } finally {
      await proxy.stop();
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    }
  };
  const peers: number[] = [];
  const own: number[] = [];
  for (let i = 1; i <= Math.max(RUNS, PEER_RUNS); i++) {
    if (i <= RUNS) own.push(await run('image-migrator', i));
    if (i <= PEER_RUNS) peers.push(await run('skopeo', i));
  }
  log(
    `medians${DIRECT ? ' (no proxies)' : ''}: image-migrator ${median(own).toFixed(2)} s, skopeo ${median(peers).toFixed(2)} s: ${(median(own) / median(peers)).toFixed(2)}x`,
  );
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await rm(root, { recursive: true, force: true });
}
process.exit(0);
