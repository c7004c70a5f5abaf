/**
 * The messages on the work queue. Two kinds share one queue: a copy task (one tag) and an expand
 * request (one all-tags rule whose tags the copier lists). Neither ever carries a credential.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSRecord } from 'aws-lambda';
import type { CopyTask } from '../../shared/pipeline/task.js';
import type { MigrationRule } from '../../shared/config/images-file.js';

/** The `type` field of a queue message. */
export const MessageType = {
  Copy: 'copy',
  Expand: 'expand',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Copy one tag: only run id, task id, source and destination. */
export interface CopyMessage {
  readonly type: typeof MessageType.Copy;
  readonly runId: string;
  readonly taskId: string;
  readonly source: string;
  readonly destination: string;
}

/** List the tags of one rule and enqueue a copy message per tag. */
export interface ExpandMessage {
  readonly type: typeof MessageType.Expand;
  readonly runId: string;
  readonly rule: MigrationRule;
  /** Tags another rule of the run copies to the same destination: not enqueued again. */
  readonly skipTags?: readonly string[];
}

export type QueueMessage = CopyMessage | ExpandMessage;

/** A message body that is not one of ours: it can never succeed, so it is not retried. */
export class MalformedMessageError extends Error {
  public constructor(problem: string, options?: { cause?: unknown }) {
    super(`malformed queue message: ${problem}`, options);
    this.name = 'MalformedMessageError';
  }
}

/** The copy message of a task; extra fields of the task are dropped on purpose. */
export function copyMessage(task: CopyTask): CopyMessage {
  return { type: MessageType.Copy, runId: task.runId, taskId: task.taskId, source: task.source, destination: task.destination };
}

/** The expand message of a rule. */
export function expandMessage(runId: string, rule: MigrationRule, skipTags?: readonly string[]): ExpandMessage {
  return { type: MessageType.Expand, runId, rule, ...(skipTags === undefined || skipTags.length === 0 ? {} : { skipTags }) };
}

/** The task a copy message stands for. */
export function taskOf(message: CopyMessage): CopyTask {
  return { runId: message.runId, taskId: message.taskId, source: message.source, destination: message.destination };
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** Parses an SQS body; throws MalformedMessageError. */
export function parseQueueMessage(body: string): QueueMessage {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new MalformedMessageError('not JSON', { cause: error });
  }
  const m = value as Record<string, unknown> | null;
  if (m === null || typeof m !== 'object' || !isText(m.runId)) throw new MalformedMessageError('no runId');
  // Messages without a type are copy tasks, so that a task sent by hand in the shape of CopyTask works.
  if (m.type === undefined || m.type === MessageType.Copy) {
    if (!isText(m.taskId) || !isText(m.source) || !isText(m.destination)) {
      throw new MalformedMessageError('a copy message needs taskId, source and destination');
    }
    return { type: MessageType.Copy, runId: m.runId, taskId: m.taskId, source: m.source, destination: m.destination };
  }
  if (m.type === MessageType.Expand) {
    const rule = m.rule as Partial<MigrationRule> | null | undefined;
    if (rule === null || typeof rule !== 'object' || typeof rule.index !== 'number' || typeof rule.source !== 'object') {
      throw new MalformedMessageError('an expand message needs a rule');
    }
    const skipTags = Array.isArray(m.skipTags) ? m.skipTags.filter((t: unknown): t is string => typeof t === 'string') : [];
    return expandMessage(m.runId, rule as MigrationRule, skipTags);
  }
  throw new MalformedMessageError(`unknown type ${JSON.stringify(m.type)}`);
}

/**
 * The message of a record, or undefined when the body is not one: no delivery of it can ever
 * succeed and it names no task to record, so it is logged and dropped instead of redriven.
 */
export function messageOrDrop(record: SQSRecord, logger: Logger, what: string): QueueMessage | undefined {
  try {
    return parseQueueMessage(record.body);
  } catch (error) {
    if (!(error instanceof MalformedMessageError)) throw error;
    logger.error(`dropped a malformed ${what}`, { messageId: record.messageId, error: error.message });
    return undefined;
  }
}
