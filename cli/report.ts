/**
 * The --report file: a machine-readable account of a run, every task with its outcome.
 */
import { writeFile } from 'node:fs/promises';
import type { LocalRunResult } from '../shared/pipeline/local-run.js';
import { summaryLine } from '../shared/pipeline/run-counts.js';

/** The JSON document written by --report. */
export interface RunReport {
  readonly runId: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly summary: string;
  readonly counts: LocalRunResult['counts'];
  readonly requests: Record<string, number>;
  /** Retries of the run below the task level, by kind (a task's own are in its `retried`). */
  readonly retried: Record<string, number>;
  readonly generateFailures: LocalRunResult['plan']['generateFailures'];
  readonly tasks: LocalRunResult['results'];
}

/** Builds the report of a finished run. */
export function buildReport(run: LocalRunResult, requests: Record<string, number>): RunReport {
  return {
    runId: run.run.runId,
    startedAt: run.run.startedAt,
    finishedAt: new Date().toISOString(),
    summary: summaryLine(run.counts),
    // Requests are counted per kind for the whole run here, not per task.
    counts: { ...run.counts, requests: Object.values(requests).reduce((a, b) => a + b, 0) },
    requests,
    retried: totalRetried(run.results),
    generateFailures: run.plan.generateFailures,
    tasks: run.results,
  };
}

function totalRetried(results: LocalRunResult['results']): Record<string, number> {
  const total: Record<string, number> = {};
  for (const r of results) for (const [kind, n] of Object.entries(r.retried ?? {})) total[kind] = (total[kind] ?? 0) + n;
  return total;
}

/** Writes the report as pretty-printed JSON. */
export async function writeReport(path: string, report: RunReport): Promise<void> {
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}
