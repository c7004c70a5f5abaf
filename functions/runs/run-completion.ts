/**
 * Finishing a run: whoever records the last result (copier, expansion, dead-letter recorder, or the
 * planner of an empty run) marks it finished and puts the run-finished event. The store's
 * conditional update lets exactly one of them win, so the event is put once.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { RunTable } from '../ports.js';
import type { RunNotifier } from '../adapters/run-notifier.js';
import { runDetail } from './run-summary.js';

/** What finishing needs. */
export interface CompletionDeps {
  readonly store: RunTable;
  readonly notifier: RunNotifier;
  readonly logger: Logger;
}

/** Marks the run finished if it is complete; true when this call finished it. */
export async function finishRunIfComplete(deps: CompletionDeps, runId: string): Promise<boolean> {
  const state = await deps.store.finishIfComplete(runId);
  if (state === undefined) return false;
  const detail = runDetail(state);
  deps.logger.info('run finished', { ...detail });
  try {
    await deps.notifier.runFinished(detail);
  } catch (error) {
    // The run is already marked finished and its results are safe; a lost event must not make
    // SQS redeliver (and re-copy) the task that happened to be last.
    deps.logger.error('run-finished event not sent', { runId, error: error as Error });
  }
  return true;
}
