/**
 * The summary function: a run's counts, a page of its failed tasks with their errors, and the summary
 * line of Huawei's image-migrator.
 * Counts come from the run's counter shards (one batch read, whatever the run's size); failed
 * tasks come a page at a time from the sparse failures index, so the answer stays far below
 * Lambda's 6 MB response limit however many tasks failed.
 */
import { UnknownRunError } from '../../shared/errors.js';
import { DEFAULT_SUMMARY_FAILURES, parseEvent, SummaryEventSchema, type SummaryEvent } from '../../shared/pipeline/function-events.js';
import type { FailurePage } from '../adapters/dynamo-result-store.js';
import type { RunTable } from '../ports.js';
import { storeFromEnv } from '../adapters/aws-deps.js';
import { lazy } from '../adapters/env.js';
import { runSummary, type RunSummary } from '../runs/run-summary.js';

export type { SummaryEvent } from '../../shared/pipeline/function-events.js';
export { UnknownRunError } from '../../shared/errors.js';

/** The Lambda handler over a store. */
export function createSummaryHandler(deps: { readonly store: RunTable }): (event: SummaryEvent) => Promise<RunSummary> {
  return async (event) => {
    const { runId, failures: limit = DEFAULT_SUMMARY_FAILURES, after } = parseEvent(SummaryEventSchema, event, 'summary event');
    const state = await deps.store.getRunState(runId);
    if (state === undefined) throw new UnknownRunError(runId);
    const none: FailurePage = { failures: [] };
    const [page, generateFailures] = await Promise.all([
      limit === 0 || state.failed === 0 ? Promise.resolve(none) : deps.store.failurePage(runId, limit, after),
      state.generateFailed === 0 ? Promise.resolve([]) : deps.store.listGenerateFailures(runId),
    ]);
    return runSummary(state, page.failures, [...state.generateFailures, ...generateFailures], undefined, page.next);
  };
}

const built = lazy(() => createSummaryHandler({ store: storeFromEnv() }));

/** The Lambda entry point. */
export const handler = (event: SummaryEvent): Promise<RunSummary> => built()(event);
