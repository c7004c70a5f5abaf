/**
 * A whole migration in one process: plan the rules into tasks, handle them with `workers` at once,
 * retry transient failures with backoff, and keep every result. The CLI's migrate command is a thin
 * shell around this.
 */
import { randomUUID } from 'node:crypto';
import { copiesReferrers } from '../config/image-rule.js';
import type { MigrationRule } from '../config/images-file.js';
import { BlobTracker } from '../copy/blob-tracker.js';
import type { UploadSettings } from '../copy/chunked-upload.js';
import { mapLimit } from '../copy/limit.js';
import { DestinationTags } from '../copy/destination-tags.js';
import { EarlyHeads } from '../copy/early-heads.js';
import { ImageCopier, type ImageCopy } from '../copy/image-copier.js';
import { backoffMs, isRetryable, SYSTEM_CLOCK, type Clock, type RetryEvent, type RetryPolicy } from '../registry/retry.js';
import type { Registry } from '../registry/types.js';
import type { CopyState } from '../state/run-state.js';
import { attemptTask, failedResult, RetryTally, type AttemptOutcome } from './copy-task.js';
import { errorMessage } from './error-message.js';
import { settleByHints, taskToCopy } from './hint-check.js';
import { InProcessQueue } from './in-process-queue.js';
import { LookAheadStage } from './look-ahead-stage.js';
import { MemoryResultStore } from './memory-result-store.js';
import { copyKey, isImmutableTag, planTasks, type ImmutableTags, type Plan } from './planner.js';
import type { ResultStore, RunCounts, RunRecord } from './ports.js';
import { countResults } from './run-counts.js';
import type { CopyTask, TaskResult } from './task.js';

/** Tasks looked ahead (manifests in memory, a few KB each) waiting for a --workers slot, at most. */
const LOOK_AHEAD_WINDOW = 256;

/** Longest wait of the first --workers slots for the sizes of the first tasks (see runLocal). */
const FIRST_SLOTS_WAIT_MS = 1000;

/** What happens during a run, for progress displays and logs. */
export type RunEvent =
  | { readonly type: 'planned'; readonly plan: Plan }
  /**
   * A retry at any level; `task` is absent for retries while planning (tag lists). `at`: when it
   * happened (epoch ms), since events of the planning are passed on only once it is complete.
   */
  | { readonly type: 'retry'; readonly retry: RetryEvent; readonly task?: CopyTask | undefined; readonly at?: number }
  /** A destination repository whose tags could not be listed: its tags are checked one by one instead. */
  | { readonly type: 'unlisted'; readonly repository: string; readonly error: string }
  | { readonly type: 'done'; readonly result: TaskResult; readonly finished: number; readonly total: number };

/** Settings of a local run. */
export interface LocalRunOptions {
  readonly rules: readonly MigrationRule[];
  readonly registry: Registry;
  /** Images handled at once (--workers of Huawei's image-migrator). */
  readonly workers: number;
  /**
   * --retries (as in Huawei's image-migrator): the budget of every retry layer (see registry/retry.ts). The registry
   * client's own budget is set where it is built; this one sets the copier's blob transfers and the
   * task level, which retries only failures that no layer below has retried already.
   */
  readonly retries: number;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Blob-level delays and outage window (attempts come from `retries`). */
  readonly blobRetry?: Partial<RetryPolicy>;
  /** Which blobs are uploaded in resumable chunks, and the chunk size (--resumable-above, --chunk-size). */
  readonly uploads?: UploadSettings;
  /** Time and sleep of the task and blob levels (default: the real clock). */
  readonly clock?: Clock;
  readonly runId?: string;
  readonly trigger?: string;
  readonly store?: ResultStore;
  /**
   * The tally of retries that belong to no task (listings, tokens), by kind, filled as the run goes:
   * a caller that accounts for a run stopped part way passes its own and reads it then.
   */
  readonly untaskedRetries?: Record<string, number>;
  readonly copier?: ImageCopy;
  /** Called between planning and copying; Huawei's image-migrator prints its second line here. */
  readonly onPlanned?: (plan: Plan) => void;
  readonly onEvent?: (event: RunEvent) => void;
  /** Plan only: no task is handled. */
  readonly dryRun?: boolean;
  /** What earlier runs learnt, consulted and fed by the copies (see shared/state/run-state.ts). */
  readonly state?: CopyState;
  /** Source tags declared immutable besides those of rules with `immutable` (--immutable-tags). */
  readonly immutableTags?: ImmutableTags;
}

/** What a run produced. */
export interface LocalRunResult {
  readonly run: RunRecord;
  readonly plan: Plan;
  readonly results: TaskResult[];
  readonly counts: RunCounts;
  /** Retries that belong to no task (tag lists while planning, destination listings), by kind. */
  readonly untaskedRetries: Readonly<Record<string, number>>;
}

/**
 * Plans and runs a migration; never throws for a failed task (it is counted and reported).
 *
 * Copying starts while planning goes on: a rule's tasks are queued as soon as its tags are listed.
 * What a user sees keeps the order of a plan-then-copy run: results and retries are held back until
 * the plan is complete, so the second line of Huawei's image-migrator comes first and progress counts against the total.
 */
export async function runLocal(options: LocalRunOptions): Promise<LocalRunResult> {
  const runId = options.runId ?? randomUUID();
  const startedAt = new Date().toISOString();
  const store = options.store ?? new MemoryResultStore();
  const emit = options.onEvent ?? (() => undefined);
  const held: RunEvent[] = [];
  let planned = false;
  // The run's account closes when it returns. What started for rules that came to nothing (the
  // destination listing or early source HEADs of a rule whose source could not be listed) may still
  // be under way then; what it meets afterwards served no task and is neither counted nor told.
  let closed = false;
  const emitHeld = (event: RunEvent): void => {
    if (closed) return;
    const stamped = event.type === 'retry' && event.at === undefined ? { ...event, at: Date.now() } : event;
    if (planned) emit(stamped);
    else held.push(stamped);
  };
  // Retries while planning (and listing destinations) belong to no task; the copier reports each task's own.
  const untaskedRetries = options.untaskedRetries ?? {};
  const planning =
    options.registry.withRetryListener?.((retry) => {
      if (closed) return;
      untaskedRetries[retry.kind] = (untaskedRetries[retry.kind] ?? 0) + 1;
      emitHeld({ type: 'retry', retry });
    }) ?? options.registry;
  const destinationTags = new DestinationTags(planning, (repo, error) =>
    emitHeld({ type: 'unlisted', repository: `${repo.registry}/${repo.repository}`, error: errorMessage(error) }),
  );
  const clock = options.clock ?? SYSTEM_CLOCK;
  // With a run state, the source HEADs of the tags it knows go while the rules are listed (see early-heads.ts).
  // They go as many at once as the hint checks do (--workers x 4).
  const earlyHeads =
    options.state === undefined || options.dryRun === true ? undefined : new EarlyHeads(planning, options.state, options.workers * 4);
  const imageCopier =
    options.copier === undefined
      ? new ImageCopier(options.registry, {
          destinationTags,
          ...(earlyHeads === undefined ? {} : { sourceHeads: earlyHeads }),
          tracker: new BlobTracker(options.state),
          ...(options.state === undefined ? {} : { state: options.state }),
          clock,
          retry: { ...options.blobRetry, attempts: options.retries + 1 },
          ...(options.uploads === undefined ? {} : { uploads: options.uploads }),
        })
      : undefined;
  // One of the two is set: the copier given, or the one built above.
  const copier: ImageCopy = options.copier ?? (imageCopier as ImageCopier);
  // With a run state or immutable tags, most tasks of an unchanged run are settled by one source HEAD
  // or none: that check goes before a task takes one of the --workers slots, as many at once as a
  // copy's blobs may (--workers x 4, the client's cap per registry).
  const prechecks =
    imageCopier !== undefined &&
    (options.state !== undefined || options.immutableTags !== undefined || options.rules.some((r) => r.immutable === true));
  const copies = new Map<string, Promise<TaskResult>>();
  const settle = new Map<string, (result: TaskResult) => void>();
  // Each task's retries, counted from its look-ahead on; and look-aheads that failed, which stand for the copy's first attempt.
  const tallies = new Map<string, RetryTally>();
  const failedAhead = new Map<string, { error: unknown; durationMs: number }>();
  const tallyOf = (task: CopyTask): RetryTally => {
    let tally = tallies.get(task.taskId);
    if (tally === undefined) tallies.set(task.taskId, (tally = new RetryTally()));
    return tally;
  };
  // Largest copies first (see lookAhead): those up to date, or whose size is unknown, go at once.
  const gathering = !options.dryRun && imageCopier !== undefined;
  const queue = new InProcessQueue(
    options.workers,
    async (task) => {
      const copy = handleWithRetries(task, copier, options, clock, emitHeld, tallyOf(task), failedAhead.get(task.taskId));
      // Only now that this copy has started may the look-ahead hand over more (which may start other copies).
      ahead.started();
      const result = await copy;
      tallies.delete(task.taskId);
      failedAhead.delete(task.taskId);
      settle.get(copyKey(task))?.(result);
    },
    {
      size: (task) => (task.lookedAhead === undefined || task.lookedAhead.upToDate ? Infinity : task.lookedAhead.bytes),
      held: gathering,
    },
  );
  // The first slots wait until the scheduler knows the sizes of the first tasks: until planning, hint
  // checks and look-aheads are all done, or the look-ahead window is full, or FIRST_SLOTS_WAIT_MS have
  // passed (a slow listing or a retried look-ahead). After that a free slot never waits.
  let planComplete = false;
  let checking = 0;
  const openSlots = (): void => {
    clearTimeout(firstSlots);
    queue.release();
  };
  const firstSlots = setTimeout(openSlots, gathering ? FIRST_SLOTS_WAIT_MS : 0);
  firstSlots.unref();
  const mayOpenSlots = (): void => {
    if (ahead.full || (planComplete && checking === 0 && ahead.quiet)) openSlots();
  };
  const lookAhead = async (task: CopyTask): Promise<void> => {
    if (imageCopier === undefined) return void queue.enqueue([task]);
    const started = Date.now();
    const onRetry = tallyOf(task).listener((retry) => emitHeld({ type: 'retry', retry, task }));
    try {
      const lookedAhead = await imageCopier.lookAhead(task, { onRetry });
      void queue.enqueue([lookedAhead === undefined ? task : { ...task, lookedAhead }]);
    } catch (error) {
      failedAhead.set(task.taskId, { error, durationMs: Date.now() - started });
      void queue.enqueue([task]);
    }
  };
  // The scheduler sees up to LOOK_AHEAD_WINDOW tasks beyond those running; their look-aheads go as
  // many at once as a copy's blobs may (--workers x 4, the client's cap per registry).
  const ahead = new LookAheadStage(options.workers + LOOK_AHEAD_WINDOW, options.workers * 4, lookAhead, mayOpenSlots);
  const start = (tasks: readonly CopyTask[]): void => {
    if (options.dryRun) return;
    const fresh = tasks.filter((task) => !copies.has(copyKey(task)));
    for (const task of fresh) copies.set(copyKey(task), new Promise((resolve) => settle.set(copyKey(task), resolve)));
    if (!prechecks || imageCopier === undefined) {
      ahead.push(fresh);
      return;
    }
    checking += fresh.length;
    void mapLimit(fresh, options.workers * 4, async (task) => {
      const answer = await settleByHints(imageCopier, task);
      checking--;
      // Not settled: the copy decides, without asking the hints a second time.
      if (typeof answer === 'string') ahead.push([taskToCopy(task, answer)]);
      else settle.get(copyKey(task))?.(answer);
      mayOpenSlots();
    });
  };

  // An all-tags rule's destination is listed while its source is (see DestinationTags); a tag rule's
  // too when the listing can stand in for per-tag requests (run state, immutable tags).
  const listsHelp = (rule: MigrationRule): boolean =>
    rule.allTags || options.state !== undefined || rule.immutable === true || options.immutableTags !== undefined;
  const onExpanding = (rule: MigrationRule): void => {
    if (!listsHelp(rule) || options.dryRun || options.copier !== undefined) return;
    destinationTags.prefetch(rule.destination);
    // A copy of referrers makes its hint check itself, within the copy (see hint-check.ts).
    if (rule.allTags && !copiesReferrers(rule))
      earlyHeads?.start({
        source: rule.source,
        destination: rule.destination,
        platforms: rule.platforms,
        immutable: isImmutableTag(rule, options.immutableTags),
        tags: rule.tags,
      });
  };
  // One token per registry serves every repository of the run (where the registry allows it).
  if (!options.dryRun) {
    options.registry.announce?.(
      options.rules.flatMap((r) => [
        { ...r.source, push: false },
        { ...r.destination, push: true },
      ]),
    );
  }
  // Rules are listed as many at once as a copy's blobs may go (--workers x 4, the client's cap per
  // registry): a listing is one small request, and with only --workers at once a run of a few more
  // repositories than workers waited a round of listings before its last copies could start.
  const plan = await planTasks(options.rules, planning, runId, {
    concurrency: options.workers * 4,
    onExpanding,
    onExpanded: start,
    ...(options.immutableTags === undefined ? {} : { immutableTags: options.immutableTags }),
  });
  planComplete = true;
  mayOpenSlots();
  const run: RunRecord = {
    runId,
    startedAt,
    trigger: options.trigger ?? 'manual',
    taskCount: plan.tasks.length,
    generateFailed: plan.generateFailures.length,
    generateFailures: plan.generateFailures,
  };
  await store.putRun(run);
  emit({ type: 'planned', plan });
  options.onPlanned?.(plan);
  planned = true;
  for (const event of held.splice(0)) emit(event);

  if (!options.dryRun) {
    // Every planned task has been started through onExpanded; this only makes that certain.
    start(plan.tasks);
    let finished = 0;
    // A handler that throws is a bug: the run fails with it rather than waiting for a result that never comes.
    await Promise.race([
      queue.failure,
      Promise.all(
        plan.tasks.map(async (task) => {
          // Two rules naming one copy share it; the result carries the plan's task id.
          const result: TaskResult = { ...(await (copies.get(copyKey(task)) as Promise<TaskResult>)), taskId: task.taskId };
          await store.recordResult(runId, result);
          emit({ type: 'done', result, finished: ++finished, total: plan.tasks.length });
        }),
      ),
    ]);
  }
  const account = await runAccount(store, run, plan, untaskedRetries);
  closed = true;
  return account;
}

/**
 * The account of a run from what its store holds: the results recorded so far in the plan's order,
 * and their counts (every planned task counts in `tasks`, finished or not).
 */
export async function runAccount(
  store: ResultStore,
  run: RunRecord,
  plan: Plan,
  untaskedRetries: Readonly<Record<string, number>>,
): Promise<LocalRunResult> {
  const results = await store.listResults(run.runId);
  const order = new Map(plan.tasks.map((t, i) => [t.taskId, i]));
  results.sort((a, b) => (order.get(a.taskId) ?? 0) - (order.get(b.taskId) ?? 0));
  return { run, plan, results, counts: countResults(run, results), untaskedRetries };
}

/**
 * Copies a task, retrying at the task level. `failedAhead`: its look-ahead failed, which counts as the
 * first attempt (the copy would have met the same refusal). Only the first attempt uses what was
 * looked ahead; a retry starts afresh.
 */
async function handleWithRetries(
  task: CopyTask,
  copier: ImageCopy,
  options: LocalRunOptions,
  clock: Clock,
  emit: (e: RunEvent) => void,
  tally: RetryTally,
  failedAhead: { error: unknown; durationMs: number } | undefined,
): Promise<TaskResult> {
  let totalMs = 0;
  const onRetry = (retry: RetryEvent): void => emit({ type: 'retry', retry, task });
  const { lookedAhead: _used, ...fresh } = task;
  for (let attempt = 1; ; attempt++) {
    const outcome: AttemptOutcome =
      attempt === 1 && failedAhead !== undefined
        ? { ok: false, ...failedAhead }
        : await attemptTask(copier, attempt === 1 ? task : fresh, attempt, { tally, onRetry });
    if (outcome.ok) return outcome.result;
    totalMs += outcome.durationMs;
    if (attempt > options.retries || !isRetryable(outcome.error))
      return failedResult(task, outcome.error, attempt, totalMs, outcome.requests, tally);
    const delayMs = backoffMs(attempt, outcome.error, options.retryBaseMs ?? 1000, options.retryMaxMs ?? 30_000);
    emit({
      type: 'retry',
      task,
      retry: {
        level: 'task',
        kind: 'task',
        registry: registryOf(task.destination),
        what: `${task.source} -> ${task.destination}`,
        reason: errorMessage(outcome.error),
        attempt,
        delayMs,
        unavailable: false,
      },
    });
    await clock.sleep(delayMs);
    totalMs += delayMs;
  }
}

/** The registry part of a fully qualified reference. */
function registryOf(reference: string): string {
  return reference.split('/')[0] ?? reference;
}
