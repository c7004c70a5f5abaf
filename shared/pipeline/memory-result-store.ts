/**
 * The local ResultStore: runs and results kept in memory for the report and the summary.
 */
import type { ResultStore, RunRecord } from './ports.js';
import type { TaskResult } from './task.js';

/** Keeps one final result per task; a second record of the same task is ignored. */
export class MemoryResultStore implements ResultStore {
  private readonly runs = new Map<string, RunRecord>();
  private readonly results = new Map<string, Map<string, TaskResult>>();

  public async putRun(run: RunRecord): Promise<void> {
    this.runs.set(run.runId, run);
  }

  public async recordResult(runId: string, result: TaskResult): Promise<boolean> {
    let byTask = this.results.get(runId);
    if (byTask === undefined) this.results.set(runId, (byTask = new Map<string, TaskResult>()));
    if (byTask.has(result.taskId)) return false;
    byTask.set(result.taskId, result);
    return true;
  }

  public async getRun(runId: string): Promise<RunRecord | undefined> {
    return this.runs.get(runId);
  }

  public async listResults(runId: string): Promise<TaskResult[]> {
    return [...(this.results.get(runId)?.values() ?? [])];
  }
}
