/**
 * Expanding rules into tasks: one task per tag. A rule with a tag or digest is one task; a rule
 * without one lists the source's tags. A rule that cannot be listed is a "generate" failure and
 * does not stop the others. A rule's tag filter (tag-filter.ts) is applied here, so that the CLI,
 * the AWS planner and expansions, schedules and push events all choose the same tags, and each task
 * carries the rule's platforms, referrers and foreign layers settings to the copier.
 */
import { formatReference } from '../reference.js';
import { copiesReferrers } from '../config/image-rule.js';
import type { MigrationRule } from '../config/images-file.js';
import { selectTags, type RejectedTag } from '../config/tag-filter.js';
import { mapLimit } from '../copy/limit.js';
import type { Registry } from '../registry/types.js';
import { errorMessage } from './error-message.js';
import type { CopyTask, GenerateFailure } from './task.js';

/** The task id of a rule's tag: stable, so that a redelivered or replanned task is the same task. */
export function taskIdOf(rule: Pick<MigrationRule, 'index'>, tagOrDigest: string): string {
  return `${rule.index}:${tagOrDigest}`;
}

/** Which source tags are immutable besides those of rules that say so (--immutable-tags). */
export type ImmutableTags = (tag: string) => boolean;

/** How a rule's tag filter chose among the tags listed, for `--dry-run`. */
export interface RuleSelection {
  readonly rule: number;
  readonly key: string;
  readonly listed: number;
  readonly selected: readonly string[];
  readonly rejected: readonly RejectedTag[];
}

/** What a task carries from its rule to the copier: only what differs from the default. */
export function taskOptions(rule: MigrationRule): Pick<CopyTask, 'platforms' | 'referrers' | 'foreignLayers'> {
  return {
    ...(rule.platforms === undefined ? {} : { platforms: rule.platforms }),
    ...(copiesReferrers(rule) ? { referrers: true } : {}),
    ...(rule.foreignLayers === true ? { foreignLayers: true } : {}),
  };
}

/** Whether the rule or `immutableTags` declares a source tag immutable. */
export function isImmutableTag(rule: Pick<MigrationRule, 'immutable'>, immutableTags?: ImmutableTags): (tag: string) => boolean {
  // A rule's own `immutable` wins over --immutable-tags, `false` included.
  return (tag) => rule.immutable ?? immutableTags?.(tag) === true;
}

/** `{ immutable: true }` for a tag that the rule or `immutableTags` declares immutable. */
function immutableOf(rule: MigrationRule, immutableTags?: ImmutableTags): (tag: string | undefined) => { immutable?: true } {
  const immutable = isImmutableTag(rule, immutableTags);
  return (tag) => (tag !== undefined && immutable(tag) ? { immutable: true } : {});
}

/** The one task of a rule with a tag or digest: no listing, so no registry. */
export function ruleTask(rule: MigrationRule, runId: string, immutableTags?: ImmutableTags): CopyTask {
  const tagOrDigest = rule.source.tag ?? rule.source.digest ?? 'latest';
  return {
    runId,
    taskId: taskIdOf(rule, tagOrDigest),
    source: formatReference(rule.source),
    destination: formatReference(rule.destination),
    ...immutableOf(rule, immutableTags)(rule.source.digest === undefined ? (rule.source.tag ?? 'latest') : undefined),
    ...taskOptions(rule),
  };
}

/**
 * The tasks of one rule; lists tags when the rule copies all of them and applies its tag filter
 * (`onSelection` hears how it chose). Throws when it cannot list.
 */
export async function expandRule(
  rule: MigrationRule,
  registry: Registry,
  runId: string,
  immutableTags?: ImmutableTags,
  onSelection?: (selection: RuleSelection) => void,
): Promise<CopyTask[]> {
  if (!rule.allTags) return [ruleTask(rule, runId, immutableTags)];
  const immutable = immutableOf(rule, immutableTags);
  const options = taskOptions(rule);
  const listed = await registry.listTags(rule.source);
  let tags = listed;
  if (rule.tags !== undefined) {
    const { selected, rejected } = selectTags(listed, rule.tags);
    onSelection?.({ rule: rule.index, key: rule.key, listed: listed.length, selected, rejected });
    tags = selected;
  }
  return tags.map((tag) => ({
    runId,
    taskId: taskIdOf(rule, tag),
    source: formatReference({ ...rule.source, tag }),
    destination: formatReference({ ...rule.destination, tag }),
    ...immutable(tag),
    ...options,
  }));
}

/** What planning a run produced. */
export interface Plan {
  readonly tasks: CopyTask[];
  readonly generateFailures: GenerateFailure[];
  /** How each filtered rule chose its tags, in rule order. */
  readonly selections?: RuleSelection[];
}

/** Options of {@link planTasks}. */
export interface PlanOptions {
  /** Tag listings at once (default 7). */
  readonly concurrency?: number;
  /**
   * Called with each rule's tasks as soon as that rule is expanded, before the plan is complete and
   * before duplicates across rules are removed, so that work can start while other rules are listed.
   */
  readonly onExpanded?: (tasks: readonly CopyTask[]) => void;
  /** Called as a rule's expansion starts (within `concurrency`), for work that can go alongside it. */
  readonly onExpanding?: (rule: MigrationRule) => void;
  /** Source tags declared immutable by the command line. */
  readonly immutableTags?: ImmutableTags;
}

/** Expands every rule, `concurrency` listings at once; failures are collected, not thrown. */
export async function planTasks(
  rules: readonly MigrationRule[],
  registry: Registry,
  runId: string,
  options: PlanOptions = {},
): Promise<Plan> {
  const generateFailures: GenerateFailure[] = [];
  const selections: RuleSelection[] = [];
  const perRule = await mapLimit(rules, options.concurrency ?? 7, async (rule) => {
    try {
      const expanding = expandRule(rule, registry, runId, options.immutableTags, (selection) => selections.push(selection));
      // Awaited below; handled here too, in case onExpanding throws first.
      expanding.catch(() => undefined);
      // After the listing has gone out: what goes alongside it queues behind it.
      options.onExpanding?.(rule);
      const tasks = await expanding;
      options.onExpanded?.(tasks);
      return tasks;
    } catch (error) {
      generateFailures.push({ source: rule.key, destination: rule.value, error: errorMessage(error) });
      return [];
    }
  });
  selections.sort((a, b) => a.rule - b.rule);
  return { tasks: dedupe(perRule.flat()), generateFailures, ...(selections.length === 0 ? {} : { selections }) };
}

/** What makes two tasks the same copy, whichever rules they came from. */
export function copyKey(task: Pick<CopyTask, 'source' | 'destination'>): string {
  return `${task.source} ${task.destination}`;
}

/** Two rules may name the same copy (a tag rule and an all-tags rule); it is done once. */
function dedupe(tasks: CopyTask[]): CopyTask[] {
  const seen = new Set<string>();
  return tasks.filter((t) => {
    const key = copyKey(t);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
