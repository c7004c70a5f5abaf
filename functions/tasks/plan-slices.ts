/**
 * Plan slices: how the planner fans a large run out. Sending one SQS message per task is what a
 * planner spends its time on (100,000 tag rules: 10,000 SendMessageBatch calls, 16-21 s on the
 * emulators, and more with real network latency, for a 5-minute function). So the planner only
 * parses, resolves overlaps and counts; it cuts the rules, in order, into slices that carry the rules
 * themselves, and each slice is a message that a copier turns into a copy message per tag rule and
 * an expand message per all-tags rule (slice-record.ts).
 *
 * A slice holds at most SLICE_MAX_RULES rules and SLICE_MAX_BYTES of JSON. The bytes come from SQS:
 * a message (and a SendMessageBatch call) carries at most 256 KiB, and the rules travel in the
 * message because there is no other store to put them in without a size limit of its own (an SSM
 * parameter holds 8 KB; a table item 400 KB, and would need writes the message already does). The
 * rule count bounds a slice's work: 1,000 rules are at most 1,000 messages, 100 SendMessageBatch
 * calls, 1.2 s on the emulators (median, 8 at once on 2 cores) and about 0.5 s against SQS at 20 ms
 * a call, 4 in flight: far below the copier's timeout (10 minutes by default), whatever the run's size.
 */
import type { MigrationRule } from '../../shared/config/images-file.js';
import { ruleTask } from '../../shared/pipeline/planner.js';
import type { CopyTask } from '../../shared/pipeline/task.js';
import { MessageType, type SliceMessage } from '../adapters/queue-message.js';

/** Rules in one slice at most: its copier sends at most this many messages. */
export const SLICE_MAX_RULES = 1000;
/** JSON bytes of a slice's rules at most: under the 256 KiB of an SQS message, with room for the rest of the message. */
export const SLICE_MAX_BYTES = 240 * 1024;

/** How large a slice may be (tests make them small to have many). */
export interface SliceLimits {
  readonly rules: number;
  readonly bytes: number;
}

export const DEFAULT_SLICE_LIMITS: SliceLimits = { rules: SLICE_MAX_RULES, bytes: SLICE_MAX_BYTES };

/**
 * The rules in order, cut into slices of at most `limits.rules` rules and `limits.bytes` bytes of
 * JSON (a rule larger than that alone goes in a slice of its own). `coveredTags` (by all-tags rule
 * index) travel with their rule's slice.
 */
export function planSlices(
  runId: string,
  rules: readonly MigrationRule[],
  coveredTags: ReadonlyMap<number, readonly string[]>,
  limits: SliceLimits = DEFAULT_SLICE_LIMITS,
): SliceMessage[] {
  const slices: SliceMessage[] = [];
  let current: MigrationRule[] = [];
  let skipTags: Record<string, string[]> = {};
  let bytes = 0;
  const close = (): void => {
    if (current.length === 0) return;
    const skip = Object.keys(skipTags).length === 0 ? {} : { skipTags };
    slices.push({ type: MessageType.Slice, runId, slice: slices.length + 1, rules: current, ...skip });
    current = [];
    skipTags = {};
    bytes = 0;
  };
  for (const rule of rules) {
    const covered = rule.allTags ? coveredTags.get(rule.index) : undefined;
    const size =
      Buffer.byteLength(JSON.stringify(rule)) + (covered === undefined ? 0 : Buffer.byteLength(JSON.stringify(covered)) + 12) + 1;
    if (current.length === limits.rules || (current.length > 0 && bytes + size > limits.bytes)) close();
    current.push(rule);
    if (covered !== undefined && covered.length > 0) skipTags[String(rule.index)] = [...covered];
    bytes += size;
  }
  close();
  return slices;
}

/** What a slice becomes: a copy task per tag rule, and the all-tags rules to expand with their covered tags. */
export interface SliceContents {
  readonly tasks: CopyTask[];
  readonly expansions: MigrationRule[];
  readonly coveredTags: Map<number, readonly string[]>;
}

/** The tasks and expansions of a slice (no registry is contacted: tag rules need no listing). */
export function sliceContents(message: SliceMessage): SliceContents {
  const tasks: CopyTask[] = [];
  const expansions: MigrationRule[] = [];
  for (const rule of message.rules) {
    if (rule.allTags) expansions.push(rule);
    else tasks.push(ruleTask(rule, message.runId));
  }
  const coveredTags = new Map(Object.entries(message.skipTags ?? {}).map(([index, tags]) => [Number(index), tags] as const));
  return { tasks, expansions, coveredTags };
}

/** Copy tasks a run's rules make without listing: one per tag rule (overlaps already resolved). */
export function tagTaskCount(rules: readonly MigrationRule[]): number {
  return rules.reduce((n, rule) => n + (rule.allTags ? 0 : 1), 0);
}
