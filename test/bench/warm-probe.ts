/**
 * `npm run bench:warm`: a quick look at the nothing-changed run alone, for tuning it. It seeds the
 * bench's workload without the big layer, fills image-migrator's destination once, then runs the warm
 * migration several times (and skopeo's once, for the ratio) and prints each run's wall time, time to
 * first output, CPU time, requests and connections, and their means. The warm runs use the run state the first run left (in
 * the lane's folder); `WARM_ARGS=--no-state` compares without it. For an A/B comparison on the same
 * machine state, every second warm run adds `WARM_ARGS_B` instead of `WARM_ARGS` and the variables of
 * `WARM_ENV_B` ("NAME=value ..."), or runs the CLI built from the tree at `WARM_TREE_B` (a checkout of
 * another commit, with node_modules), and each half gets its own median. `npm run bench` stays the reference.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry } from '../support/registries.js';
import { measure, median, type Measured } from './measure.js';
import { startProxyProcess } from './proxy-process.js';
import { addCounts, perTagTotal } from './request-kinds.js';
import { buildCli, unlikeBuilds, environmentNote, imageMigratorCommand, skopeoCommand, type ToolCommand } from './tools.js';
import { DEFAULT_SHAPE, seedWorkload } from './workload.js';

const RUNS = Number(process.env.WARM_RUNS ?? 5);
/** WARM_DIRECT=1: both tools reach the registries themselves, with no proxy between (no requests counted). */
const DIRECT = process.env.WARM_DIRECT === '1';
const log = (line: string): void => void process.stdout.write(`${line}\n`);
/** Mean and standard deviation, "0.412 ± 0.031". */
function spread(values: readonly number[]): string {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, values.length - 1));
  return `${mean.toFixed(3)} ± ${sd.toFixed(3)}`;
}

const root = await mkdtemp(join(tmpdir(), 'im-warm-'));
const source = await startRegistry();
const stops: (() => Promise<unknown>)[] = [() => source.stop()];
try {
  const treeB = process.env.WARM_TREE_B;
  const [cli, workload, cliB] = await Promise.all([
    buildCli(join(root, 'build'), 180_000),
    seedWorkload(source, { ...DEFAULT_SHAPE, bigLayerBytes: 1024 * 1024 }),
    treeB === undefined ? undefined : buildCli(join(root, 'build-b'), 180_000, treeB),
  ]);
  const unlike = cliB === undefined || treeB === undefined ? undefined : unlikeBuilds(cli, cliB, treeB);
  if (unlike !== undefined) throw new Error(`WARM_TREE_B: ${unlike}`);
  const proxies = await startProxyProcess();
  stops.push(() => proxies.stop());
  const sourceProxy = await proxies.proxy(source.url);
  const lane = async (tool: 'image-migrator' | 'skopeo'): Promise<ToolCommand & { dir: string; take: () => Promise<string> }> => {
    const registry = await startRegistry({ auth: 'token' });
    const proxy = await proxies.proxy(registry.url);
    stops.push(
      () => registry.stop(),
      () => proxy.stop(),
    );
    const dir = await mkdtemp(join(root, `${tool}-`));
    const e = {
      sourceHost: DIRECT ? new URL(source.url).host : sourceProxy.host,
      destinationHost: DIRECT ? new URL(registry.url).host : proxy.host,
      username: registry.username ?? '',
      password: registry.password ?? '',
      repositories: workload.repositories,
    };
    const command = tool === 'image-migrator' ? await imageMigratorCommand(cli, dir, e, 7) : await skopeoCommand(dir, e);
    let tokens = 0;
    const take = async (): Promise<string> => {
      const [up, down] = await Promise.all([sourceProxy.take(), proxy.take()]);
      const conns = up.connections + down.connections;
      const counts = addCounts(up.counts, down.counts);
      const t = (registry.tokenServer?.requests ?? 0) - tokens;
      tokens = registry.tokenServer?.requests ?? 0;
      const shown = Object.entries(counts)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k}=${n}`)
        .join(' ');
      return `${shown} token=${t} req/tag=${(perTagTotal(counts) / workload.tags.length).toFixed(2)} conns=${conns}`;
    };
    return { ...command, dir, take };
  };
  const words = (text: string | undefined): string[] => (text ?? '').split(' ').filter((a) => a !== '');
  const run = async (name: string, l: ToolCommand & { dir: string; take: () => Promise<string> }, b = false): Promise<Measured> => {
    await l.take();
    const extra = name.includes('image-migrator warm') ? words(b ? process.env.WARM_ARGS_B : process.env.WARM_ARGS) : [];
    const env = b
      ? { ...l.env, ...Object.fromEntries(words(process.env.WARM_ENV_B).map((w) => [w.split('=')[0], w.slice(w.indexOf('=') + 1)])) }
      : l.env;
    // WARM_NODE_ARGS: options for node itself (e.g. --cpu-prof) before image-migrator's launcher.
    const nodeArgs = name.includes('image-migrator warm') ? (process.env.WARM_NODE_ARGS ?? '').split(' ').filter((a) => a !== '') : [];
    const args = b && cliB !== undefined ? [cliB.main, ...l.args.slice(1)] : l.args;
    const m = await measure(l.command, [...nodeArgs, ...args, ...extra], { cwd: l.dir, timeoutMs: 120_000, env });
    log(
      `${name.padEnd(22)} ${m.wallSeconds.toFixed(3)} s, 1st out ${m.firstOutputSeconds?.toFixed(3) ?? '-'} s, CPU ${m.cpuSeconds?.toFixed(2) ?? '-'} s, stolen ${m.stolenSeconds?.toFixed(2) ?? '-'} s, exit ${m.code}; ${await l.take()}`,
    );
    if (m.code !== 0) log(m.stderr.slice(-2000));
    return m;
  };
  const migrator = await lane('image-migrator');
  const skopeo = await lane('skopeo');
  await run('image-migrator cold', migrator);
  await run('skopeo cold', skopeo);
  const ab = process.env.WARM_ARGS_B !== undefined || process.env.WARM_ENV_B !== undefined || cliB !== undefined;
  const halves: Measured[][] = [[], []];
  for (let i = 0; i < RUNS * (ab ? 2 : 1); i++) {
    const b = ab && i % 2 === 1;
    halves[b ? 1 : 0]?.push(await run(`image-migrator warm ${i + 1}${ab ? (b ? ' B' : ' A') : ''}`, migrator, b));
  }
  const peer = (await run('skopeo warm', skopeo)).wallSeconds;
  for (const [i, runs] of halves.entries()) {
    if (runs.length === 0) continue;
    const times = runs.map((m) => m.wallSeconds);
    const middle = median(times);
    const half = ab ? (i === 0 ? ' A' : ' B') : '';
    log(`warm${half} median ${middle.toFixed(3)} s = ${(middle / peer).toFixed(2)}x skopeo`);
    log(
      `warm${half} means: wall ${spread(times)} s, 1st out ${spread(runs.map((m) => m.firstOutputSeconds ?? NaN))} s, CPU ${spread(runs.map((m) => m.cpuSeconds ?? NaN))} s`,
    );
  }
  const note = environmentNote();
  if (note !== undefined) log(note);
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await rm(root, { recursive: true, force: true });
}
process.exit(0);
