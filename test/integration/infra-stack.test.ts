/**
 * Template assertions on the synthesized stack. The stack is synthesized once (it is slow) with
 * non-default context values, so every assertion also proves the value flows from context to the
 * template. Bundling is skipped (`aws:cdk:bundling-stacks` = []); `cdk synth` itself bundles.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/build-app.js';
import { AwsSolutionsChecks } from '../../infra/nag.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- template JSON, walked field by field
type Json = Record<string, any>;

const WORKERS = 5;
const RETRIES = 2;
const app = new App({
  context: {
    'aws:cdk:bundling-stacks': [],
    workers: String(WORKERS), // as `-c workers=5` passes it
    retries: RETRIES,
    copierTimeoutMinutes: 12,
    runState: 'false', // as `-c runState=false` passes it
    copierMemoryMb: '1769', // as `-c copierMemoryMb=1769` passes it
    schedules: { nightly: 'rate(1 day)' },
    defaultRegistry: 'swr.example.com',
    ecrDestinations: '["team/*", "mirror/app"]', // as `-c ecrDestinations='[...]'` passes it
    ecrSources: ['arn:aws:ecr:us-west-2:111122223333:repository/base/*'],
  },
});
const stack = buildApp(app);
const template = Template.fromStack(stack);
const json: Json = template.toJSON();
const resources: Record<string, Json> = json.Resources;

function logicalIdsOf(type: string): string[] {
  return Object.keys(template.findResources(type));
}
function only(type: string, predicate: (r: Json, logicalId: string) => boolean = () => true): [string, Json] {
  const found = Object.entries(template.findResources(type)).filter(([id, r]) => predicate(r, id));
  assert.equal(found.length, 1, `exactly one ${type}`);
  return found[0]!;
}
const [tasksQueueId, tasksQueue] = only('AWS::SQS::Queue', (r) => r.Properties.RedrivePolicy !== undefined);
// The schedules keep their own dead-letter queue (Scheduler's failed starts); the pipeline's is the other one.
const [dlqId, dlq] = only('AWS::SQS::Queue', (r, id) => r.Properties.RedrivePolicy === undefined && !id.startsWith('Schedules'));
const [schedulesDlqId, schedulesDlq] = only('AWS::SQS::Queue', (_, id) => id.startsWith('Schedules'));
const [, copierMapping] = only('AWS::Lambda::EventSourceMapping', (r) => r.Properties.EventSourceArn['Fn::GetAtt'][0] === tasksQueueId);
const [, dlqMapping] = only('AWS::Lambda::EventSourceMapping', (r) => r.Properties.EventSourceArn['Fn::GetAtt'][0] === dlqId);
const copierFunction = resources[copierMapping.Properties.FunctionName.Ref]!;
const recorderFunction = resources[dlqMapping.Properties.FunctionName.Ref]!;
const [secretId, secret] = only('AWS::SecretsManager::Secret');
const [tableId, table] = only('AWS::DynamoDB::GlobalTable');

describe('image-migrator stack template', () => {
  it('redrives a task to the dead-letter queue after retries + 1 receives', () => {
    assert.deepEqual(tasksQueue.Properties.RedrivePolicy, {
      deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      maxReceiveCount: RETRIES + 1,
    });
  });

  it('runs at most `workers` copiers, one task per batch, with partial batch responses', () => {
    assert.equal(copierMapping.Properties.ScalingConfig.MaximumConcurrency, WORKERS);
    assert.equal(copierMapping.Properties.BatchSize, 1);
    assert.deepEqual(copierMapping.Properties.FunctionResponseTypes, ['ReportBatchItemFailures']);
    assert.deepEqual(dlqMapping.Properties.FunctionResponseTypes, ['ReportBatchItemFailures']);
  });

  it('keeps each queue invisible for at least six times its consumer timeout', () => {
    assert.equal(copierFunction.Properties.Timeout, 12 * 60);
    assert.equal(copierFunction.Properties.MemorySize, 1769);
    assert.ok(tasksQueue.Properties.VisibilityTimeout >= 6 * copierFunction.Properties.Timeout);
    assert.ok(dlq.Properties.VisibilityTimeout >= 6 * recorderFunction.Properties.Timeout);
  });

  it('tells the functions the receive limit and where everything is, and nothing they do not read', () => {
    const env = copierFunction.Properties.Environment.Variables;
    assert.equal(env.MAX_RECEIVE_COUNT, String(RETRIES + 1));
    // The workers limit is the event source's maximum concurrency; no function reads it or the DLQ's URL.
    assert.equal(env.WORKERS, undefined);
    assert.equal(env.RUN_TTL_DAYS, '30');
    assert.equal(env.RUN_STATE, 'off');
    assert.equal(env.RULES_PARAMETER_PREFIX, '/image-migrator/ImageMigrator/rules/');
    assert.equal(env.DEFAULT_REGISTRY, 'swr.example.com');
    assert.equal(env.DEFAULT_NAMESPACE, undefined);
    assert.deepEqual(env.TABLE_NAME, { Ref: tableId });
    assert.deepEqual(env.QUEUE_URL, { Ref: tasksQueueId });
    assert.equal(env.DLQ_URL, undefined);
    assert.deepEqual(env.AUTH_SECRET_ARN, { Ref: secretId });
    for (const key of ['EVENT_BUS_NAME', 'POWERTOOLS_SERVICE_NAME']) assert.ok(env[key], key);
  });

  it('encrypts every queue and denies each to any request without TLS', () => {
    for (const queue of [tasksQueue, dlq, schedulesDlq]) assert.equal(queue.Properties.SqsManagedSseEnabled, true);
    const denied = Object.values(template.findResources('AWS::SQS::QueuePolicy')).flatMap((p) =>
      p.Properties.PolicyDocument.Statement.filter(
        (s: Json) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false',
      ).map((s: Json) => s.Resource['Fn::GetAtt'][0]),
    );
    assert.deepEqual(denied.sort(), [dlqId, schedulesDlqId, tasksQueueId].sort());
  });

  it('keeps runs in an on-demand table with pk/sk, point-in-time recovery and TTL', () => {
    const p = table.Properties;
    assert.deepEqual(p.KeySchema, [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
    assert.deepEqual(p.TimeToLiveSpecification, { AttributeName: 'expiresAt', Enabled: true });
    assert.equal(p.Replicas[0].PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled, true);
  });

  it('puts no credential in the template: the secret starts as the empty auth.json', () => {
    assert.equal(secret.Properties.SecretString, '{}');
    assert.equal(secret.Properties.GenerateSecretString, undefined);
    assert.doesNotMatch(JSON.stringify(json), /password|username/i);
  });

  it('keeps failed tasks in a sparse index that the summary pages through', () => {
    const table =
      Object.values(template.findResources('AWS::DynamoDB::GlobalTable'))[0] ??
      Object.values(template.findResources('AWS::DynamoDB::Table'))[0];
    const indexes = (table?.Properties.GlobalSecondaryIndexes ?? []) as Json[];
    assert.deepEqual(
      indexes.map((i) => [i.IndexName, i.KeySchema.map((k: Json) => k.AttributeName)]),
      [['failures', ['failedRun', 'sk']]],
    );
  });

  it('grants only on this stack\'s queues, table and secret, never on "*"', () => {
    const allowed: Record<string, unknown[]> = {
      // The schedules' queue: Scheduler's invoke role sends the starts it gave up on there.
      sqs: [tasksQueueId, dlqId, schedulesDlqId].map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] })),
      // The table and its sparse failures index.
      dynamodb: [{ 'Fn::GetAtt': [tableId, 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [tableId, 'Arn'] }, '/index/*']] }],
      secretsmanager: [{ Ref: secretId }],
    };
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Json[],
    );
    assert.ok(statements.length > 0);
    for (const statement of statements) {
      const actions: string[] = [statement.Action].flat();
      const targets: unknown[] = [statement.Resource].flat();
      // ECR's token is the one action without resource-level permissions.
      if (actions.join() !== 'ecr:GetAuthorizationToken') assert.ok(!targets.includes('*'), `no "*" resource for ${actions.join(', ')}`);
      for (const service of new Set(actions.map((a) => a.split(':')[0]!))) {
        if (allowed[service] === undefined) continue;
        for (const target of targets) {
          assert.ok(
            allowed[service].some((a) => JSON.stringify(a) === JSON.stringify(target)),
            `${service} grant on ${JSON.stringify(target)}`,
          );
        }
      }
    }
    const secretReaders = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) =>
        (p.Properties.PolicyDocument.Statement as Json[]).some(
          (s) =>
            [s.Action].flat().includes('secretsmanager:GetSecretValue') &&
            [s.Resource].flat().some((r) => JSON.stringify(r) === JSON.stringify({ Ref: secretId })),
        ),
      )
      .flatMap((p) => p.Properties.Roles as Json[]);
    assert.deepEqual(
      secretReaders,
      [{ Ref: copierFunction.Properties.Role['Fn::GetAtt'][0] }],
      'only the copier, which talks to registries, reads the auth secret',
    );
    const schedulesDlqArn = JSON.stringify({ 'Fn::GetAtt': [schedulesDlqId, 'Arn'] });
    const onSchedulesDlq = statements.filter((s) => [s.Resource].flat().some((t) => JSON.stringify(t) === schedulesDlqArn));
    assert.deepEqual(
      onSchedulesDlq.map((s) => s.Action),
      ['sqs:SendMessage'],
      'the schedules queue is only sent to',
    );
  });

  it('lets only the copier reach ECR, and only the repositories named in context', () => {
    const copierRole = copierFunction.Properties.Role['Fn::GetAtt'][0];
    const ecrStatements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as Json[])
        .filter((s) => [s.Action].flat().some((a: string) => a.startsWith('ecr')))
        .map((s) => ({ roles: p.Properties.Roles as Json[], actions: [s.Action].flat() as string[], resources: [s.Resource].flat() })),
    );
    for (const s of ecrStatements) assert.deepEqual(s.roles, [{ Ref: copierRole }]);
    const own = (name: string) => ({
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':ecr:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:repository/${name}`],
      ],
    });
    const grants = new Map(ecrStatements.map((s) => [JSON.stringify(s.resources), s.actions]));
    assert.deepEqual(grants.get(JSON.stringify(['*'])), ['ecr:GetAuthorizationToken']);
    const pushed = grants.get(JSON.stringify([own('team/*'), own('mirror/app')]));
    for (const action of [
      'ecr:PutImage',
      'ecr:InitiateLayerUpload',
      'ecr:CompleteLayerUpload',
      'ecr:CreateRepository',
      'ecr:DescribeRepositories',
      'ecr:BatchGetImage',
    ]) {
      assert.ok(pushed?.includes(action), action);
    }
    const pulled = grants.get(JSON.stringify(['arn:aws:ecr:us-west-2:111122223333:repository/base/*']));
    assert.ok(pulled?.includes('ecr:BatchGetImage') && pulled.includes('ecr:GetDownloadUrlForLayer'));
    assert.ok(!pulled?.some((a) => a === 'ecr:PutImage' || a === 'ecr:CreateRepository'), 'sources are only pulled from');
    assert.equal(grants.size, 3);
  });

  it('bundles four Node.js functions for ARM64 with their own log groups kept a month', () => {
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    assert.equal(functions.length, 4);
    for (const fn of functions) {
      assert.equal(fn.Properties.Runtime, 'nodejs24.x');
      assert.deepEqual(fn.Properties.Architectures, ['arm64']);
      assert.ok(fn.Properties.LoggingConfig.LogGroup.Ref);
    }
    const retention = Object.values(template.findResources('AWS::Logs::LogGroup')).map((g) => g.Properties.RetentionInDays);
    assert.deepEqual(retention, [30, 30, 30, 30]);
    assert.equal(logicalIdsOf('Custom::LogRetention').length, 0);
  });

  it('alarms when messages wait in the dead-letter queue', () => {
    const [, alarm] = only(
      'AWS::CloudWatch::Alarm',
      (r) =>
        JSON.stringify(r.Properties.Dimensions) === JSON.stringify([{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }]),
    );
    assert.equal(alarm.Properties.MetricName, 'ApproximateNumberOfMessagesVisible');
    assert.deepEqual(alarm.Properties.Dimensions[0].Value, { 'Fn::GetAtt': [dlqId, 'QueueName'] });
    assert.equal(alarm.Properties.Threshold, 1);
  });

  it('alarms on failed tasks and shows the fleet metrics on a dashboard', () => {
    const [, alarm] = only('AWS::CloudWatch::Alarm', (r) => r.Properties.MetricName === 'TasksFailed');
    assert.equal(alarm.Properties.Namespace, 'ImageMigrator');
    assert.deepEqual(alarm.Properties.Dimensions, [{ Name: 'service', Value: 'image-migrator' }]);
    assert.equal(alarm.Properties.Statistic, 'Sum');
    assert.equal(alarm.Properties.Threshold, 1);
    const [, dashboard] = only('AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const name of ['TasksCopied', 'TasksUpToDate', 'TasksFailed', 'BytesCopied', 'TaskRetries', 'ConcurrentExecutions'])
      assert.match(body, new RegExp(name));
  });

  it('starts the planner on schedule with the stored rules of that schedule', () => {
    const [, schedule] = only('AWS::Scheduler::Schedule');
    assert.equal(schedule.Properties.ScheduleExpression, 'rate(1 day)');
    assert.deepEqual(JSON.parse(schedule.Properties.Target.Input), {
      rulesParameter: '/image-migrator/ImageMigrator/rules/nightly',
      trigger: 'schedule:nightly',
    });
  });

  it('exports the outputs the cloud CLI reads', () => {
    const names = Object.keys(json.Outputs).sort();
    for (const name of ['PlannerFunctionName', 'SummaryFunctionName', 'QueueUrl', 'TableName', 'AuthSecretArn', 'EventBusName']) {
      assert.ok(names.includes(name), name);
    }
  });

  it('passes every cdk-nag AwsSolutions check', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    assert.deepEqual(
      report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`),
      [],
    );
    assert.equal(report.success, true);
  });
});
