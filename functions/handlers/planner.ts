/**
 * The planner function: rules in, a run record and queue messages out.
 *
 * It parses the rules, resolves overlaps, records the run with its counts and cuts the rules into
 * plan slices (plan-slices.ts). A run of one slice (up to 1,000 rules) is sent from here: a copy
 * message per tag rule and an expand message per all-tags rule, whose tags a copier lists (see
 * expand-record.ts). A larger run sends only its slices, and copiers turn them into messages in
 * parallel (slice-record.ts): the planner's time grows with the parsing, not with the sending, so
 * 100,000 rules cost it about 120 slice messages, not 10,000 SendMessageBatch calls, and no registry
 * listing runs against its time limit.
 */
import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { parseImagesFile, type Defaults } from '../../shared/config/images-file.js';
import { ConfigError } from '../../shared/errors.js';
import { parseEvent, PlannerEventSchema, type PlannerEvent, type PlannerResult } from '../../shared/pipeline/function-events.js';
import { resolveOverlaps } from '../../shared/pipeline/rule-overlap.js';
import { ssmRulesReader, type RulesReader } from '../adapters/rules-parameter.js';
import type { SliceMessage } from '../adapters/queue-message.js';
import { EnqueueError } from '../adapters/sqs-task-queue.js';
import type { PipelineQueue } from '../ports.js';
import { createLogger, notifierFromEnv, queueFromEnv, storeFromEnv } from '../adapters/aws-deps.js';
import { lazy, optionalEnv } from '../adapters/env.js';
import { recordAbandoned } from '../runs/abandon-message.js';
import { finishRunIfComplete, type CompletionDeps } from '../runs/run-completion.js';
import { planSlices, tagTaskCount, type SliceLimits } from '../tasks/plan-slices.js';
import { abandonUnsent, sendSlice } from '../tasks/slice-record.js';

export type { PlannerEvent, PlannerResult } from '../../shared/pipeline/function-events.js';

/** What the planner uses. */
export interface PlannerDeps extends CompletionDeps {
  readonly queue: PipelineQueue;
  readonly readRules: RulesReader;
  /** DEFAULT_REGISTRY / DEFAULT_NAMESPACE of the stack; the event's values win. */
  readonly defaults?: Defaults;
  readonly newRunId?: () => string;
  /** How large a plan slice may be (plan-slices.ts's limits unless a test wants many small slices). */
  readonly sliceLimits?: SliceLimits;
}

const EVENT = 'planner event';
/** The largest images.json text a compressed event may expand to: bounds the planner's memory. */
const MAX_RULES_TEXT = 256 * 1024 * 1024;

async function rulesText(deps: PlannerDeps, event: PlannerEvent): Promise<{ text: string; file: string }> {
  if (typeof event.images === 'string') return { text: event.images, file: 'images' };
  if (event.images !== undefined) return { text: JSON.stringify(event.images), file: 'images' };
  if (event.imagesGzip !== undefined) return { text: gunzipRules(event.imagesGzip), file: 'images' };
  return { text: await deps.readRules(event.rulesParameter ?? ''), file: `SSM parameter ${event.rulesParameter}` };
}

/** The text of `imagesGzip` (base64 of gzip, as `cloud run` sends a large images.json). */
function gunzipRules(base64: string): string {
  try {
    return gunzipSync(Buffer.from(base64, 'base64'), { maxOutputLength: MAX_RULES_TEXT }).toString('utf8');
  } catch (error) {
    throw new ConfigError(EVENT, 'imagesGzip', `is not gzip data of at most 256 MiB in base64: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** The Lambda handler over `deps`. Invalid rules throw ConfigError and nothing is recorded or sent. */
export function createPlannerHandler(deps: PlannerDeps): (event: PlannerEvent, context?: Context) => Promise<PlannerResult> {
  return async (input, context) => {
    const started = Date.now();
    const event = parseEvent(PlannerEventSchema, input, EVENT);
    const { text, file } = await rulesText(deps, event);
    const rules = parseImagesFile(text, file, {
      registry: event.registry ?? deps.defaults?.registry,
      namespace: event.namespace ?? deps.defaults?.namespace,
    });
    const runId = (deps.newRunId ?? randomUUID)();
    const trigger = event.trigger ?? (event.rulesParameter === undefined ? 'manual' : `schedule:${event.rulesParameter.split('/').pop()}`);
    const { rules: unique, coveredTags } = resolveOverlaps(rules);
    // "state": false (the CLI's --no-state) goes with every slice, and from there with every message of the run.
    const noState = event.state === false;
    const slices = planSlices(runId, unique, coveredTags, deps.sliceLimits).map((slice) => (noState ? { ...slice, noState } : slice));
    const tasks = tagTaskCount(unique);
    const expanding = unique.length - tasks;

    // The run item exists, with every tag task counted and every slice and all-tags rule pending,
    // before any message can be consumed: the run cannot finish until each of them is done.
    await deps.store.createRun(
      { runId, startedAt: new Date().toISOString(), trigger, taskCount: tasks, generateFailed: 0, generateFailures: [] },
      slices.length + expanding,
    );
    const [only] = slices;
    const queued = slices.length > 1 ? slices.length : 0;
    if (only !== undefined && slices.length === 1) await sendFromHere(deps, only);
    else await queueSlices(deps, runId, slices);
    deps.logger.info('run planned', { runId, trigger, rules: rules.length, tasks, expanding, slices: queued });
    deps.store.meter.invocation(runId, Date.now() - started, memoryMb(context));
    await finishRunIfComplete(deps, runId);
    await deps.store.flushUsage().catch((error: unknown) => deps.logger.warn('run usage not recorded', { error: error as Error }));
    return { runId, tasks, generateFailed: 0, expanding, slices: queued };
  };
}

/**
 * A run of one slice: its messages go out from here. Any that never reached the queue is recorded as
 * failed (the run item already counts it), so the run still finishes, and the planner fails.
 */
async function sendFromHere(deps: PlannerDeps, slice: SliceMessage): Promise<void> {
  try {
    await sendSlice(deps, slice);
  } catch (error) {
    if (!(error instanceof EnqueueError)) throw error;
    await abandonUnsent(deps, slice, error, 0);
    await finishRunIfComplete(deps, slice.runId);
    throw error;
  }
}

/** A larger run: only its slices go out from here; a slice that never reached the queue is recorded as failed. */
async function queueSlices(deps: PlannerDeps, runId: string, slices: readonly SliceMessage[]): Promise<void> {
  try {
    await deps.queue.enqueueSlices(slices);
    deps.store.meter.sqs(runId, slices.length);
  } catch (error) {
    if (!(error instanceof EnqueueError)) throw error;
    const why = { error: error.message, attempts: 0 };
    for (const slice of error.unsent) await recordAbandoned(deps.store, slice, why);
    deps.logger.error('plan slices could not be enqueued and were recorded as failed', {
      runId,
      count: error.unsent.length,
      error: error.message,
    });
    await finishRunIfComplete(deps, runId);
    throw error;
  }
}

/** The planner's dependencies from the stack's environment variables. */
export function plannerDepsFromEnv(): PlannerDeps {
  const registry = optionalEnv('DEFAULT_REGISTRY');
  const namespace = optionalEnv('DEFAULT_NAMESPACE');
  const logger = createLogger();
  return {
    store: storeFromEnv(logger),
    notifier: notifierFromEnv(),
    logger,
    queue: queueFromEnv().queue,
    readRules: ssmRulesReader(new SSMClient({}), optionalEnv('RULES_PARAMETER_PREFIX') ?? ''),
    defaults: { ...(registry === undefined ? {} : { registry }), ...(namespace === undefined ? {} : { namespace }) },
  };
}

const built = lazy(() => createPlannerHandler(plannerDepsFromEnv()));

/** The Lambda entry point. */
export const handler = (event: PlannerEvent, context: Context): Promise<PlannerResult> => built()(event, context);

function memoryMb(context: Context | undefined): number {
  return Number(context?.memoryLimitInMB ?? 0);
}
