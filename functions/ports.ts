/**
 * What the Lambda handlers need of the task queue and of the run table: the pipeline's shared ports
 * (shared/pipeline/ports.ts) and the few operations a distributed run adds to them (expand messages,
 * expansion bookkeeping, finishing a run once, usage). Handlers are typed against these; the SQS and
 * DynamoDB adapters implement them, and a test may hand in anything that does.
 */
import type { MigrationRule } from '../shared/config/images-file.js';
import type { RepositoryRef } from '../shared/registry/types.js';
import type { CopyRecord, StateSnapshot } from '../shared/state/state-snapshot.js';
import type { ResultStore, RunRecord, TaskQueue } from '../shared/pipeline/ports.js';
import type { GenerateFailure, TaskResult } from '../shared/pipeline/task.js';
import type { ExpansionKey, RunState, Usage } from './adapters/dynamo-items.js';
import type { FailurePage } from './adapters/dynamo-result-store.js';
import type { QueueMessage, SliceMessage } from './adapters/queue-message.js';
import type { UsageMeter } from './adapters/usage-meter.js';

/** The copy queue, which also carries the expand messages of all-tags rules and the plan slices of large runs. */
export interface PipelineQueue extends TaskQueue {
  /**
   * One expand message per all-tags rule; `coveredTags` are tags that tag rules of the run already copy;
   * `noState` for a run that neither reads nor writes the run state.
   */
  enqueueExpansions(
    runId: string,
    rules: readonly MigrationRule[],
    coveredTags?: ReadonlyMap<number, readonly string[]>,
    options?: { readonly noState?: boolean },
  ): Promise<void>;
  /** Messages as they are (a copy task handed on to the next invocation). */
  send(messages: readonly QueueMessage[]): Promise<void>;
  /** Plan slices, each a range of a run's rules for a copier to turn into messages. */
  enqueueSlices(slices: readonly SliceMessage[]): Promise<void>;
}

/** The run table: results counted once, expansions tracked, the run finished exactly once. */
export interface RunTable extends ResultStore {
  /** Counts this container's requests and time per run, written with `flushUsage`. */
  readonly meter: UsageMeter;
  /** The run record, with the number of all-tags rules and plan slices still to be expanded. */
  createRun(run: RunRecord, pendingExpansions: number): Promise<void>;
  addUsage(runId: string, usage: Usage): Promise<void>;
  flushUsage(): Promise<void>;
  hasResult(runId: string, taskId: string): Promise<boolean>;
  /** Records many results at once (an expansion's tags found up to date); returns how many were counted, each once. */
  recordResults(runId: string, results: readonly TaskResult[]): Promise<number>;
  isExpansionDone(runId: string, key: ExpansionKey): Promise<boolean>;
  /** False when the expansion was already counted (a duplicate delivery). */
  completeExpansion(runId: string, key: ExpansionKey, taskCount: number): Promise<boolean>;
  failExpansion(runId: string, ruleIndex: number, failure: GenerateFailure): Promise<boolean>;
  /** The run's state when this call is the one that marked it finished; undefined otherwise. */
  finishIfComplete(runId: string): Promise<RunState | undefined>;
  getRunState(runId: string): Promise<RunState | undefined>;
  listFailures(runId: string): Promise<TaskResult[]>;
  failurePage(runId: string, limit: number, after?: string): Promise<FailurePage>;
  listGenerateFailures(runId: string): Promise<GenerateFailure[]>;
}

/**
 * The run state between runs (shared/state/), kept in the table on AWS: read as snapshots that the
 * shared hint check and the copier consult, written with what the copies recorded. A hint only.
 */
export interface CopyStateTable {
  /** What earlier runs recorded of copies from one repository to another (every tag): one Query of the pair. */
  loadPair(runId: string, source: RepositoryRef, destination: RepositoryRef): Promise<StateSnapshot>;
  /** Adds to `snapshot` what is recorded of one tag copy (`registry/repository:tag` each); true when something was. */
  loadCopy(runId: string, snapshot: StateSnapshot, source: string, destination: string): Promise<boolean>;
  /** Writes records (new copies, and old ones a run relied on, to renew them). */
  save(runId: string, records: readonly CopyRecord[]): Promise<void>;
}
