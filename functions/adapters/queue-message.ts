/**
 * The messages on the work queue. Three kinds share one queue: a copy task (one tag), an expand
 * request (one all-tags rule whose tags the copier lists) and a plan slice (a range of a large run's
 * rules that a copier turns into copy and expand messages, see plan-slices.ts). None ever carries a
 * credential.
 *
 * The zod schemas below are the one definition of both: the planner and the copier build messages
 * with `copyMessage`/`expandMessage` and read them back with `parseQueueMessage`, so a field added
 * here is checked on both sides. A rule's fields must all be listed in `RuleSchema` (tsc fails
 * otherwise), so an expand message never silently drops part of a rule.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import type { MigrationRule } from '../../shared/config/images-file.js';
import { ImageMigratorError } from '../../shared/errors.js';
import { describeIssues } from '../../shared/pipeline/function-events.js';
import type { CopyTask } from '../../shared/pipeline/task.js';

/** The `type` field of a queue message. */
export const MessageType = {
  Copy: 'copy',
  Expand: 'expand',
  Slice: 'slice',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const Text = z.string().min(1);

/** An ImageReference as JSON carries it. */
const ReferenceSchema = z.object({
  registry: Text,
  repository: Text,
  tag: Text.optional(),
  digest: Text.optional(),
});

/** A MigrationRule as an expand message carries it. */
export const RuleSchema = z.object({
  index: z.number().int().positive(),
  key: Text,
  value: z.string(),
  source: ReferenceSchema,
  destination: ReferenceSchema,
  allTags: z.boolean(),
  tags: z
    .object({
      include: z.array(z.string()).readonly().optional(),
      exclude: z.array(z.string()).readonly().optional(),
      semver: z.string().optional(),
      latest: z.number().int().positive().optional(),
    })
    .optional(),
  platforms: z.array(Text).readonly().optional(),
  referrers: z.boolean().optional(),
  immutable: z.boolean().optional(),
  foreignLayers: z.boolean().optional(),
}) satisfies z.ZodType<MigrationRule>;

/** Compile-time check: RuleSchema names exactly the fields of MigrationRule. */
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
export type RuleSchemaMatchesMigrationRule = Assert<SameKeys<z.infer<typeof RuleSchema>, MigrationRule>>;
type Assert<T extends true> = T;

const Count = z.number().int().nonnegative();

/**
 * What earlier invocations did for a task before they handed it on: a copy that outlasts one
 * invocation stops at a chunk boundary and sends its task again with this, so that the result it
 * finally records counts the whole copy.
 */
export const HandedOnSchema = z.object({
  invocations: z.number().int().positive(),
  bytes: Count,
  requests: Count,
  durationMs: Count,
  retried: z.record(z.string(), Count).optional(),
});
export type HandedOn = Readonly<z.infer<typeof HandedOnSchema>>;

/** Copy one tag: run id, task id, source and destination, and what the rule says to copy of it. */
export const CopyMessageSchema = z.object({
  type: z.literal(MessageType.Copy),
  runId: Text,
  taskId: Text,
  source: Text,
  destination: Text,
  platforms: z.array(Text).optional(),
  referrers: z.boolean().optional(),
  immutable: z.boolean().optional(),
  foreignLayers: z.boolean().optional(),
  /** The expansion already consulted the run state and the destination's tags: compare in full. */
  hintsChecked: z.boolean().optional(),
  /** The run neither reads nor writes the run state. */
  noState: z.boolean().optional(),
  handedOn: HandedOnSchema.optional(),
});
export type CopyMessage = Readonly<z.infer<typeof CopyMessageSchema>>;

/** List the tags of one rule and enqueue a copy message per tag. */
export const ExpandMessageSchema = z.object({
  type: z.literal(MessageType.Expand),
  runId: Text,
  rule: RuleSchema,
  /** Tags another rule of the run copies to the same destination: not enqueued again. */
  skipTags: z.array(z.string()).optional(),
  /** The run neither reads nor writes the run state. */
  noState: z.boolean().optional(),
});
export type ExpandMessage = Readonly<z.infer<typeof ExpandMessageSchema>>;

/**
 * Turn a range of a run's rules into messages: a copy message per tag rule, an expand message per
 * all-tags rule. The run's task count and pending expansions already include them (the planner
 * counted them), so a slice only marks itself done.
 */
export const SliceMessageSchema = z.object({
  type: z.literal(MessageType.Slice),
  runId: Text,
  /** The slice's number in its run, from 1: the key that makes a redelivered slice count once. */
  slice: z.number().int().positive(),
  rules: z.array(RuleSchema).min(1),
  /** For an all-tags rule of the slice (by rule index), the tags that tag rules of the run already copy. */
  skipTags: z.record(z.string(), z.array(z.string())).optional(),
  /** The run neither reads nor writes the run state: its copy and expand messages say so. */
  noState: z.boolean().optional(),
});
export type SliceMessage = Readonly<z.infer<typeof SliceMessageSchema>>;

/**
 * Any message of the queue. A body without `type` is a copy task, so that a task sent by hand in
 * the shape of CopyTask works.
 */
export const QueueMessageSchema = z.preprocess(
  (value) =>
    typeof value === 'object' && value !== null && !Array.isArray(value) && !('type' in value)
      ? { ...value, type: MessageType.Copy }
      : value,
  z.discriminatedUnion('type', [CopyMessageSchema, ExpandMessageSchema, SliceMessageSchema]),
);
export type QueueMessage = CopyMessage | ExpandMessage | SliceMessage;

/** A message body that is not one of ours: it can never succeed, so it is not retried. */
export class MalformedMessageError extends ImageMigratorError {
  public constructor(problem: string, options?: { cause?: unknown }) {
    super(`malformed queue message: ${problem}`, options);
  }
}

/** The copy options of a task or message that are set (platforms, referrers, immutable, foreign layers, hints checked, no state). */
function copyOptions(
  from: Pick<CopyTask, 'platforms' | 'referrers' | 'immutable' | 'foreignLayers' | 'hintsChecked' | 'noState'>,
): Pick<CopyMessage, 'platforms' | 'referrers' | 'immutable' | 'foreignLayers' | 'hintsChecked' | 'noState'> {
  return {
    ...(from.platforms === undefined ? {} : { platforms: [...from.platforms] }),
    ...(from.referrers === undefined ? {} : { referrers: from.referrers }),
    ...(from.immutable === undefined ? {} : { immutable: from.immutable }),
    ...(from.foreignLayers === undefined ? {} : { foreignLayers: from.foreignLayers }),
    ...(from.hintsChecked === undefined ? {} : { hintsChecked: from.hintsChecked }),
    ...(from.noState === undefined ? {} : { noState: from.noState }),
  };
}

/** The copy message of a task; fields of the task beyond these are dropped on purpose. */
export function copyMessage(task: CopyTask): CopyMessage {
  return {
    type: MessageType.Copy,
    runId: task.runId,
    taskId: task.taskId,
    source: task.source,
    destination: task.destination,
    ...copyOptions(task),
  };
}

/** The expand message of a rule; `noState` for a run without the run state. */
export function expandMessage(runId: string, rule: MigrationRule, skipTags?: readonly string[], noState?: boolean): ExpandMessage {
  return {
    type: MessageType.Expand,
    runId,
    rule,
    ...(skipTags === undefined || skipTags.length === 0 ? {} : { skipTags: [...skipTags] }),
    ...(noState === true ? { noState } : {}),
  };
}

/** The task a copy message stands for. */
export function taskOf(message: CopyMessage): CopyTask {
  return {
    runId: message.runId,
    taskId: message.taskId,
    source: message.source,
    destination: message.destination,
    ...copyOptions(message),
  };
}

/** Parses an SQS body; throws MalformedMessageError naming the first field that is wrong. */
export function parseQueueMessage(body: string): QueueMessage {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new MalformedMessageError('not JSON', { cause: error });
  }
  const parsed = QueueMessageSchema.safeParse(value);
  if (!parsed.success) throw new MalformedMessageError(describeIssues(parsed.error), { cause: parsed.error });
  return parsed.data;
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
