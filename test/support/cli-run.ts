/**
 * Runs the image-migrator command as a user would, in a child process, and captures what it prints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root folder. */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(PROJECT_ROOT, 'cli', 'main.ts');
// Resolved here, not in the child's working folder, which has no node_modules.
const TSX = import.meta.resolve('tsx');
const REPORT_USAGE = new URL('./report-usage.ts', import.meta.url).href;

/** What a command run printed and how it ended. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** How a command is run: its working folder, extra environment variables, a time limit. */
export interface RunOptions {
  readonly cwd: string;
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
}

/** Runs `image-migrator ARGS` from the sources in `cwd` with extra environment variables. */
export function runCli(args: readonly string[], options: RunOptions): Promise<CliResult> {
  return runProgram(process.execPath, ['--import', TSX, MAIN, ...args], options);
}

/** What a measured command run printed, and its peak RSS and CPU time. */
export interface MeasuredCliResult extends CliResult {
  readonly peakRssMb: number;
  readonly cpuSeconds: number;
}

/** Runs `image-migrator ARGS` and reads its peak RSS and CPU time, which report-usage.ts prints at exit. */
export async function runCliMeasured(args: readonly string[], options: RunOptions): Promise<MeasuredCliResult> {
  const marker = '\nimage-migrator-measured:';
  const run = await runProgram(process.execPath, ['--import', TSX, '--import', REPORT_USAGE, MAIN, ...args], options);
  const at = run.stderr.lastIndexOf(marker);
  const [mb, user, system] = run.stderr
    .slice(at + marker.length)
    .trim()
    .split(/\s+/)
    .map(Number);
  if (at < 0 || mb === undefined || user === undefined || system === undefined)
    throw new Error(`no usage report: ${run.stderr.slice(-500)}`);
  return { ...run, stderr: run.stderr.slice(0, at), peakRssMb: mb, cpuSeconds: user + system };
}

/** Runs any program (an installed image-migrator, the single executable) the same way. */
export function runProgram(file: string, args: readonly string[], options: RunOptions): Promise<CliResult> {
  return startProgram(file, args, options).result;
}

/** A command running in the background: its process, what it printed so far, and how it ends. */
export interface StartedCli {
  readonly child: ChildProcess;
  /** Resolves once stdout or stderr matches `pattern` (rejects when the command ends first). */
  printed(pattern: RegExp): Promise<void>;
  readonly result: Promise<CliResult>;
}

/** Starts `image-migrator ARGS` from the sources, like runCli, without waiting for it. */
export function startCli(args: readonly string[], options: RunOptions): StartedCli {
  return startProgram(process.execPath, ['--import', TSX, MAIN, ...args], options);
}

function startProgram(file: string, args: readonly string[], options: RunOptions): StartedCli {
  const child = spawn(file, args, {
    cwd: options.cwd,
    // The run state's default file lives in the working folder, not the user's cache.
    env: { ...process.env, XDG_CACHE_HOME: join(options.cwd, '.cache'), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  const seen = (): void => watchers.forEach((check) => check());
  child.stdout?.on('data', (d: Buffer) => ((stdout += d.toString()), seen()));
  child.stderr?.on('data', (d: Buffer) => ((stderr += d.toString()), seen()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  const printed = (pattern: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pattern.test(stdout) && !pattern.test(stderr)) return;
        watchers.delete(check);
        resolve();
      };
      watchers.add(check);
      check();
      void result.then((r) => {
        if (!watchers.delete(check)) return;
        reject(new Error(`the command ended (exit ${String(r.code)}) before printing ${String(pattern)}:\n${r.stdout}${r.stderr}`));
      });
    });
  return { child, printed, result };
}

/** A fresh working folder holding the given files (objects are written as JSON). */
export async function workdir(files: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'image-migrator-cli-'));
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, name), typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
  }
  return dir;
}
