/**
 * A message that will never be processed, counted so that the run still finishes with every task
 * accounted for: a copy task is recorded failed, an all-tags rule as "generate failed", and a plan
 * slice as all of that for each of its rules, then done. Every write is conditional, so a message
 * abandoned twice, or abandoned after (part of) it went through, counts once. Used for messages that
 * never reached the queue (the planner, a slice) and for those that reached the dead-letter queue.
 */
import { mapLimit } from '../../shared/copy/limit.js';
import { TaskOutcome, type CopyTask } from '../../shared/pipeline/task.js';
import type { MigrationRule } from '../../shared/config/images-file.js';
import { sliceKey } from '../adapters/dynamo-items.js';
import { MessageType, taskOf, type QueueMessage } from '../adapters/queue-message.js';
import type { RunTable } from '../ports.js';
import { sliceContents } from '../tasks/plan-slices.js';

/** Table writes at once for the tasks of an abandoned slice. */
const CONCURRENCY = 8;

/** Why and after how many attempts the message is abandoned. */
export interface Abandonment {
  readonly error: string;
  readonly attempts: number;
}

/** Records `message` as failed; true when this call counted something that was not counted before. */
export async function recordAbandoned(store: RunTable, message: QueueMessage, why: Abandonment): Promise<boolean> {
  switch (message.type) {
    case MessageType.Copy:
      return failTask(store, taskOf(message), why);
    case MessageType.Expand:
      return failRule(store, message.runId, message.rule, why);
    case MessageType.Slice: {
      const { tasks, expansions } = sliceContents(message);
      const counted = await mapLimit([...tasks, ...expansions], CONCURRENCY, (item) =>
        'taskId' in item ? failTask(store, item, why) : failRule(store, message.runId, item, why),
      );
      const done = await store.completeExpansion(message.runId, sliceKey(message.slice), 0);
      return done || counted.some(Boolean);
    }
  }
}

function failTask(store: RunTable, task: CopyTask, why: Abandonment): Promise<boolean> {
  return store.recordResult(task.runId, {
    taskId: task.taskId,
    source: task.source,
    destination: task.destination,
    outcome: TaskOutcome.Failed,
    bytes: 0,
    attempts: why.attempts,
    error: why.error,
    durationMs: 0,
  });
}

function failRule(store: RunTable, runId: string, rule: MigrationRule, why: Abandonment): Promise<boolean> {
  return store.failExpansion(runId, rule.index, { source: rule.key, destination: rule.value, error: why.error });
}
