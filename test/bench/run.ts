/**
 * `npm run bench`: image-migrator against `skopeo sync --all --preserve-digests`, cold (empty
 * destination) and warm (nothing changed), on one workload in a local registry. Each tool has its own
 * fresh destination so neither run helps the other; a counting proxy in front of every registry counts
 * both tools' requests the same way. It is a measurement, not a test: it exits 0 even when a target is
 * missed, and prints MISSED.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest } from '../support/seed.js';
import { startCountingProxy, type CountingProxy } from './counting-proxy.js';
import { canMeasureRss, measure } from './measure.js';
import { addCounts, type KindCounts } from './request-kinds.js';
import { TOOLS, checkTargets, formatTable, formatTargets, type RunRow, type ToolName } from './report-table.js';
import { buildCli, imageMigratorCommand, skopeoCommand, type ToolCommand } from './tools.js';
import { seedWorkload, type Workload } from './workload.js';

const WORKERS = 7;
const RUN_TIMEOUT_MS = 300_000;
const BUILD_TIMEOUT_MS = 180_000;
const WHOLE_BENCH_MS = 20 * 60_000;

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanUp(): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanUp().finally(() => process.exit(130)));
}
const log = (line: string): void => void process.stdout.write(`${line}\n`);

/** One tool's destination: its own registry behind its own counting proxy. */
interface Lane { tool: ToolName; registry: TestRegistry; proxy: CountingProxy; command: ToolCommand; dir: string }

async function verifiedTags(registry: TestRegistry, workload: Workload): Promise<number> {
  const found = await Promise.all(workload.tags.map(async (t) => (await getManifestDigest(registry, t.repository, t.tag)) === t.digest));
  return found.filter(Boolean).length;
}

async function runOnce(lane: Lane, phase: 'cold' | 'warm', source: CountingProxy, workload: Workload): Promise<RunRow> {
  source.take();
  lane.proxy.take();
  const tokensBefore = lane.registry.tokenServer?.requests ?? 0;
  log(`running ${lane.tool} (${phase}) ...`);
  const m = await measure(lane.command.command, lane.command.args, { cwd: lane.dir, timeoutMs: RUN_TIMEOUT_MS, env: lane.command.env });
  const connections = source.connections + lane.proxy.connections;
  const counts: KindCounts = addCounts(source.take(), lane.proxy.take());
  counts.token += (lane.registry.tokenServer?.requests ?? 0) - tokensBefore;
  const verified = await verifiedTags(lane.registry, workload);
  let ok = m.code === 0 && !m.timedOut;
  let note = m.timedOut ? `timed out after ${RUN_TIMEOUT_MS / 1000} s` : `exit ${m.code}: ${m.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  if (lane.tool === TOOLS.migrator && ok) {
    const report = JSON.parse(await readFile(join(lane.dir, 'report.json'), 'utf8')) as { tasks: { outcome: string }[] };
    const outcomes = new Map<string, number>();
    for (const t of report.tasks) outcomes.set(t.outcome, (outcomes.get(t.outcome) ?? 0) + 1);
    note = [...outcomes].map(([o, n]) => `${n} ${o}`).join(', ');
    ok = report.tasks.length === workload.tags.length;
  }
  log(`  ${m.wallSeconds.toFixed(2)} s, ${ok ? 'ok' : 'FAILED'}${ok && note !== '' && lane.tool === TOOLS.migrator ? ` (${note})` : ''}`);
  return { tool: lane.tool, phase, wallSeconds: m.wallSeconds, firstOutputSeconds: m.firstOutputSeconds, peakRssMb: m.peakRssMb, counts, connections, verifiedTags: verified, ok, note };
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'im-bench-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  if (!canMeasureRss()) log('note: /usr/bin/time is missing, peak RSS is not measured');

  log('building the CLI and seeding the workload ...');
  const started = Date.now();
  const source = await startRegistry();
  cleanups.push(() => source.stop());
  const [cli, workload] = await Promise.all([
    buildCli(join(root, 'build'), BUILD_TIMEOUT_MS),
    seedWorkload(source),
  ]);
  const modes = { bundled: 'bundled by esbuild (as bin/ runs dist/bundle/)', compiled: 'compiled by tsc (bundling failed)', tsx: 'through tsx (tsc emitted nothing)' };
  log(`  image-migrator runs ${modes[cli.mode]}; build ${cli.buildSeconds.toFixed(1)} s`);
  if (cli.diagnostics !== '') log(`  tsc reported (emitted anyway):\n${cli.diagnostics.replace(/^/gm, '    ')}`);
  const mib = (workload.uniqueBytes / 1024 / 1024).toFixed(0);
  log(`  workload: ${workload.repositories.length} repositories, ${workload.tags.length} tags (${workload.tags.filter((t) => t.kind !== 'image' && t.kind !== 'big').length} multi-arch), ${mib} MiB of distinct blobs; seeded in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const sourceProxy = await startCountingProxy(source.url);
  cleanups.push(() => sourceProxy.stop());
  const lanes: Lane[] = [];
  for (const tool of [TOOLS.migrator, TOOLS.skopeo]) {
    const registry = await startRegistry({ auth: 'token' });
    cleanups.push(() => registry.stop());
    const proxy = await startCountingProxy(registry.url);
    cleanups.push(() => proxy.stop());
    const dir = await mkdtemp(join(root, `${tool}-`));
    const endpoints = {
      sourceHost: sourceProxy.host, destinationHost: proxy.host,
      username: registry.username ?? '', password: registry.password ?? '', repositories: workload.repositories,
    };
    const command = tool === TOOLS.migrator ? await imageMigratorCommand(cli, dir, endpoints, WORKERS) : await skopeoCommand(dir, endpoints);
    lanes.push({ tool, registry, proxy, command, dir });
  }

  const rows: RunRow[] = [];
  for (const phase of ['cold', 'warm'] as const) {
    for (const lane of lanes) rows.push(await runOnce(lane, phase, sourceProxy, workload));
  }

  log('');
  log(`image-migrator --workers ${WORKERS} vs skopeo sync --all --preserve-digests (one invocation, all repositories)`);
  log('requests: both registries, counted at a proxy in front of each; tokens counted at the destination token server;');
  log('tls = HTTPS attempts refused by the plain-HTTP port; 1st out = seconds until the tool printed anything;');
  log('req/tag = every registry request but tokens, tag lists and tls attempts, over the tag count;');
  log('conns = TCP connections opened to the registries (tls attempts included)');
  log(formatTable(rows, workload.tags.length));
  log('');
  log('targets (image-migrator):');
  log(formatTargets(checkTargets(rows, workload.tags.length)));
  for (const row of rows.filter((r) => !r.ok)) log(`\n${row.tool} ${row.phase} failed: ${row.note}`);
}

const deadline = setTimeout(() => {
  log(`bench: gave up after ${WHOLE_BENCH_MS / 60_000} minutes`);
  void cleanUp().finally(() => process.exit(0));
}, WHOLE_BENCH_MS);
try {
  await main();
} catch (error) {
  log(`bench: could not complete: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
} finally {
  clearTimeout(deadline);
  await cleanUp();
}
process.exit(0);
