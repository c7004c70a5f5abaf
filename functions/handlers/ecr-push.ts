/**
 * ECR push events: EventBridge delivers `ECR Image Action` events (action PUSH, result SUCCESS)
 * of the account's repositories; a pushed tag that a stored rule covers becomes a run with trigger
 * `ecr-push`, exactly as a webhook notification would. Untagged pushes are ignored.
 */
import { SSMClient } from '@aws-sdk/client-ssm';
import type { EventBridgeEvent } from 'aws-lambda';
import * as z from 'zod';
import { parseEvent } from '../../shared/pipeline/function-events.js';
import { lazy, optionalEnv } from '../adapters/env.js';
import { createPlannerHandler, plannerDepsFromEnv } from './planner.js';
import type { PushedTag } from '../push/payloads.js';
import { runForPushes, type PushRunDeps, type PushRunResult } from '../push/push-run.js';
import { ssmStoredRules } from '../push/stored-rules.js';

/** The trigger recorded on runs that ECR push events start. */
export const ECR_PUSH_TRIGGER = 'ecr-push';

/** The detail of an `ECR Image Action` event (the fields used here). */
export const EcrImageActionDetailSchema = z.object({
  'action-type': z.string().optional(),
  result: z.string().optional(),
  'repository-name': z.string().optional(),
  'image-tag': z.string().optional(),
  'image-digest': z.string().optional(),
});
export type EcrImageActionDetail = Readonly<z.infer<typeof EcrImageActionDetailSchema>>;

/** The envelope fields of the EventBridge event that are read, around the detail. */
export const EcrImageActionEventSchema = z.object({
  account: z.string().regex(/^\d{12}$/),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/),
  detail: EcrImageActionDetailSchema,
});

/** The registry host of an account's private ECR in a region (China regions use `.com.cn`). */
export function ecrRegistryHost(account: string, region: string): string {
  return `${account}.dkr.ecr.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/** The pushed tag of an event; undefined for anything but a successful tagged push. Throws ConfigError for an event of another shape. */
export function pushedTagOfEcrEvent(input: EventBridgeEvent<string, EcrImageActionDetail>): PushedTag | undefined {
  const event = parseEvent(EcrImageActionEventSchema, input, 'ECR Image Action event');
  const d = event.detail;
  const repository = d['repository-name'];
  const tag = d['image-tag'];
  if (d['action-type'] !== 'PUSH' || d.result !== 'SUCCESS' || !repository || !tag) return undefined;
  return { registry: ecrRegistryHost(event.account, event.region), repository, tag };
}

/** The handler over `deps`. */
export function createEcrPushHandler(deps: PushRunDeps): (event: EventBridgeEvent<string, EcrImageActionDetail>) => Promise<PushRunResult> {
  return async (event) => {
    const push = pushedTagOfEcrEvent(event);
    return push === undefined ? { queued: 0 } : runForPushes(deps, [push], ECR_PUSH_TRIGGER);
  };
}

const built = lazy(() => {
  const plannerDeps = plannerDepsFromEnv();
  return createEcrPushHandler({
    logger: plannerDeps.logger,
    ...(plannerDeps.defaults === undefined ? {} : { defaults: plannerDeps.defaults }),
    plan: createPlannerHandler(plannerDeps),
    storedRules: ssmStoredRules(new SSMClient({}), optionalEnv('RULES_PARAMETER_PREFIX') ?? ''),
  });
});

/** The Lambda entry point. */
export const handler = (event: EventBridgeEvent<string, EcrImageActionDetail>): Promise<PushRunResult> => built()(event);
