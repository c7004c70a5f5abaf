/**
 * The planner function: rules in, a run record and queue messages out.
 *
 * Rules with a tag or digest become copy tasks here. Rules that copy every tag are not listed here:
 * each becomes one expand message on the same queue and a copier lists it (see expand-record.ts),
 * so that 1,000 such rules cost the planner 100 SendMessageBatch calls, not 1,000 registry
 * listings against the Lambda time limit.
 */
import { randomUUID } from 'node:crypto';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { parseImagesFile, type Defaults } from '../../shared/config/images-file.js';
import { parseEvent, PlannerEventSchema, type PlannerEvent, type PlannerResult } from '../../shared/pipeline/function-events.js';
import { failedResult } from '../../shared/pipeline/copy-task.js';
import { planTasks } from '../../shared/pipeline/planner.js';
import { resolveOverlaps } from '../../shared/pipeline/rule-overlap.js';
import type { Registry } from '../../shared/registry/types.js';
import { ssmRulesReader, type RulesReader } from '../adapters/rules-parameter.js';
import { MessageType, taskOf } from '../adapters/queue-message.js';
import { EnqueueError } from '../adapters/sqs-task-queue.js';
import type { PipelineQueue } from '../ports.js';
import { createLogger, notifierFromEnv, queueFromEnv, storeFromEnv } from '../adapters/aws-deps.js';
import { lazy, optionalEnv } from '../adapters/env.js';
import { finishRunIfComplete, type CompletionDeps } from '../runs/run-completion.js';

export type { PlannerEvent, PlannerResult } from '../../shared/pipeline/function-events.js';

/** What the planner uses. */
export interface PlannerDeps extends CompletionDeps {
  readonly queue: PipelineQueue;
  readonly readRules: RulesReader;
  /** DEFAULT_REGISTRY / DEFAULT_NAMESPACE of the stack; the event's values win. */
  readonly defaults?: Defaults;
  readonly newRunId?: () => string;
}

const EVENT = 'planner event';

/** A registry for rules that never need one: tagged rules expand without a request. */
const NO_LISTING: Registry = new Proxy({} as Registry, {
  get: () => () => Promise.reject(new Error('the planner does not contact registries')),
});

async function rulesText(deps: PlannerDeps, event: PlannerEvent): Promise<{ text: string; file: string }> {
  if (typeof event.images === 'string') return { text: event.images, file: 'images' };
  if (event.images !== undefined) return { text: JSON.stringify(event.images), file: 'images' };
  return { text: await deps.readRules(event.rulesParameter ?? ''), file: `SSM parameter ${event.rulesParameter}` };
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
    const fanOut = unique.filter((r) => r.allTags);
    const { tasks } = await planTasks(
      unique.filter((r) => !r.allTags),
      NO_LISTING,
      runId,
    );

    // The run item exists, with its final counts for this planner, before any message can be
    // consumed: copiers only ever increment it.
    await deps.store.createRun(
      { runId, startedAt: new Date().toISOString(), trigger, taskCount: tasks.length, generateFailed: 0, generateFailures: [] },
      fanOut.length,
    );
    // "state": false (the CLI's --no-state) goes with every message of the run.
    const noState = event.state === false;
    const sent = await Promise.allSettled([
      deps.queue.enqueue(noState ? tasks.map((task) => ({ ...task, noState })) : tasks),
      deps.queue.enqueueExpansions(runId, fanOut, coveredTags, { noState }),
    ]);
    const errors = sent.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (errors.length > 0) {
      const unsent = errors.flatMap((e) => (e instanceof EnqueueError ? e.unsent : []));
      const error = new EnqueueError(unsent, errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; '));
      await recordUnsent(deps, runId, error);
      throw error;
    }
    deps.logger.info('run planned', { runId, trigger, rules: rules.length, tasks: tasks.length, expanding: fanOut.length });
    deps.store.meter.sqs(runId, Math.ceil(tasks.length / 10) + Math.ceil(fanOut.length / 10));
    deps.store.meter.invocation(runId, Date.now() - started, memoryMb(context));
    await finishRunIfComplete(deps, runId);
    await deps.store.flushUsage().catch((error: unknown) => deps.logger.warn('run usage not recorded', { error: error as Error }));
    return { runId, tasks: tasks.length, generateFailed: 0, expanding: fanOut.length };
  };
}

/**
 * The run item already counts every message; one that never reached the queue would leave the run
 * unfinished for ever. Each is recorded as failed instead, so the counts still add up.
 */
async function recordUnsent(deps: PlannerDeps, runId: string, error: EnqueueError): Promise<void> {
  for (const message of error.unsent) {
    if (message.type === MessageType.Expand) {
      await deps.store.failExpansion(runId, message.rule.index, {
        source: message.rule.key,
        destination: message.rule.value,
        error: error.message,
      });
    } else {
      await deps.store.recordResult(runId, failedResult(taskOf(message), error, 0, 0));
    }
  }
  deps.logger.error('messages could not be enqueued and were recorded as failed', {
    runId,
    count: error.unsent.length,
    error: error.message,
  });
  await finishRunIfComplete(deps, runId);
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
