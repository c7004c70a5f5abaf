/**
 * The default command: migrate the images of images.json with the credentials of auth.json, with the
 * flags and output lines of Huawei's image-migrator.
 */
import { randomUUID } from 'node:crypto';
import { homedir } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { loadImagesFile } from '../shared/config/images-file.js';
import { DEFAULT_UPLOAD_SETTINGS, type UploadSettings } from '../shared/copy/chunked-upload.js';
import { compilePattern, matchAny } from '../shared/config/tag-filter.js';
import { ConfigError } from '../shared/errors.js';
import { runAccount, runLocal } from '../shared/pipeline/local-run.js';
import { MemoryResultStore } from '../shared/pipeline/memory-result-store.js';
import type { Plan, RuleSelection } from '../shared/pipeline/planner.js';
import { exitCodeOf, summaryLine } from '../shared/pipeline/run-counts.js';
import { RegistryClient } from '../shared/registry/client.js';
import { defaultStatePath, loadRunState, RunState } from '../shared/state/run-state.js';
import type { CredentialChain } from '../shared/credential-sources/credential-chain.js';
import { ExitCode } from './exit-code.js';
import { loginChain } from './login-files.js';
import { Progress } from './progress.js';
import { buildReport, reportPathProblem, writeReport } from './report.js';
import { onInterrupt } from './interrupt.js';
import { RunLog } from './run-log.js';

/** Options of the migrate command as commander parses them. */
export interface MigrateOptions {
  auth: string;
  images: string;
  log: string;
  namespace?: string;
  registry?: string;
  retries: number;
  workers: number;
  stallTimeout: number;
  resumableAbove: number;
  /** Fixed chunks of this many MiB; undefined for the growing default. */
  chunkSize?: number;
  report?: string;
  dryRun?: boolean;
  /** A path, false for --no-state, undefined for the default file. */
  state?: string | false;
  /** --refresh-state: what the state says is not used, what the run finds is written. */
  refreshState?: boolean;
  immutableTags?: string[];
  includeForeignLayers?: boolean;
}

const DEFAULT_AUTH = './auth.json';
const MiB = 1024 * 1024;

/** Parses a whole number within bounds, for --workers and --retries. */
export function wholeNumber(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} takes a whole number from ${min} to ${max}, not ${JSON.stringify(value)}.`);
    }
    return n;
  };
}

/** Collects a repeatable --immutable-tags pattern (a glob or /regex/, as in a rule's tag filter), checking that it compiles. */
function collectPattern(value: string, previous: string[] | undefined): string[] {
  try {
    compilePattern(value, '--immutable-tags');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  return [...(previous ?? []), value];
}

/** A file path that must not be empty. */
function filePath(name: string): (value: string) => string {
  return (value) => {
    if (value.trim() === '') throw new InvalidArgumentError(`${name} takes a file path, not an empty string.`);
    return value;
  };
}

/** Declares the flags of Huawei's image-migrator (and ours) on the root program; its action runs a migration. */
export function configureMigrate(program: Command): void {
  program
    .option(
      '--auth <file>',
      "auth file path: auth.json (credentials per registry or registry/namespace) or Docker's config.json; pair it with --images",
      DEFAULT_AUTH,
    )
    .option('--images <file>', 'images file path: the migration rules, source to destination; pair it with --auth', './images.json')
    .option(
      '--log <file>',
      'log file path: a line per task outcome, retry (what, registry, why, delay), failed rule and destination whose tags could not be listed',
      './image-migrator.log',
    )
    .option('--namespace <namespace>', 'default target namespace when a rule has an empty destination (or DEFAULT_NAMESPACE)')
    .option('--registry <registry>', 'default target registry when a rule has an empty destination (or DEFAULT_REGISTRY)')
    .option(
      '-r, --retries <n>',
      'retries of a failed request, blob transfer or task (one budget; 0: no retry at all); a registry answering 429/503 or refusing connections is waited for without using it up',
      wholeNumber('--retries', 0, 100),
      3,
    )
    .option(
      '-w, --workers <n>',
      'images migrated at once; requests to one registry adapt up to this many x 4 in flight (fewer after a 429/503)',
      wholeNumber('--workers', 1, 256),
      7,
    )
    .option(
      '--stall-timeout <seconds>',
      'abandon (and retry) a request that receives or sends nothing for this long; a registry that is unavailable (429, 502-504, connection refused; Retry-After is honoured) is waited for, and given up once it has been so for twice this long without a success: its requests then fail at once, but for one every half of that time that looks whether it is back',
      wholeNumber('--stall-timeout', 1, 3600),
      30,
    )
    .option(
      '--resumable-above <MiB>',
      'upload blobs of at least this many MiB in chunks that resume where a broken upload stopped (smaller ones go in one faster PUT)',
      wholeNumber('--resumable-above', 0, 1_048_576),
      DEFAULT_UPLOAD_SETTINGS.resumableAbove / MiB,
    )
    .option(
      '--chunk-size <MiB>',
      `MiB per chunk of a resumable upload, all of one size: at most this much is sent again when an upload breaks (default: ${DEFAULT_UPLOAD_SETTINGS.chunkSize / MiB} MiB, doubling after each acknowledged chunk up to ${(DEFAULT_UPLOAD_SETTINGS.maxChunkSize ?? 0) / MiB} MiB for fewer pauses, and ${DEFAULT_UPLOAD_SETTINGS.chunkSize / MiB} again after a break)`,
      wholeNumber('--chunk-size', 1, 4096),
    )
    .option('--report <file>', 'write a JSON report of every task (outcome, digest, bytes, attempts, error)')
    .option('--dry-run', 'print the tasks the rules expand to, and copy nothing')
    .option(
      '--state <file>',
      'run state file: what earlier runs saw and pushed, to skip unchanged images with fewer requests (default $XDG_CACHE_HOME/image-migrator/state.json)',
      filePath('--state'),
    )
    .option('--no-state', 'neither read nor write a run state file')
    .option(
      '--refresh-state',
      'compare every image in full, as without a state, and record what is found in the state file (after destinations were changed by other means)',
    )
    .option(
      '--immutable-tags <pattern>',
      'source tags that never change (repeatable; a glob such as "v*.*.*" or a /regex/, as in tag filters): one already at the destination is up to date without a request',
      collectPattern,
    )
    .option(
      '--include-foreign-layers',
      'copy foreign (non-distributable) layers too, from the source or their urls, for every rule that does not say "foreignLayers": false (default: left out, as docker push does, and listed in the report)',
    )
    .action(async (options: MigrateOptions) => {
      if (stateFlags.has('state') && stateFlags.has('no-state')) {
        process.stderr.write('image-migrator: --state and --no-state contradict each other: give one of them.\n');
        process.exitCode = ExitCode.BadInput;
        return;
      }
      if (options.refreshState === true && stateFlags.has('no-state')) {
        process.stderr.write('image-migrator: --refresh-state writes the state that --no-state turns off: give one of them.\n');
        process.exitCode = ExitCode.BadInput;
        return;
      }
      process.exitCode = await migrate(options, process.env);
    });
  // --state FILE and --no-state set one option: the later would silently win.
  const stateFlags = new Set<string>();
  program.on('option:state', () => stateFlags.add('state'));
  program.on('option:no-state', () => stateFlags.add('no-state'));
}

/** Which blobs go in chunks, and their sizes: fixed when --chunk-size is given, else growing (DEFAULT_UPLOAD_SETTINGS). */
function uploadSettings(options: Pick<MigrateOptions, 'resumableAbove' | 'chunkSize'>): UploadSettings {
  const resumableAbove = options.resumableAbove * MiB;
  if (options.chunkSize === undefined) return { ...DEFAULT_UPLOAD_SETTINGS, resumableAbove };
  return { resumableAbove, chunkSize: options.chunkSize * MiB, maxChunkSize: options.chunkSize * MiB };
}

/**
 * Runs the migration; returns the exit code. Prints the lines of Huawei's image-migrator on stdout, progress on
 * stderr. The command of a process: the connections it opened close with the process.
 */
export async function migrate(options: MigrateOptions, env: NodeJS.ProcessEnv): Promise<ExitCode> {
  const out = process.stdout;
  const err = process.stderr;
  let log: RunLog | undefined;
  let auth: CredentialChain;
  let rules;
  try {
    const registry = options.registry ?? env.DEFAULT_REGISTRY;
    const namespace = options.namespace ?? env.DEFAULT_NAMESPACE;
    auth = await loginChain({
      auth: options.auth === DEFAULT_AUTH ? undefined : options.auth,
      env,
      onServed: (registry, via) => log?.line(`credentials ${registry}: ${via}`),
      onCreated: (registry, repository) => log?.line(`created repository ${registry}/${repository}`),
    });
    rules = await loadImagesFile(options.images, {
      ...(registry ? { registry } : {}),
      ...(namespace !== undefined ? { namespace } : {}),
    });
    // The flag is every rule's default; a rule's own "foreignLayers" wins.
    if (options.includeForeignLayers === true)
      rules = rules.map((r) => (r.foreignLayers === undefined ? { ...r, foreignLayers: true } : r));
  } catch (error) {
    if (error instanceof ConfigError) {
      err.write(`image-migrator: ${error.message}\n`);
      return ExitCode.BadInput;
    }
    throw error;
  }
  // A report that cannot be written is known before anything is copied.
  const reportProblem = options.report === undefined ? undefined : await reportPathProblem(options.report);
  if (reportProblem !== undefined) {
    err.write(`image-migrator: --report ${options.report ?? ''}: ${reportProblem}\n`);
    return ExitCode.BadInput;
  }

  const statePath = options.state === false || options.dryRun ? undefined : (options.state ?? defaultStatePath(env, homedir()));
  const warn = (w: string): boolean => err.write(`image-migrator: warning: ${w}\n`);
  // Refreshed, the run starts from nothing and its findings are written over what the file holds.
  const state: RunState | undefined =
    statePath === undefined ? undefined : options.refreshState === true ? RunState.empty() : await loadRunState(statePath, warn);
  const requests: Record<string, number> = {};
  const unanswered: Record<string, number> = {};
  const stallTimeoutMs = options.stallTimeout * 1000;
  const outageMs = 2 * stallTimeoutMs;
  const client = new RegistryClient({
    credentials: auth,
    // --workers images at once, each with up to 4 blobs or child manifests: the cap below which the
    // client adapts to each registry.
    maxConcurrency: options.workers * 4,
    onRequest: (kind, status) => {
      const tally = status === 0 ? unanswered : requests;
      tally[kind] = (tally[kind] ?? 0) + 1;
    },
    retry: { attempts: options.retries + 1, outageMs },
    stallTimeoutMs,
    // How each registry answered the last run: its first request goes the same way at once.
    ...(state === undefined ? {} : { endpoints: state }),
  });
  const runLog = new RunLog(options.log);
  log = runLog;
  const progress = new Progress(err);
  const immutable = options.immutableTags ?? [];
  // What the run has done, for a stop by Ctrl-C or SIGTERM (see interrupt.ts): its plan, the results
  // recorded so far, and the retries of no task, which runLocal tallies here (those of each task are in
  // its result).
  const runId = randomUUID();
  const store = new MemoryResultStore();
  let plan: Plan | undefined;
  const untaskedRetries: Record<string, number> = {};
  const stopHandling = onInterrupt(async (signal) => {
    progress.finish();
    const done = plan === undefined ? 'while planning' : `after ${progress.finished} of ${plan.tasks.length} tasks (${progress.tally()})`;
    const summary = `interrupted by ${signal} ${done}`;
    runLog.line(summary);
    const kept = state === undefined ? '' : '; the state keeps what was copied';
    const report = options.report === undefined || plan !== undefined ? '' : `; no report was written to ${options.report}`;
    err.write(`image-migrator: ${summary}${kept}${report}; run again to copy the rest\n`);
    if (state !== undefined && statePath !== undefined && state.changed)
      await state.save(statePath).catch((error: unknown) => warn(`cannot write the state file ${statePath}: ${(error as Error).message}`));
    const run = await store.getRun(runId);
    if (options.report !== undefined && plan !== undefined && run !== undefined) {
      const account = await runAccount(store, run, plan, untaskedRetries);
      await writeReport(options.report, {
        ...buildReport(account, requests, unanswered),
        summary,
        interrupted: { signal, notDone: plan.tasks.length - account.results.length },
      }).catch((error: unknown) => err.write(`image-migrator: cannot write the report ${options.report}: ${(error as Error).message}\n`));
    }
    await runLog.close();
  });
  try {
    out.write('Start to generate images tasks, please wait ...\n');
    const result = await runLocal({
      rules,
      runId,
      store,
      untaskedRetries,
      registry: client,
      workers: options.workers,
      retries: options.retries,
      blobRetry: { outageMs },
      uploads: uploadSettings(options),
      dryRun: options.dryRun ?? false,
      ...(state === undefined ? {} : { state }),
      ...(immutable.length === 0 ? {} : { immutableTags: matchAny(immutable, '--immutable-tags') }),
      onPlanned: (plan) => {
        for (const f of plan.generateFailures) err.write(`generate failed: ${f.source}: ${f.error}\n`);
        if (options.dryRun) {
          for (const line of selectionLines(plan.selections ?? [])) out.write(`${line}\n`);
          for (const t of plan.tasks)
            out.write(`${t.source} -> ${t.destination}${t.platforms === undefined ? '' : ` (platforms ${t.platforms.join(', ')})`}\n`);
        } else out.write('Start to handle images tasks, please wait ...\n');
      },
      onEvent: (event) => {
        if (event.type === 'planned') plan = event.plan;
        runLog.event(event);
        progress.event(event);
      },
    });
    progress.finish();
    if (state !== undefined && statePath !== undefined && state.changed) {
      // The state only saves requests: a run whose state cannot be written has still done its copies.
      await state.save(statePath).catch((error: unknown) => warn(`cannot write the state file ${statePath}: ${(error as Error).message}`));
    }
    if (options.report !== undefined) {
      try {
        await writeReport(options.report, buildReport(result, requests, unanswered));
      } catch (error) {
        // Checked before the run, so something changed meanwhile (a full disk): the run's account is lost.
        err.write(`image-migrator: cannot write the report ${options.report}: ${(error as Error).message}\n`);
        return ExitCode.PartialFailure;
      }
    }
    if (options.dryRun) {
      out.write(
        `Images(${result.counts.tasks}) planned (dry run, nothing copied), ${result.counts.generateFailed} tasks generate failed\n`,
      );
      return result.counts.generateFailed > 0 ? ExitCode.PartialFailure : ExitCode.Success;
    }
    const line = summaryLine(result.counts);
    runLog.line(line);
    out.write(`${line}\n`);
    // Advice only where something failed: a registry given up and back before the run ended cost nothing.
    const givenUp = result.counts.failed + result.counts.generateFailed > 0 ? client.givenUp() : [];
    for (const registry of givenUp)
      err.write(
        `image-migrator: registry ${registry} was given up after ${(2 * stallTimeoutMs) / 1000} s unavailable; run again to copy what failed, or give --stall-timeout more to wait longer\n`,
      );
    return exitCodeOf(result.counts);
  } finally {
    stopHandling();
    await runLog.close();
    // The client's connections are not closed one by one: the process ends with this command and the
    // system closes them (undici holds idle sockets unreferenced, so they do not keep it alive). Closing
    // some forty keep-alive sockets cost ~12 ms at the end of every run.
  }
}

/** What `--dry-run` prints about each filtered rule: the tags it chose and why the others were left. */
export function selectionLines(selections: readonly RuleSelection[]): string[] {
  // Registries list tags in no promised order; the lines are sorted so that two runs read alike.
  const byTag = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return selections.flatMap((s) => [
    `rule ${s.rule} ${JSON.stringify(s.key)}: ${s.selected.length} of ${s.listed} tags selected${s.selected.length === 0 ? '' : `: ${[...s.selected].sort(byTag).join(', ')}`}`,
    ...[...s.rejected].sort((a, b) => byTag(a.tag, b.tag)).map((r) => `  not selected: ${r.tag} (${r.reason})`),
  ]);
}
