/**
 * The webhook function behind a Lambda function URL: registries (or a relay in front of them) POST
 * push notifications, signed with the stack's webhook secret (see functions/push/signature.ts). A pushed
 * tag that a stored rule covers becomes a run with trigger `webhook`; anything else is answered
 * 202 with `{"queued":0}` and ignored, so registries do not retry it.
 *
 * Refusals: 413 for a body over 256 KiB, 401 when unsigned, badly signed or outside the 5-minute
 * window, 409 when replayed, 400 for an unknown format, 404 for an unknown `?rules=NAME`.
 * Nothing is queued for any of them.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { powertoolsSecretReader } from '../adapters/secret-credentials.js';
import { lazy, optionalEnv, requireEnv } from '../adapters/env.js';
import { createPlannerHandler, plannerDepsFromEnv } from './planner.js';
import { FunctionUrlRequest, lowerCaseHeaders, rawBody, refuse, respond, Status, type WebhookResponse } from '../push/http.js';
import { parsePushPayload, UnknownPayloadError } from '../push/payloads.js';
import { runForPushes, UnknownRuleSetError, type PushRunDeps } from '../push/push-run.js';
import { DynamoReplayGuard, type ReplayGuard } from '../push/replay-guard.js';
import { MAX_CLOCK_SKEW_SECONDS, SignatureRejectedError, verifySignature } from '../push/signature.js';
import { RULE_SET_NAME, ssmStoredRules } from '../push/stored-rules.js';

/** Larger bodies are refused before any work: push notifications are a few KiB. */
export const MAX_BODY_BYTES = 256 * 1024;
/** The trigger recorded on runs the webhook starts. */
export const WEBHOOK_TRIGGER = 'webhook';

/** What the webhook uses. */
export interface WebhookDeps extends PushRunDeps {
  /** The HMAC key (the webhook secret's value). */
  readonly signingSecret: () => Promise<string>;
  readonly replayGuard: ReplayGuard;
  /** Milliseconds since the epoch; tests move the clock. */
  readonly now?: () => number;
}

/** The handler over `deps`. */
export function createWebhookHandler(deps: WebhookDeps): (event: LambdaFunctionURLEvent) => Promise<WebhookResponse> {
  return async (received) => {
    const parsed = FunctionUrlRequest.safeParse(received);
    if (!parsed.success) return refuse(Status.BadRequest, 'not a function URL request');
    const event = parsed.data;
    const method = event.requestContext?.http?.method ?? 'POST';
    if (method !== 'POST') return refuse(Status.MethodNotAllowed, 'send push notifications with POST');
    const body = rawBody(event);
    if (body.length > MAX_BODY_BYTES) return refuse(Status.PayloadTooLarge, `the body is larger than ${MAX_BODY_BYTES} bytes`);

    const secret = await deps.signingSecret();
    if (secret.length === 0) {
      deps.logger.error('the webhook secret is empty: every request is refused');
      return refuse(Status.InternalError, 'the webhook is not configured');
    }
    let verified;
    try {
      verified = verifySignature(secret, lowerCaseHeaders(event), body, Math.floor((deps.now ?? Date.now)() / 1000));
    } catch (error) {
      if (!(error instanceof SignatureRejectedError)) throw error;
      deps.logger.warn('webhook request refused', { reason: error.reason, sourceIp: event.requestContext?.http?.sourceIp });
      return refuse(Status.Unauthorized, error.reason);
    }
    // Kept past the window, so a replay is refused whether or not its timestamp is still fresh.
    if (!(await deps.replayGuard.remember(verified.signature, verified.timestamp + 2 * MAX_CLOCK_SKEW_SECONDS))) {
      return refuse(Status.Conflict, 'this request was already received (replayed signature)');
    }
    try {
      return await accept(deps, body, event.queryStringParameters?.rules);
    } catch (error) {
      // The sender may retry a request that failed here; it must not be refused as a replay then.
      await deps.replayGuard.forget(verified.signature).catch(() => undefined);
      deps.logger.error('webhook request failed', { error: error as Error });
      return refuse(Status.InternalError, 'the push could not be queued; try again');
    }
  };
}

async function accept(deps: WebhookDeps, body: Buffer, ruleSet: string | undefined): Promise<WebhookResponse> {
  if (ruleSet !== undefined && !RULE_SET_NAME.test(ruleSet)) {
    return refuse(Status.BadRequest, 'the "rules" query parameter must be 1-64 letters, digits, ".", "_" or "-"');
  }
  let parsed;
  try {
    parsed = parsePushPayload(body.toString('utf8'));
  } catch (error) {
    if (!(error instanceof UnknownPayloadError)) throw error;
    return refuse(Status.BadRequest, error.message);
  }
  try {
    const result = await runForPushes(deps, parsed.pushes, WEBHOOK_TRIGGER, ruleSet);
    return respond(Status.Accepted, { format: parsed.format, pushed: parsed.pushes.length, ...result });
  } catch (error) {
    if (!(error instanceof UnknownRuleSetError)) throw error;
    return refuse(Status.NotFound, error.message);
  }
}

/** The webhook's dependencies from the stack's environment variables. */
export function webhookDepsFromEnv(): WebhookDeps {
  const plannerDeps = plannerDepsFromEnv();
  const readSecret = powertoolsSecretReader(requireEnv('WEBHOOK_SECRET_ARN'));
  return {
    logger: plannerDeps.logger,
    ...(plannerDeps.defaults === undefined ? {} : { defaults: plannerDeps.defaults }),
    plan: createPlannerHandler(plannerDeps),
    storedRules: ssmStoredRules(new SSMClient({}), optionalEnv('RULES_PARAMETER_PREFIX') ?? ''),
    replayGuard: new DynamoReplayGuard(new DynamoDBClient({}), requireEnv('TABLE_NAME')),
    signingSecret: async () => (await readSecret()) ?? '',
  };
}

const built = lazy(() => createWebhookHandler(webhookDepsFromEnv()));

/** The Lambda entry point. */
export const handler = (event: LambdaFunctionURLEvent): Promise<WebhookResponse> => built()(event);
