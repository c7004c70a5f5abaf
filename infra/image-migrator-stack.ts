/**
 * The image-migrator pipeline on AWS: planner -> SQS -> copier -> DynamoDB -> summary, with a
 * dead-letter recorder so that every task ends recorded, a secret for auth.json, an event bus for
 * run-finished events and optional schedules. Every grant names this stack's own resources.
 */
import { Aws, CfnOutput, Duration, RemovalPolicy, SecretValue, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { grantEcr } from './constructs/ecr-grants.js';
import { FleetDashboard } from './constructs/fleet-dashboard.js';
import { MigratorFunction } from './constructs/migrator-function.js';
import { readEcrSettings } from './ecr-settings.js';
import { PushTriggers, readPushTriggerSettings } from './constructs/push-triggers.js';
import { RuleSchedules } from './constructs/rule-schedules.js';
import { TaskQueues } from './constructs/task-queues.js';
import type { StackSettings } from './settings.js';
import { acknowledgeTableIndexes } from './table-index-finding.js';

export interface ImageMigratorStackProps extends StackProps {
  readonly settings: StackSettings;
  /** Where the handler files are; functions/handlers/ of the project unless given. */
  readonly handlersDir?: string;
}

/**
 * Copier batch size. One task per invocation: a task can take minutes, the timeout then bounds one
 * task rather than ten, a failure or a crash redelivers only its own message, and the event
 * source's maximum concurrency is exactly the number of copies in flight, as `--workers` is locally.
 */
export const COPIER_BATCH_SIZE = 1;

/** The names of the stack outputs the cloud CLI reads. */
export const StackOutput = {
  PlannerFunctionName: 'PlannerFunctionName',
  SummaryFunctionName: 'SummaryFunctionName',
  QueueUrl: 'QueueUrl',
  DeadLetterQueueUrl: 'DeadLetterQueueUrl',
  TableName: 'TableName',
  AuthSecretArn: 'AuthSecretArn',
  EventBusName: 'EventBusName',
  RulesParameterPrefix: 'RulesParameterPrefix',
} as const;

/** The whole pipeline in one stack. */
export class ImageMigratorStack extends Stack {
  public readonly queues: TaskQueues;
  public readonly table: dynamodb.TableV2;
  public readonly authSecret: secretsmanager.Secret;
  public readonly functions: Readonly<Record<'planner' | 'copier' | 'summary' | 'dlqRecorder', MigratorFunction>>;

  public constructor(scope: Construct, id: string, props: ImageMigratorStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const copierTimeout = Duration.minutes(settings.copierTimeoutMinutes);
    const recorderTimeout = Duration.seconds(30);
    const rulesParameterPrefix = `/image-migrator/${settings.stackName}/rules/`;

    this.queues = new TaskQueues(this, 'Queues', { retries: settings.retries, copierTimeout, recorderTimeout });
    const { queue, deadLetterQueue } = this.queues;

    this.table = new dynamodb.TableV2(this, 'Runs', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      // Run records are working state that TTL expires anyway; teardown should not leave them.
      removalPolicy: RemovalPolicy.DESTROY,
      // Sparse: only failed task items carry `failedRun`, so a run's failures page without a scan.
      globalSecondaryIndexes: [
        {
          indexName: 'failures',
          partitionKey: { name: 'failedRun', type: dynamodb.AttributeType.STRING },
          sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
          projectionType: dynamodb.ProjectionType.INCLUDE,
          nonKeyAttributes: ['taskId', 'source', 'destination', 'status', 'error', 'attempts', 'bytes', 'durationMs'],
        },
      ],
    });

    // The template holds only an empty auth.json ("{}": every registry anonymous). `cloud auth put`
    // stores the real document; later deploys keep it, as CloudFormation only writes SecretString
    // when the template's value changes.
    this.authSecret = new secretsmanager.Secret(this, 'Auth', {
      description: 'image-migrator auth.json: registry credentials, stored by "image-migrator cloud auth put"',
      secretStringValue: SecretValue.unsafePlainText('{}'),
    });
    Validations.of(this.authSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'The secret holds credentials of third-party registries, which only their owners can rotate; "cloud auth put" replaces them.',
    });

    const bus = new events.EventBus(this, 'Events', { description: 'image-migrator run-finished events' });

    const environment: Record<string, string> = {
      TABLE_NAME: this.table.tableName,
      QUEUE_URL: queue.queueUrl,
      AUTH_SECRET_ARN: this.authSecret.secretArn,
      EVENT_BUS_NAME: bus.eventBusName,
      MAX_RECEIVE_COUNT: String(this.queues.maxReceiveCount),
      RUN_TTL_DAYS: String(settings.runTtlDays),
      RUN_STATE: settings.runState ? 'on' : 'off',
      POWERTOOLS_SERVICE_NAME: 'image-migrator',
      RULES_PARAMETER_PREFIX: rulesParameterPrefix,
      ...(settings.defaultRegistry === undefined ? {} : { DEFAULT_REGISTRY: settings.defaultRegistry }),
      ...(settings.defaultNamespace === undefined ? {} : { DEFAULT_NAMESPACE: settings.defaultNamespace }),
    };
    const common = { environment, handlersDir: props.handlersDir };
    const planner = new MigratorFunction(this, 'Planner', {
      ...common,
      handler: 'planner',
      description: 'image-migrator: expands rules into tag tasks and sends them to the task queue',
      timeout: Duration.minutes(5),
      // Measured (bundled planner, 1 vCPU): 100,000 rules take 140 MB and 2.8 s of CPU above its
      // base; 500,000 (about the most a 6 MB event holds gzipped) 650 MB and 12.5 s, plus sending 619
      // slices. 2,048 MB leaves room for longer names and gives a full vCPU: under 30 s of a 5-minute
      // timeout for the largest input. Copiers send the tasks (plan slices), so nothing else grows.
      memorySize: 2048,
    });
    const copier = new MigratorFunction(this, 'Copier', {
      ...common,
      handler: 'copier',
      description: 'image-migrator: copies one image per task and records the result',
      // 10 minutes by default: at the ~70 MiB/s measured at 1,024 MB a task may stream about 40 GiB.
      timeout: copierTimeout,
      // Memory buys the copier CPU, not room: settings.ts (DEFAULT_SETTINGS.copierMemoryMb) has the measurement and the choice.
      memorySize: settings.copierMemoryMb,
    });
    const summary = new MigratorFunction(this, 'Summary', {
      ...common,
      handler: 'summary',
      description: 'image-migrator: counts and failures of a run, and the summary line',
      timeout: Duration.minutes(1),
      memorySize: 512,
    });
    const dlqRecorder = new MigratorFunction(this, 'DlqRecorder', {
      ...common,
      handler: 'dlq-recorder',
      description: 'image-migrator: records every task that reached the dead-letter queue as failed',
      timeout: recorderTimeout,
      memorySize: 256,
    });
    this.functions = { planner, copier, summary, dlqRecorder };

    copier.function.addEventSource(
      new SqsEventSource(queue, {
        batchSize: COPIER_BATCH_SIZE,
        maxConcurrency: settings.workers,
        reportBatchItemFailures: true,
      }),
    );
    dlqRecorder.function.addEventSource(
      new SqsEventSource(deadLetterQueue, { batchSize: 10, maxConcurrency: 2, reportBatchItemFailures: true }),
    );

    // Least privilege: each function gets the actions it uses, on this stack's resources only.
    queue.grantSendMessages(planner.function);
    // The copier may enqueue too: rules whose tags must be listed are expanded by the copier fleet.
    queue.grantSendMessages(copier.function);
    this.table.grantReadWriteData(planner.function);
    this.table.grantReadWriteData(copier.function);
    this.table.grantReadWriteData(dlqRecorder.function);
    this.table.grantReadData(summary.function);
    for (const fn of [planner, copier, dlqRecorder, summary]) acknowledgeTableIndexes(fn.role, this.table);
    // Only the copier talks to registries: the planner lists no tags (expansions run on the copiers).
    this.authSecret.grantRead(copier.function);
    // ECR hosts without a login in the secret are reached with the copier's role: only the named repositories.
    grantEcr(copier.role, readEcrSettings(this.node));
    for (const fn of [planner, copier, summary, dlqRecorder]) bus.grantPutEventsTo(fn.function);
    // Pseudo parameters rather than the stack's environment, so the ARN (and the finding id below)
    // is the same whether or not synth knows the account.
    const rulesParameterArn = `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${rulesParameterPrefix}*`;
    planner.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ssm:GetParameter'], resources: [rulesParameterArn] }));
    Validations.of(planner.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${rulesParameterPrefix}*]`,
      reason: `Schedules are named by the user at deploy time; the planner reads only the parameters under ${rulesParameterPrefix}.`,
    });

    new FleetDashboard(this, 'Fleet', { copier: copier.function, queue, deadLetterQueue, dashboardName: `${settings.stackName}-fleet` });

    new RuleSchedules(this, 'Schedules', {
      schedules: settings.schedules,
      planner: planner.function,
      rulesParameterPrefix,
    });
    new PushTriggers(this, 'Push', {
      settings: readPushTriggerSettings(this.node),
      environment,
      handlersDir: props.handlersDir,
      queue,
      table: this.table,
      bus,
      rulesParameterPrefix,
    });

    const outputs: Record<keyof typeof StackOutput, string> = {
      PlannerFunctionName: planner.function.functionName,
      SummaryFunctionName: summary.function.functionName,
      QueueUrl: queue.queueUrl,
      DeadLetterQueueUrl: deadLetterQueue.queueUrl,
      TableName: this.table.tableName,
      AuthSecretArn: this.authSecret.secretArn,
      EventBusName: bus.eventBusName,
      RulesParameterPrefix: rulesParameterPrefix,
    };
    for (const [name, value] of Object.entries(outputs)) new CfnOutput(this, name, { value });
  }
}
