/**
 * The summary function: a run's counts, its failed tasks with their errors, and the seed's line.
 * Counts come from the run item's atomic counters; only failed tasks are read item by item.
 */
import { UnknownRunError } from '../../shared/errors.js';
import { parseEvent, SummaryEventSchema, type SummaryEvent } from '../../shared/pipeline/function-events.js';
import type { DynamoResultStore } from '../adapters/dynamo-result-store.js';
import { storeFromEnv } from '../adapters/aws-deps.js';
import { lazy } from '../adapters/env.js';
import { runSummary, type RunSummary } from '../runs/run-summary.js';

export type { SummaryEvent } from '../../shared/pipeline/function-events.js';
export { UnknownRunError } from '../../shared/errors.js';

/** The Lambda handler over a store. */
export function createSummaryHandler(deps: { readonly store: DynamoResultStore }): (event: SummaryEvent) => Promise<RunSummary> {
  return async (event) => {
    const { runId } = parseEvent(SummaryEventSchema, event, 'summary event');
    const state = await deps.store.getRunState(runId);
    if (state === undefined) throw new UnknownRunError(runId);
    const [failures, generateFailures] = await Promise.all([deps.store.listFailures(runId), deps.store.listGenerateFailures(runId)]);
    return runSummary(state, failures, [...state.generateFailures, ...generateFailures]);
  };
}

const built = lazy(() => createSummaryHandler({ store: storeFromEnv() }));

/** The Lambda entry point. */
export const handler = (event: SummaryEvent): Promise<RunSummary> => built()(event);
