/**
 * Template assertions for mirroring that runs by itself: schedules with stored rules, retries and a
 * dead-letter queue; the signed webhook's function URL and secret; the ECR push rule. One synth
 * (bundling skipped, as `cdk synth` alone bundles) with every trigger on; the context checks run
 * without synth.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/build-app.js';
import { AwsSolutionsChecks } from '../../infra/nag.js';
import { readSchedules } from '../../infra/schedule-settings.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- template JSON, walked field by field
type Json = Record<string, any>;

const dir = mkdtempSync(join(tmpdir(), 'mirror-infra-'));
const smallRules = join(dir, 'images.json');
writeFileSync(smallRules, JSON.stringify({ 'quay.io/coreos/etcd': 'swr.example.com/mirror/etcd' }));
const bigRules = join(dir, 'big.json');
writeFileSync(
  bigRules,
  JSON.stringify(Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`quay.io/team/app${i}`, `swr.example.com/mirror/app${i}`]))),
);

const app = new App({
  context: {
    'aws:cdk:bundling-stacks': [],
    schedules: {
      nightly: { expression: 'cron(0 3 * * ? *)', timeZone: 'Europe/Paris', rules: smallRules },
      hourly: { expression: 'rate(1 hour)', rules: bigRules },
      legacy: 'rate(2 days)',
    },
    webhook: true,
    ecrPushEvents: 'true',
  },
});
const stack = buildApp(app);
const template = Template.fromStack(stack);
const resources: Record<string, Json> = template.toJSON().Resources;
const outputs: Record<string, Json> = template.toJSON().Outputs;

const byType = (type: string): [string, Json][] => Object.entries(template.findResources(type));
const schedule = (name: string): Json =>
  byType('AWS::Scheduler::Schedule')
    .map(([, r]) => r)
    .find((r) => JSON.parse(r.Properties.Target.Input).trigger === `schedule:${name}`)!;
const plannerId = byType('AWS::Lambda::Function').find(([, r]) => /expands rules/.test(r.Properties.Description))![0];
const functionNamed = (handlerWords: RegExp): [string, Json] =>
  byType('AWS::Lambda::Function').find(([, r]) => handlerWords.test(r.Properties.Description))!;

after(() => rmSync(dir, { recursive: true, force: true }));

describe('mirroring triggers in the template', () => {
  it('starts the planner on each schedule with its expression, time zone and stored-rules pointer', () => {
    const nightly = schedule('nightly');
    assert.equal(nightly.Properties.ScheduleExpression, 'cron(0 3 * * ? *)');
    assert.equal(nightly.Properties.ScheduleExpressionTimezone, 'Europe/Paris');
    assert.deepEqual(nightly.Properties.Target.Arn, { 'Fn::GetAtt': [plannerId, 'Arn'] });
    assert.deepEqual(JSON.parse(nightly.Properties.Target.Input), {
      rulesParameter: '/image-migrator/ImageMigrator/rules/nightly',
      trigger: 'schedule:nightly',
    });
    assert.equal(schedule('hourly').Properties.ScheduleExpression, 'rate(1 hour)');
    assert.equal(schedule('legacy').Properties.ScheduleExpression, 'rate(2 days)');
  });

  it('retries a failed start twice within an hour, then sends it to a dead-letter queue', () => {
    const [queueId] = byType('AWS::SQS::Queue').find(([id]) => id.includes('FailedStarts'))!;
    for (const name of ['nightly', 'hourly', 'legacy']) {
      const target = schedule(name).Properties.Target;
      assert.deepEqual(target.RetryPolicy, { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 });
      assert.deepEqual(target.DeadLetterConfig, { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } });
    }
    const alarm = byType('AWS::CloudWatch::Alarm')
      .map(([, a]) => a)
      .find((a) => JSON.stringify(a.Properties.Dimensions).includes(queueId));
    assert.ok(alarm, 'an alarm watches the failed starts');
  });

  it('stores each rules file in an SSM parameter under the prefix, Advanced tier only above 4 KB', () => {
    const params = byType('AWS::SSM::Parameter').map(([, p]) => p.Properties);
    const named = (n: string) => params.find((p) => p.Name === `/image-migrator/ImageMigrator/rules/${n}`);
    assert.equal(named('nightly')?.Value, JSON.stringify({ 'quay.io/coreos/etcd': 'swr.example.com/mirror/etcd' }));
    assert.equal(named('nightly')?.Tier, 'Standard');
    assert.equal(named('hourly')?.Tier, 'Advanced');
    assert.equal(named('legacy'), undefined, 'the short form leaves the parameter to the user');
  });

  it('serves the webhook on a function URL without IAM auth, keyed by a generated secret', () => {
    const [webhookId, webhook] = functionNamed(/signed push notifications/);
    const [, url] = byType('AWS::Lambda::Url')[0]!;
    assert.equal(byType('AWS::Lambda::Url').length, 1);
    assert.equal(url.Properties.AuthType, 'NONE');
    assert.deepEqual(url.Properties.TargetFunctionArn, { 'Fn::GetAtt': [webhookId, 'Arn'] });
    const [secretId, secret] = byType('AWS::SecretsManager::Secret').find(([id]) => id.includes('WebhookSecret'))!;
    assert.equal(secret.Properties.GenerateSecretString.PasswordLength, 64);
    assert.equal(secret.Properties.SecretString, undefined, 'no key in the template');
    assert.deepEqual(webhook.Properties.Environment.Variables.WEBHOOK_SECRET_ARN, { Ref: secretId });
    assert.ok(outputs.WebhookUrl && outputs.WebhookSecretArn);
  });

  it('lets the webhook read only its own secret and the stored rules', () => {
    const [, webhook] = functionNamed(/signed push notifications/);
    const roleId = webhook.Properties.Role['Fn::GetAtt'][0];
    const statements = byType('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: Json) => r.Ref === roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[]);
    const secretStatements = statements.filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
    assert.equal(secretStatements.length, 1);
    assert.match(JSON.stringify(secretStatements[0]!.Resource), /WebhookSecret/);
    const ssm = statements.find((s) => [s.Action].flat().includes('ssm:GetParametersByPath'))!;
    assert.match(JSON.stringify(ssm.Resource), /parameter\/image-migrator\/ImageMigrator\/rules\/\*/);
  });

  it('sends successful ECR pushes to the ECR push function, with retries and a dead-letter queue', () => {
    const [ecrId] = functionNamed(/ECR push events/);
    const [, rule] = byType('AWS::Events::Rule')[0]!;
    assert.deepEqual(rule.Properties.EventPattern, {
      source: ['aws.ecr'],
      'detail-type': ['ECR Image Action'],
      detail: { 'action-type': ['PUSH'], result: ['SUCCESS'] },
    });
    const target = rule.Properties.Targets[0];
    assert.deepEqual(target.Arn, { 'Fn::GetAtt': [ecrId, 'Arn'] });
    assert.deepEqual(target.RetryPolicy, { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 });
    assert.ok(target.DeadLetterConfig.Arn);
    assert.equal(resources[rule.Properties.Targets[0].DeadLetterConfig.Arn['Fn::GetAtt'][0]]?.Type, 'AWS::SQS::Queue');
  });

  it('passes every cdk-nag AwsSolutions check with the triggers on', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    assert.deepEqual(
      report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`),
      [],
    );
  });
});

describe('schedules context checks', () => {
  const refusal = (schedules: unknown): string => {
    try {
      readSchedules(new App({ context: { schedules } }).node, { registry: 'swr.example.com', namespace: 'x' }, dir);
    } catch (error) {
      return (error as Error).message;
    }
    return 'accepted';
  };

  it('names the schedule and the mistake in a bad expression', () => {
    assert.equal(
      refusal({ a: { expression: 'rate(1 hours)' } }),
      'Invalid CDK context value "schedules": "a": "rate(1 hours)" must be written rate(1 hour)',
    );
    assert.equal(
      refusal({ a: 'rate(5 minute)' }),
      'Invalid CDK context value "schedules": "a": "rate(5 minute)" must be written rate(5 minutes)',
    );
    assert.equal(
      refusal({ a: 'cron(0 3 * * *)' }),
      'Invalid CDK context value "schedules": "a": "cron(0 3 * * *)" must have six fields: cron(minutes hours day-of-month month day-of-week year)',
    );
    assert.equal(
      refusal({ a: 'cron(0 3 * * * *)' }),
      'Invalid CDK context value "schedules": "a": "cron(0 3 * * * *)" must have "?" in exactly one of day-of-month and day-of-week',
    );
  });

  it('refuses an unknown time zone, an unknown field and a missing or invalid rules file', () => {
    assert.equal(
      refusal({ a: { expression: 'rate(1 day)', timeZone: 'Mars/Olympus' } }),
      'Invalid CDK context value "schedules": "a": timeZone "Mars/Olympus" is not an IANA time zone such as "Europe/Paris"',
    );
    assert.equal(
      refusal({ a: { expression: 'rate(1 day)', rule: 'x.json' } }),
      'Invalid CDK context value "schedules": "a": unknown field "rule" (use expression, timeZone, rules)',
    );
    assert.equal(
      refusal({ a: { expression: 'rate(1 day)', rules: 'nope.json' } }),
      `Invalid CDK context value "schedules": "a": the rules file ${join(dir, 'nope.json')} does not exist`,
    );
    writeFileSync(join(dir, 'bad.json'), '{"quay.io/coreos": "swr.example.com/x/etcd"}');
    assert.match(
      refusal({ a: { expression: 'rate(1 day)', rules: 'bad.json' } }),
      /^Invalid CDK context value "schedules": "a": bad\.json: .*rule 1: the source names a namespace or registry/,
    );
  });

  it('resolves empty destinations with the stack defaults and keeps the text as written', () => {
    writeFileSync(join(dir, 'defaults.json'), '{"quay.io/coreos/etcd:3.5": ""}');
    const [s] = readSchedules(
      new App({ context: { schedules: { d: { expression: 'rate(7 days)', rules: 'defaults.json' } } } }).node,
      { registry: 'swr.example.com', namespace: 'x' },
      dir,
    );
    assert.deepEqual(s, { name: 'd', expression: 'rate(7 days)', rulesFile: 'defaults.json', rules: '{"quay.io/coreos/etcd:3.5": ""}' });
    assert.match(refusal({ d: { expression: 'rate(7 days)', rules: join(dir, 'defaults.json') } }), /accepted/);
  });
});
