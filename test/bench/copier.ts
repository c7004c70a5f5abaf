/**
 * `npm run bench:copier -- [--big-mib N] [--rounds N] [--memory 512,1024,1769,3008] [--no-tls]`: the
 * copier function's peak memory and throughput, to choose its Lambda memory size from measurement.
 *
 * Workload: 10 images with one layer each of 10, 14, ... 46 MiB plus a 2 MiB one (typical image
 * layers), and one image with a single large layer (512 MiB by default), in a docker-registry behind
 * an HTTPS front (real registries are HTTPS: TLS is part of the copier's CPU), copied to another one.
 * The copier runs in a child process bundled with esbuild as the stack bundles it, over DynamoDB
 * Local (results, blob claims) and fauxqs. Each set of tasks is copied:
 * - as the stack delivers it (COPIER_BATCH_SIZE 1): one invocation per task, one after another in one
 *   warm instance;
 * - as one batch of 10 (what batch size 10 would cost in memory), then the large image alone.
 * Each run copies into fresh repositories with a fresh table (no blob claims of an earlier run), so
 * every byte is streamed every time.
 *
 * Lambda gives CPU in proportion to memory (1,769 MB = one vCPU). With `--memory`, each size is run
 * with the child's CPU limited to memory / 1,769 of a CPU (a cgroup CPU quota: needs root and a
 * writable /sys/fs/cgroup; skipped otherwise), which measures throughput per MB of memory. The
 * registries and the HTTPS front run outside the limit, as the network would.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { COPIER_BATCH_SIZE } from '../../infra/image-migrator-stack.js';
import type { CopyTask } from '../../shared/pipeline/task.js';
import { startAwsEmulators } from '../support/aws-emulators.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { pushImage, randomBytes } from '../support/seed.js';
import { createTestPki } from '../support/test-pki.js';
import { startTlsFront, type TlsFront } from '../support/tls-front.js';
import type { CopierChildInput, CopierChildOutput } from './copier-child.js';

const MIB = 1024 * 1024;
/** Lambda allots one vCPU at 1,769 MB and CPU in proportion below and above. */
const MB_PER_VCPU = 1769;

const { values } = parseArgs({
  options: {
    'big-mib': { type: 'string', default: '512' },
    rounds: { type: 'string', default: '1' },
    memory: { type: 'string', default: '' },
    'no-tls': { type: 'boolean', default: false },
  },
});
const BIG_BYTES = Number(values['big-mib']) * MIB;
const ROUNDS = Number(values.rounds);
const MEMORY_SIZES = values.memory === '' ? [] : values.memory.split(',').map(Number);

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** A CPU quota for the child (cgroup v1 or v2), or undefined when this machine does not allow one. */
async function cpuQuota(vcpu: number, name: string): Promise<{ enter: string; remove: () => Promise<void> } | undefined> {
  const period = 100_000;
  const quota = Math.round(vcpu * period);
  try {
    if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
      const dir = `/sys/fs/cgroup/${name}`;
      await mkdir(dir);
      await writeFile(join(dir, 'cpu.max'), `${quota} ${period}`);
      return { enter: join(dir, 'cgroup.procs'), remove: () => rmdir(dir) };
    }
    const dir = `/sys/fs/cgroup/cpu/${name}`;
    await mkdir(dir);
    await writeFile(join(dir, 'cpu.cfs_period_us'), String(period));
    await writeFile(join(dir, 'cpu.cfs_quota_us'), String(quota));
    return { enter: join(dir, 'cgroup.procs'), remove: () => rmdir(dir) };
  } catch {
    return undefined;
  }
}

/** Runs the bundled child with `input`, inside `cgroupProcs` when given; returns what it printed and its wall time. */
function runChild(bundle: string, input: CopierChildInput, cgroupProcs?: string): Promise<CopierChildOutput & { wallMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const command = cgroupProcs === undefined ? process.execPath : '/bin/sh';
    const args = cgroupProcs === undefined ? [bundle] : ['-c', `echo $$ > ${cgroupProcs} && exec "${process.execPath}" "${bundle}"`];
    const child = spawn(command, args, {
      env: { ...process.env, BENCH_INPUT: JSON.stringify(input), AWS_EC2_METADATA_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) return reject(new Error(`copier child exited ${code}: ${err.slice(-2000)}`));
      resolve({ ...(JSON.parse(line) as CopierChildOutput), wallMs: Math.round(performance.now() - started) });
    });
  });
}

const root = await mkdtemp(join(tmpdir(), 'im-bench-copier-'));
const aws = await startAwsEmulators();
const registries: TestRegistry[] = [];
const fronts: TlsFront[] = [];
try {
  log(`bench:copier: load average ${loadavg()[0]?.toFixed(1)}; copier batch size in the stack: ${COPIER_BATCH_SIZE}`);
  const [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
  registries.push(src, dst);
  let srcHost = src.host;
  let dstHost = dst.host;
  const env: Record<string, string> = {};
  if (!values['no-tls']) {
    const pki = await createTestPki(root);
    const certificate = await pki.server('registry', ['127.0.0.1']);
    const [srcFront, dstFront] = await Promise.all([
      startTlsFront({ target: src.url, certificate }),
      startTlsFront({ target: dst.url, certificate }),
    ]);
    fronts.push(srcFront, dstFront);
    srcHost = srcFront.host;
    dstHost = dstFront.host;
    process.env.NODE_EXTRA_CA_CERTS = pki.caFile;
    env.NODE_EXTRA_CA_CERTS = pki.caFile;
  }

  // The workload, seeded once.
  const typical: { repository: string; bytes: number }[] = [];
  const small = randomBytes(2 * MIB, 1);
  for (let i = 0; i < 10; i++) {
    const layer = randomBytes((10 + 4 * i) * MIB, 100 + i);
    await pushImage(src, `bench/app${i}`, 'v1', { layers: [small, layer] });
    typical.push({ repository: `bench/app${i}`, bytes: layer.length + (i === 0 ? small.length : 0) });
  }
  await pushImage(src, 'bench/big', 'v1', { layers: [randomBytes(BIG_BYTES, 999)] });
  const typicalBytes = typical.reduce((n, t) => n + t.bytes, 0);
  log(
    `workload: 10 images of ${Math.round(typicalBytes / MIB)} MiB of distinct layers (10-46 MiB each, a 2 MiB one shared), and one ${BIG_BYTES / MIB} MiB layer${values['no-tls'] ? '' : ', over HTTPS'}`,
  );

  const bundle = join(root, 'copier-child.mjs');
  await build({
    entryPoints: [new URL('./copier-child.ts', import.meta.url).pathname],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile: bundle,
    // As the stack bundles: jsonc-parser's UMD build requires files esbuild cannot follow.
    mainFields: ['module', 'main'],
    logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });

  const { queueUrl } = await aws.createQueues('bench-copier', { maxReceiveCount: 4, visibilityTimeoutSeconds: 900 });
  const auth = JSON.stringify(values['no-tls'] ? { [srcHost]: { insecure: true }, [dstHost]: { insecure: true } } : {});

  let round = 0;
  /** Copies the workload into fresh repositories with the given batches and CPU limit; prints a line. */
  const measure = async (label: string, batchSize: number, memoryMb: number, vcpu?: number): Promise<void> => {
    round++;
    const runId = `bench-${round}`;
    // A table of its own: the blob claims of an earlier round would have the copier mount what it uploaded then.
    const table = await aws.createTable(`bench-copier-${round}`);
    const store = new DynamoResultStore(aws.dynamo, table);
    const task = (repository: string, i: number): CopyTask => ({
      runId,
      taskId: `${i}`,
      source: `${srcHost}/${repository}:v1`,
      destination: `${dstHost}/round${round}/${repository.split('/')[1]}:v1`,
    });
    const tasks = typical.map((t, i) => task(t.repository, i));
    const batches: CopyTask[][] = [];
    for (let i = 0; i < tasks.length; i += batchSize) batches.push(tasks.slice(i, i + batchSize));
    batches.push([task('bench/big', 10)]);
    await store.createRun(
      { runId, startedAt: new Date().toISOString(), trigger: 'bench', taskCount: 11, generateFailed: 0, generateFailures: [] },
      0,
    );
    const quota = vcpu === undefined ? undefined : await cpuQuota(vcpu, `image-migrator-bench-${process.pid}-${round}`);
    if (vcpu !== undefined && quota === undefined) {
      log(`${label}: skipped (no cgroup CPU quota on this machine: needs root and a writable /sys/fs/cgroup)`);
      return;
    }
    let out: CopierChildOutput & { wallMs: number };
    try {
      out = await runChild(
        bundle,
        { sqsEndpoint: aws.sqsEndpoint, dynamoEndpoint: aws.dynamoEndpoint, table, queueUrl, auth, batches, memoryMb },
        quota?.enter,
      );
    } finally {
      await quota?.remove();
    }
    const state = await store.getRunState(runId);
    const typicalMs = out.invocationsMs.slice(0, -1).reduce((a, b) => a + b, 0);
    const bigMs = out.invocationsMs[out.invocationsMs.length - 1] ?? 0;
    const rate = (bytes: number, ms: number): string => `${(bytes / MIB / (ms / 1000)).toFixed(0)} MiB/s`;
    const cpuPerGiB = out.cpuSeconds / ((typicalBytes + BIG_BYTES) / 1024 / MIB);
    log(
      `${label}: 10 typical ${(typicalMs / 1000).toFixed(1)} s (${rate(typicalBytes, typicalMs)}, slowest invocation ${Math.max(...out.invocationsMs.slice(0, -1))} ms), ` +
        `large ${(bigMs / 1000).toFixed(1)} s (${rate(BIG_BYTES, bigMs)}); peak RSS ${out.peakRssMb} MB (${out.loadedRssMb} MB loaded; after each invocation ${out.peakAfterMb.join(' ')}); ` +
        `${cpuPerGiB.toFixed(2)} CPU s per GiB; ${state?.copied ?? 0} copied, ${state?.failed ?? 0} failed, ${Math.round((state?.bytes ?? 0) / MIB)} MiB streamed`,
    );
  };

  for (let r = 0; r < ROUNDS; r++) {
    await measure('unlimited CPU, batch size 1 (the stack)', 1, MB_PER_VCPU);
    await measure('unlimited CPU, batch size 10', 10, MB_PER_VCPU);
    for (const memoryMb of MEMORY_SIZES) {
      const vcpu = memoryMb / MB_PER_VCPU;
      await measure(`${memoryMb} MB (${vcpu.toFixed(2)} vCPU), batch size 1`, 1, memoryMb, vcpu);
    }
  }
  log(`load average at the end ${loadavg()[0]?.toFixed(1)}`);
} finally {
  await Promise.all(fronts.map((f) => f.stop()));
  await Promise.all(registries.map((r) => r.stop()));
  await aws.stop();
  await rm(root, { recursive: true, force: true });
}
