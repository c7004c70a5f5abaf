/**
 * `npm run bench`: image-migrator against `skopeo sync --all --preserve-digests` on one workload in a
 * local registry, in rounds (default 3, alternating which tool goes first; medians reported): cold
 * (empty destination), warm (nothing changed, no run state), and for image-migrator warm with the run
 * state and warm with every tag immutable; then one image with a 1 GiB layer for the memory check.
 * Each tool has its own fresh destination (token auth) per round so neither helps the other. In the
 * timed rounds the tools reach the registries directly: a proxy between costs every request a hop and
 * every byte two more trips through the kernel, on the same two cores, and so weighs on the two tools
 * unequally (skopeo makes 16 times the connections, the tool streams the bytes faster). One more
 * round, not timed, runs every phase through a counting proxy in front of every registry (all in one
 * process of their own: see proxy-process.ts), which counts both tools' requests and bytes the same way.
 * `--scale 100x20` seeds many small images instead, to show how the cost grows with the tag count.
 * It is a measurement, not a test: it exits 0 even when a target is missed, and prints MISSED.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest } from '../support/seed.js';
import { canMeasureRss, measure } from './measure.js';
import { startProxyProcess, type ProxyProcess, type RemoteProxy } from './proxy-process.js';
import { addCounts, emptyCounts, type KindCounts } from './request-kinds.js';
import {
  TOOLS,
  checkTargets,
  formatRoundRatios,
  formatRounds,
  formatTable,
  formatTargets,
  medianRows,
  type Phase,
  type RunRow,
  type ToolName,
} from './report-table.js';
import { buildCli, environmentNote, imageMigratorCommand, skopeoCommand, type BuiltCli, type ToolCommand } from './tools.js';
import { DEFAULT_SHAPE, scaleShape, seedBigLayer, seedWorkload, type WorkloadShape, type WorkloadTag } from './workload.js';

const WORKERS = 7;
/** A run's time limit: 300 s, or 0.4 s a tag for a scaled workload (skopeo's cold run of 2,000 tags outlasts 300 s). */
const runTimeoutMs = (tags: number): number => Math.max(300_000, tags * 400);
const BUILD_TIMEOUT_MS = 180_000;
const WHOLE_BENCH_MS = 60 * 60_000;

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanUp(): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanUp().finally(() => process.exit(130)));
}
const log = (line: string): void => void process.stdout.write(`${line}\n`);

/** One tool's destination: its own registry, reached directly (timed runs) or through a counting proxy. */
interface Lane {
  tool: ToolName;
  registry: TestRegistry;
  /** Undefined when the tool reaches the registries directly (nothing counted). */
  proxy: RemoteProxy | undefined;
  command: ToolCommand;
  dir: string;
}

/** Command-line options of the bench. */
interface BenchOptions {
  readonly rounds: number;
  readonly shape: WorkloadShape;
  readonly scaled: boolean;
  readonly bigLayerMib: number;
}

function parseOptions(argv: readonly string[]): BenchOptions {
  let rounds = 3;
  let shape = DEFAULT_SHAPE;
  let scaled = false;
  let bigLayerMib = 1024;
  const usage = [
    'usage: npm run bench -- [--rounds N] [--scale REPOSxTAGS] [--big-layer-mib N]',
    '  --rounds N           rounds of every run, alternating which tool goes first; medians reported (default 3)',
    '  --scale RxT          R repositories of T small tags each instead of the default workload (10 repositories, 40 tags)',
    '  --big-layer-mib N    the layer of the memory run, in MiB (default 1024; 0: no memory run)',
  ].join('\n');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1] ?? '';
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    }
    if (arg === '--rounds' && /^[1-9]\d*$/.test(value)) rounds = Number(value);
    else if (arg === '--scale' && /^[1-9]\d*x[1-9]\d*$/.test(value)) {
      const [r, t] = value.split('x').map(Number);
      shape = scaleShape(r ?? 100, t ?? 20);
      scaled = true;
    } else if (arg === '--big-layer-mib' && /^\d+$/.test(value)) bigLayerMib = Number(value);
    else {
      process.stderr.write(
        `npm run bench: ${arg ?? ''} ${value}: not an option or value it takes (rounds and scale are at least 1)\n${usage}\n`,
      );
      process.exit(2);
    }
    i++;
  }
  return { rounds, shape, scaled, bigLayerMib };
}

async function verifiedTags(registry: TestRegistry, tags: readonly WorkloadTag[]): Promise<number> {
  let found = 0;
  // A few at a time: a scaled workload has thousands of tags.
  for (let i = 0; i < tags.length; i += 32) {
    const batch = await Promise.all(
      tags.slice(i, i + 32).map(async (t) => (await getManifestDigest(registry, t.repository, t.tag)) === t.digest),
    );
    found += batch.filter(Boolean).length;
  }
  return found;
}

const PHASE_ARGS: Record<Phase, readonly string[]> = {
  cold: [],
  warm: ['--no-state'],
  'warm-state': [],
  immutable: ['--no-state', '--immutable-tags', '*'],
  big: ['--no-state'],
};

/** A run's use: timed (its wall time is in the medians), counted (its requests went through the proxies), or both. */
interface RunUse {
  readonly timed: boolean;
  /** The source registry's counting proxy, for a counted run. */
  readonly source?: RemoteProxy;
}

async function runOnce(
  lane: Lane,
  phase: Phase,
  round: number,
  use: RunUse,
  tags: readonly WorkloadTag[],
  repositories: number,
): Promise<RunRow> {
  const proxies = use.source === undefined || lane.proxy === undefined ? undefined : [use.source, lane.proxy];
  await Promise.all((proxies ?? []).map((p) => p.take()));
  const tokensBefore = lane.registry.tokenServer?.requests ?? 0;
  log(`${use.timed ? `round ${round}` : 'counted'}: ${lane.tool} ${phase} ...`);
  const args = lane.tool === TOOLS.migrator ? [...lane.command.args, ...PHASE_ARGS[phase]] : lane.command.args;
  const timeoutMs = runTimeoutMs(tags.length);
  const m = await measure(lane.command.command, args, { cwd: lane.dir, timeoutMs, env: lane.command.env });
  const tallies = proxies === undefined ? [] : await Promise.all(proxies.map((p) => p.take()));
  const connections = tallies.reduce((n, t) => n + t.connections, 0);
  const bytes = tallies.reduce((n, t) => n + t.bytes, 0);
  const challenges = tallies.reduce((n, t) => n + t.challenges, 0);
  const counts: KindCounts = tallies.map((t) => t.counts).reduce(addCounts, emptyCounts());
  counts.token += (lane.registry.tokenServer?.requests ?? 0) - tokensBefore;
  const verified = await verifiedTags(lane.registry, tags);
  let ok = m.code === 0 && !m.timedOut;
  let note = m.timedOut ? `timed out after ${timeoutMs / 1000} s` : `exit ${m.code}: ${m.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  if (lane.tool === TOOLS.migrator && ok) {
    const report = JSON.parse(await readFile(join(lane.dir, 'report.json'), 'utf8')) as { tasks: { outcome: string }[] };
    const outcomes = new Map<string, number>();
    for (const t of report.tasks) outcomes.set(t.outcome, (outcomes.get(t.outcome) ?? 0) + 1);
    note = [...outcomes].map(([o, n]) => `${n} ${o}`).join(', ');
    ok = report.tasks.length === tags.length;
  }
  log(`  ${m.wallSeconds.toFixed(2)} s, ${ok ? 'ok' : 'FAILED'}${ok && note !== '' && lane.tool === TOOLS.migrator ? ` (${note})` : ''}`);
  return {
    tool: lane.tool,
    phase,
    round,
    timed: use.timed,
    counted: proxies !== undefined,
    wallSeconds: m.wallSeconds,
    firstOutputSeconds: m.firstOutputSeconds,
    stolenSeconds: m.stolenSeconds,
    peakRssMb: m.peakRssMb,
    counts,
    challenges,
    bytes,
    connections,
    verifiedTags: verified,
    tagCount: tags.length,
    repositories,
    ok,
    timedOut: m.timedOut,
    note,
  };
}

/**
 * A fresh destination (token auth) and the tool's command line for it: through a counting proxy of
 * `proxies`, or, without them, straight to the registry.
 */
async function startLane(
  tool: ToolName,
  root: string,
  cli: BuiltCli,
  proxies: ProxyProcess | undefined,
  sourceHost: string,
  repositories: readonly string[],
): Promise<{ lane: Lane; stop: () => Promise<void> }> {
  const registry = await startRegistry({ auth: 'token' });
  const proxy = await proxies?.proxy(registry.url);
  const dir = await mkdtemp(join(root, `${tool}-`));
  const endpoints = {
    sourceHost,
    destinationHost: proxy?.host ?? new URL(registry.url).host,
    username: registry.username ?? '',
    password: registry.password ?? '',
    repositories,
  };
  const command = tool === TOOLS.migrator ? await imageMigratorCommand(cli, dir, endpoints, WORKERS) : await skopeoCommand(dir, endpoints);
  const stop = async (): Promise<void> => {
    await proxy?.stop().catch(() => undefined);
    await registry.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  return { lane: { tool, registry, proxy, command, dir }, stop };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const root = await mkdtemp(join(tmpdir(), 'im-bench-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  if (!canMeasureRss()) log('note: /usr/bin/time is missing, peak RSS is not measured');

  log('building the CLI and seeding the workload ...');
  const started = Date.now();
  const source = await startRegistry();
  cleanups.push(() => source.stop());
  const [cli, workload] = await Promise.all([buildCli(join(root, 'build'), BUILD_TIMEOUT_MS), seedWorkload(source, options.shape)]);
  const modes = {
    bundled: 'bundled by esbuild, started by bin/image-migrator.cjs',
    compiled: 'compiled by tsc (bundling failed)',
    tsx: 'through tsx (tsc emitted nothing)',
  };
  log(`  image-migrator runs ${modes[cli.mode]}; build ${cli.buildSeconds.toFixed(1)} s; Node ${process.version}`);
  if (cli.diagnostics !== '') log(`  tsc reported (emitted anyway):\n${cli.diagnostics.replace(/^/gm, '    ')}`);
  const mib = (workload.uniqueBytes / 1024 / 1024).toFixed(0);
  const repositories = workload.repositories.length;
  log(
    `  workload: ${repositories} repositories, ${workload.tags.length} tags (${workload.tags.filter((t) => t.kind !== 'image' && t.kind !== 'big').length} multi-arch), ${mib} MiB of distinct blobs; seeded in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  log(`  load before the runs: ${loadAverage()}`);
  const note = environmentNote();
  if (note !== undefined) log(`  ${note}`);

  const proxies = await startProxyProcess();
  cleanups.push(() => proxies.stop());
  const sourceProxy = await proxies.proxy(source.url);
  const rows: RunRow[] = [];
  // BENCH_DELAY_MS (answers held back, as from registries far away) is the proxies' doing: the timed
  // rounds then go through them too, and are counted as they go.
  const throughProxies = Number(process.env.BENCH_DELAY_MS ?? 0) > 0;
  /** One round of every phase: timed, straight to the registries (or through the proxies, counted); or counted only. */
  const playRound = async (round: number, counted: boolean): Promise<void> => {
    // Each round starts from empty destinations; the tools take turns going first.
    const tools = round % 2 === 1 ? [TOOLS.migrator, TOOLS.skopeo] : [TOOLS.skopeo, TOOLS.migrator];
    const lanes = new Map<ToolName, Lane>();
    const stops: (() => Promise<void>)[] = [];
    const use: RunUse = counted ? { timed: throughProxies, source: sourceProxy } : { timed: true };
    const sourceHost = counted ? sourceProxy.host : new URL(source.url).host;
    for (const tool of tools) {
      const { lane, stop } = await startLane(tool, root, cli, counted ? proxies : undefined, sourceHost, workload.repositories);
      lanes.set(tool, lane);
      stops.push(stop);
    }
    try {
      for (const phase of ['cold', 'warm'] as const) {
        for (const tool of tools) rows.push(await runOnce(lanes.get(tool) as Lane, phase, round, use, workload.tags, repositories));
      }
      const migrator = lanes.get(TOOLS.migrator) as Lane;
      for (const phase of ['warm-state', 'immutable'] as const)
        rows.push(await runOnce(migrator, phase, round, use, workload.tags, repositories));
    } finally {
      for (const stop of stops) await stop();
    }
  };
  for (let round = 1; round <= options.rounds; round++) await playRound(round, throughProxies);
  const loadAfterRounds = loadAverage();
  if (!throughProxies) await playRound(1, true);

  if (options.bigLayerMib > 0) {
    log(`seeding one image with a ${options.bigLayerMib} MiB layer ...`);
    const big = await seedBigLayer(source, options.bigLayerMib * 1024 * 1024);
    const { lane, stop } = await startLane(TOOLS.migrator, root, cli, proxies, sourceProxy.host, [big.repository]);
    try {
      rows.push(await runOnce(lane, 'big', 1, { timed: true, source: sourceProxy }, [big], 1));
    } finally {
      await stop();
    }
  }

  const medians = medianRows(rows);
  log('');
  log(`image-migrator --workers ${WORKERS} vs skopeo sync --all --preserve-digests (one invocation, all repositories);`);
  log(
    `${options.scaled ? 'scaled ' : ''}workload of ${repositories} repositories, ${workload.tags.length} tags; median of ${options.rounds} round${options.rounds === 1 ? '' : 's'} (alternating which tool goes first)`,
  );
  if (throughProxies)
    log(`wall times and requests: through a proxy in front of each registry, each answer held ${process.env.BENCH_DELAY_MS} ms;`);
  else {
    log('wall times: the tools reach the registries directly; requests: counted in one more round of every run, through a proxy in front');
    log('of each registry (not timed);');
  }
  log('tokens: counted at the destination token server;');
  log('warm: nothing changed, --no-state; warm-state: nothing changed, with the state the cold run left; immutable: --immutable-tags "*";');
  log(
    `${options.bigLayerMib > 0 ? `big: one image with a ${options.bigLayerMib} MiB layer into an empty destination (memory); ` : ''}ratios of warm-state and immutable are to skopeo warm;`,
  );
  log('401 = auth challenges; tls = HTTPS attempts refused by the plain-HTTP port; 1st out = seconds until the tool printed anything;');
  log('req/tag = every registry request but tokens, tag lists and tls attempts, over the tag count; MB = body bytes through the proxies;');
  log('conns = TCP connections opened to the registries (tls attempts included)');
  log(formatTable(medians));
  log('');
  log("wall time of every round (with the CPU seconds the host gave other guests meanwhile, if any), and after | the counted run's:");
  log(formatRounds(rows));
  log('ratio of every round:');
  log(formatRoundRatios(rows));
  log(`load: ${loadAfterRounds} after the rounds`);
  log('');
  log('targets (image-migrator):');
  log(formatTargets(checkTargets(medians, rows)));
  for (const row of rows.filter((r) => !r.ok)) log(`\n${row.tool} ${row.phase} round ${row.round} failed: ${row.note}`);
}

function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
}

const deadline = setTimeout(() => {
  log(`bench: gave up after ${WHOLE_BENCH_MS / 60_000} minutes`);
  void cleanUp().finally(() => process.exit(0));
}, WHOLE_BENCH_MS);
try {
  await main();
} catch (error) {
  log(`bench: could not complete: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  clearTimeout(deadline);
  await cleanUp();
}
process.exit(0);
