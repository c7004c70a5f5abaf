/**
 * ECR push events as EventBridge delivers them: only successful tagged pushes of a covered
 * repository plan a run, recorded with trigger `ecr-push`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import type { EventBridgeEvent } from 'aws-lambda';
import { createEcrPushHandler, ecrRegistryHost, type EcrImageActionDetail } from '../../functions/handlers/ecr-push.js';
import type { PlannerEvent } from '../../functions/handlers/planner.js';

function ecrEvent(detail: EcrImageActionDetail, region = 'eu-west-1'): EventBridgeEvent<'ECR Image Action', EcrImageActionDetail> {
  return {
    version: '0',
    id: 'e',
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: '123456789012',
    time: '2026-11-27T10:00:00Z',
    region,
    resources: [],
    detail,
  };
}

describe('ECR push events', () => {
  const planned: PlannerEvent[] = [];
  const handler = createEcrPushHandler({
    logger: new Logger({ logLevel: 'SILENT' }),
    storedRules: async () => [
      {
        name: '/image-migrator/ImageMigrator/rules/ecr',
        text: JSON.stringify({ '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app': 'swr.example.com/mirror/app' }),
      },
    ],
    plan: async (event) => {
      planned.push(event);
      return { runId: 'run-ecr', tasks: 1, generateFailed: 0, expanding: 0 };
    },
  });

  it("names the account's registry host, with .com.cn in China regions", () => {
    assert.equal(ecrRegistryHost('123456789012', 'eu-west-1'), '123456789012.dkr.ecr.eu-west-1.amazonaws.com');
    assert.equal(ecrRegistryHost('123456789012', 'cn-north-1'), '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn');
  });

  it('plans a covered tag as an ecr-push run and ignores untagged, failed and uncovered pushes', async () => {
    const push = { 'action-type': 'PUSH', result: 'SUCCESS', 'repository-name': 'team/app', 'image-digest': 'sha256:ab' };
    assert.deepEqual(await handler(ecrEvent({ ...push, 'image-tag': '4.0' })), { queued: 1, runId: 'run-ecr' });
    assert.deepEqual(await handler(ecrEvent(push)), { queued: 0 });
    assert.deepEqual(await handler(ecrEvent({ ...push, 'image-tag': '4.1', result: 'FAILURE' })), { queued: 0 });
    assert.deepEqual(await handler(ecrEvent({ ...push, 'image-tag': '4.2', 'repository-name': 'team/other' })), { queued: 0 });
    assert.deepEqual(await handler(ecrEvent({ ...push, 'image-tag': '4.3' }, 'us-east-1')), { queued: 0 });
    assert.deepEqual(planned, [
      {
        images: { '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:4.0': ['swr.example.com/mirror/app:4.0'] },
        trigger: 'ecr-push',
      },
    ]);
  });
});
