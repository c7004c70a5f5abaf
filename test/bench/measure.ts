/**
 * Running one tool as a child process and measuring it the same way for every tool: wall time around
 * the process, and peak resident memory and CPU time from GNU time's `%M %U %S` (the kernel's maxrss
 * and user and system time of the child).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { traceRun } from './trace.js';

const GNU_TIME = '/usr/bin/time';

/** How one measured run ended. */
export interface Measured {
  readonly code: number | null;
  readonly timedOut: boolean;
  readonly wallSeconds: number;
  /** Until the first byte of output: start-up (process, runtime, modules) and option parsing. */
  readonly firstOutputSeconds: number | undefined;
  /** Peak RSS in MB (MiB), or undefined when it could not be read. */
  readonly peakRssMb: number | undefined;
  /** User plus system CPU seconds, or undefined when they could not be read. */
  readonly cpuSeconds: number | undefined;
  /**
   * CPU seconds the host gave other guests while the run was going (all cores; the `steal` of
   * /proc/stat), or undefined without /proc/stat. On a shared virtual machine it tells a run slowed by
   * its neighbours from one slowed by its own work.
   */
  readonly stolenSeconds: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link measure}. */
export interface MeasureOptions {
  readonly cwd: string;
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** The median of some wall times (the upper middle for an even count), NaN for none. */
export function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
}

/** True when GNU time is available to report peak RSS. */
export function canMeasureRss(): boolean {
  return existsSync(GNU_TIME);
}

/** Ticks per second of /proc/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * The machine's CPU ticks since boot (all cores): busy (neither idle, iowait nor stolen), iowait (idle
 * while a disk write or read someone waits for is under way), stolen, all.
 */
export async function machineTicks(): Promise<{ busy: number; iowait: number; steal: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user's)
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const steal = fields[7] ?? 0;
  return { busy: total - idle - steal, iowait: fields[4] ?? 0, steal, total };
}

/** The machine's busy, iowait and stolen CPU seconds (all cores) since `before` (from {@link machineTicks}). */
export async function cpuSince(before: {
  busy: number;
  iowait: number;
  steal: number;
}): Promise<{ busySeconds: number; ioWaitSeconds: number; stolenSeconds: number }> {
  const now = await machineTicks();
  return {
    busySeconds: (now.busy - before.busy) / TICKS_PER_SECOND,
    ioWaitSeconds: (now.iowait - before.iowait) / TICKS_PER_SECOND,
    stolenSeconds: (now.steal - before.steal) / TICKS_PER_SECOND,
  };
}

/** User plus system CPU seconds a running process (all its threads) has used so far, or undefined. */
export async function processCpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    // The fields after the command name (which may hold spaces, inside parentheses): state is the
    // first, utime and stime the 12th and 13th.
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** A quiet machine: at most this share of its CPU busy over a 100 ms window. */
const QUIET_SHARE = 0.1;
const QUIET_WAIT_MS = 5000;

/**
 * Waits until what earlier runs left behind is done: the page cache they filled written out (`sync`;
 * a cold run leaves some 1.1 GB of registry files), and the machine quiet (registries collecting
 * their garbage after a cold run, the kernel's writeback), at most 5 s. No timed run should share the
 * cores with the aftermath of the one before. Each timed run starts after it.
 */
export async function settleMachine(): Promise<void> {
  await new Promise<void>((resolve) => {
    const child = spawn('sync', [], { stdio: 'ignore' });
    child.once('error', () => resolve());
    child.once('close', () => resolve());
  });
  if (!existsSync('/proc/stat')) return;
  const until = Date.now() + QUIET_WAIT_MS;
  let before = await machineTicks();
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const after = await machineTicks();
    const share = (after.busy - before.busy) / Math.max(1, after.total - before.total);
    before = after;
    if (share <= QUIET_SHARE) return;
  }
}

/**
 * Runs `command args` in its own process group, killed as a group when it outlives the timeout, and
 * returns its exit, wall time and peak RSS. GNU time's own few hundred KB are not in `%M`: it reports
 * the child's maxrss.
 */
export async function measure(command: string, args: readonly string[], options: MeasureOptions): Promise<Measured> {
  await settleMachine();
  const ticksBefore = existsSync('/proc/stat') ? await machineTicks() : undefined;
  const rssFile = join(options.cwd, `rss-${process.hrtime.bigint()}.txt`);
  const argv = canMeasureRss() ? [GNU_TIME, '-f', '%M %U %S', '-o', rssFile, command, ...args] : [command, ...args];
  const started = process.hrtime.bigint();
  traceRun('SPAWN', [command, ...args]);
  const child = spawn(argv[0] ?? command, argv.slice(1), {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let firstOutput: bigint | undefined;
  const seen = (): void => void (firstOutput ??= process.hrtime.bigint());
  // Only the tail is kept: a chatty tool must not grow this process.
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    seen();
    stdout = (stdout + d).slice(-20_000);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    seen();
    stderr = (stderr + d).slice(-20_000);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, options.timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  }).finally(() => clearTimeout(timer));
  traceRun('EXIT', [command, ...args]);
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const firstOutputSeconds = firstOutput === undefined ? undefined : Number(firstOutput - started) / 1e9;
  const stolenSeconds = ticksBefore === undefined ? undefined : (await cpuSince(ticksBefore)).stolenSeconds;
  return { code, timedOut, wallSeconds, firstOutputSeconds, stolenSeconds, ...(await readUsage(rssFile)), stdout, stderr };
}

async function readUsage(file: string): Promise<{ peakRssMb: number | undefined; cpuSeconds: number | undefined }> {
  try {
    // The file may also hold "Command exited with non-zero status N" before the numbers.
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    const [kb, user, system] = (lines[lines.length - 1] ?? '').split(' ').map(Number);
    return {
      peakRssMb: kb !== undefined && Number.isFinite(kb) ? kb / 1024 : undefined,
      cpuSeconds: user !== undefined && system !== undefined && Number.isFinite(user + system) ? user + system : undefined,
    };
  } catch {
    return { peakRssMb: undefined, cpuSeconds: undefined };
  }
}
