/**
 * Pushed tags to a pipeline run: the tags are matched against the stored rules and the covered
 * ones are handed to the planner as rules of their own, so the run is planned, recorded and queued
 * exactly as a manual or scheduled one. Used by the webhook and by ECR push events.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { parseImagesFile, type Defaults, type MigrationRule } from '../../shared/config/images-file.js';
import { ImageMigratorError } from '../../shared/errors.js';
import { formatReference } from '../../shared/reference.js';
import type { PlannerEvent, PlannerResult } from '../handlers/planner.js';
import type { PushedTag } from './payloads.js';
import { rulesForPushes } from './rule-match.js';
import type { StoredRules } from './stored-rules.js';

/** What matching and planning use. */
export interface PushRunDeps {
  readonly storedRules: StoredRules;
  readonly plan: (event: PlannerEvent) => Promise<PlannerResult>;
  /** The stack's default registry and namespace, for stored rules with empty destinations. */
  readonly defaults?: Defaults;
  readonly logger: Logger;
}

/** What a push started: `queued` copy tasks in run `runId` (no run when nothing matched). */
export interface PushRunResult {
  readonly queued: number;
  readonly runId?: string;
}

/** `?rules=NAME` names no stored rule set. */
export class UnknownRuleSetError extends ImageMigratorError {
  public constructor(public readonly ruleSet: string) {
    super(`no stored rules named ${JSON.stringify(ruleSet)}`);
  }
}

/** Matches `pushes` against the stored rules (or the set `ruleSet`) and plans a run of what they cover. */
export async function runForPushes(
  deps: PushRunDeps,
  pushes: readonly PushedTag[],
  trigger: string,
  ruleSet?: string,
): Promise<PushRunResult> {
  if (pushes.length === 0) return { queued: 0 };
  const sets = await deps.storedRules(ruleSet);
  if (sets === undefined) throw new UnknownRuleSetError(ruleSet ?? '');
  const rules: MigrationRule[] = [];
  for (const set of sets) {
    try {
      for (const rule of parseImagesFile(set.text, `SSM parameter ${set.name}`, deps.defaults ?? {})) rules.push(rule);
    } catch (error) {
      // Stored rules were checked at deploy time; one edited by hand into an invalid document must
      // not stop the other sets from mirroring.
      deps.logger.error('stored rules skipped: they are not a valid images.json', { parameter: set.name, error: error as Error });
    }
  }
  const images = rulesForPushes(pushes, rules);
  const pushed = pushes.map((p) => formatReference(p));
  if (Object.keys(images).length === 0) {
    deps.logger.info('push ignored: no stored rule covers it', { trigger, pushed });
    return { queued: 0 };
  }
  const planned = await deps.plan({ images, trigger });
  deps.logger.info('push queued', { trigger, pushed, runId: planned.runId, tasks: planned.tasks });
  return { queued: planned.tasks, runId: planned.runId };
}
