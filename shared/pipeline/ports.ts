/**
 * The ports the pipeline cores are written against. Locally they are in-process; on AWS, SQS and
 * DynamoDB (functions/).
 */
import type { CopyTask, GenerateFailure, TaskResult } from './task.js';

/** Where planned tasks go. */
export interface TaskQueue {
  enqueue(tasks: readonly CopyTask[]): Promise<void>;
}

/** What a run is: how many tasks were planned and how many rules could not be expanded. */
export interface RunRecord {
  readonly runId: string;
  readonly startedAt: string;
  /** Who started it: `manual`, `schedule:NAME`, `webhook`. */
  readonly trigger: string;
  readonly taskCount: number;
  readonly generateFailed: number;
  readonly generateFailures: readonly GenerateFailure[];
}

/** Counts of a run as the summary reports them. */
export interface RunCounts {
  readonly tasks: number;
  readonly copied: number;
  readonly upToDate: number;
  readonly failed: number;
  /** Tasks with nothing to copy: single-platform images of a platform the rule does not ask for (local runs). */
  readonly skipped?: number;
  readonly generateFailed: number;
  readonly bytes: number;
  /** Registry requests of the tasks' final attempts: near 2 per tag when nothing changed. */
  readonly requests: number;
}

/** Keeps runs and task results. Recording a task twice must count it once. */
export interface ResultStore {
  putRun(run: RunRecord): Promise<void>;
  /** Returns false when the task already had a final result (a duplicate delivery). */
  recordResult(runId: string, result: TaskResult): Promise<boolean>;
  getRun(runId: string): Promise<RunRecord | undefined>;
  listResults(runId: string): Promise<TaskResult[]>;
}
