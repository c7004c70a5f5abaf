/**
 * The --report file: a machine-readable account of a run, every task with its outcome.
 */
import { constants } from 'node:fs';
import { access, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { LocalRunResult } from '../shared/pipeline/local-run.js';
import { summaryLine } from '../shared/pipeline/run-counts.js';

/** The JSON document written by --report. */
export interface RunReport {
  readonly runId: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly summary: string;
  readonly counts: LocalRunResult['counts'];
  /** Requests the registries answered, by kind. */
  readonly requests: Record<string, number>;
  /**
   * Attempts that got no answer, by kind (only when there were some): a refused or reset connection,
   * a stall, the one https attempt at a registry marked insecure that answers plain http.
   */
  readonly unanswered?: Record<string, number>;
  /** Retries of the run below the task level, by kind: the tasks' own (each in its `retried`) and those of no task (tag lists). */
  readonly retried: Record<string, number>;
  readonly generateFailures: LocalRunResult['plan']['generateFailures'];
  readonly tasks: LocalRunResult['results'];
  /**
   * Only in the report of a run stopped by a signal: which, and how many planned tasks had not
   * finished (they are not in `tasks`; `counts.tasks` is every planned one).
   */
  readonly interrupted?: { readonly signal: string; readonly notDone: number };
}

/** Builds the report of a finished run. */
export function buildReport(run: LocalRunResult, requests: Record<string, number>, unanswered: Record<string, number> = {}): RunReport {
  return {
    runId: run.run.runId,
    startedAt: run.run.startedAt,
    finishedAt: new Date().toISOString(),
    summary: summaryLine(run.counts),
    // Requests are counted per kind for the whole run here, not per task.
    counts: { ...run.counts, requests: Object.values(requests).reduce((a, b) => a + b, 0) },
    requests,
    ...(Object.keys(unanswered).length === 0 ? {} : { unanswered }),
    retried: totalRetried(run.results, run.untaskedRetries),
    generateFailures: run.plan.generateFailures,
    tasks: run.results,
  };
}

function totalRetried(results: LocalRunResult['results'], untasked: Readonly<Record<string, number>>): Record<string, number> {
  const total: Record<string, number> = { ...untasked };
  for (const r of results) for (const [kind, n] of Object.entries(r.retried ?? {})) total[kind] = (total[kind] ?? 0) + n;
  return total;
}

/** Writes the report as pretty-printed JSON. */
export async function writeReport(path: string, report: RunReport): Promise<void> {
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}

/**
 * Why the report could not be written at `path`, checked before a run copies anything (a missing
 * folder, a folder in its place, no permission), or undefined when it can be.
 */
export async function reportPathProblem(path: string): Promise<string | undefined> {
  if (path === '') return 'the path is empty';
  const folder = dirname(path);
  const info = await stat(path).catch(() => undefined);
  if (info?.isDirectory() === true) return 'it is a folder';
  try {
    if (!(await stat(folder)).isDirectory()) return `${folder} is not a folder`;
    await access(info === undefined ? folder : path, constants.W_OK);
  } catch (error) {
    const code = (error as { code?: string }).code;
    return code === 'ENOENT' ? `the folder ${folder} does not exist` : `cannot write there (${code ?? (error as Error).message})`;
  }
  return undefined;
}
