/**
 * Counting a run's results and the summary line of Huawei's image-migrator, shared by the CLI and the summary function.
 */
import type { RunCounts, RunRecord } from './ports.js';
import { TaskOutcome, type TaskResult } from './task.js';

/** `Images(N) migration finished, X images tasks failed, Y tasks generate failed`, as Huawei's image-migrator prints it. */
export function summaryLine(counts: { readonly tasks: number; readonly failed: number; readonly generateFailed: number }): string {
  return `Images(${counts.tasks}) migration finished, ${counts.failed} images tasks failed, ${counts.generateFailed} tasks generate failed`;
}

/** Counts of a run from its record and its task results. */
export function countResults(run: Pick<RunRecord, 'taskCount' | 'generateFailed'>, results: readonly TaskResult[]): RunCounts {
  let copied = 0;
  let upToDate = 0;
  let failed = 0;
  let skipped = 0;
  let bytes = 0;
  let requests = 0;
  for (const r of results) {
    if (r.outcome === TaskOutcome.Copied) copied++;
    else if (r.outcome === TaskOutcome.UpToDate) upToDate++;
    else if (r.outcome === TaskOutcome.Skipped) skipped++;
    else failed++;
    bytes += r.bytes;
    requests += r.requests ?? 0;
  }
  return {
    tasks: run.taskCount,
    copied,
    upToDate,
    failed,
    ...(skipped === 0 ? {} : { skipped }),
    generateFailed: run.generateFailed,
    bytes,
    requests,
  };
}

/** 0 when every task copied or was up to date, 1 when any task or rule failed. (2, bad input, is decided earlier.) */
export function exitCodeOf(counts: Pick<RunCounts, 'failed' | 'generateFailed'>): 0 | 1 {
  return counts.failed > 0 || counts.generateFailed > 0 ? 1 : 0;
}
