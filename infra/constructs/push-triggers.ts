/**
 * Runs started by pushes to a source registry:
 * - `webhook: true`: a function URL (auth NONE, so any registry can call it) whose requests must be
 *   signed with HMAC-SHA256 under a generated Secrets Manager secret (functions/handlers/webhook.ts);
 * - `ecrPushEvents: true`: an EventBridge rule on the default bus for successful ECR pushes.
 * Both match the pushed tag against the stored rules under the rules prefix and plan a run.
 */
import { Aws, CfnOutput, Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct, type Node } from 'constructs';
import { StackSettingsError } from '../settings.js';
import { acknowledgeTableIndexes } from '../table-index-finding.js';
import { MigratorFunction } from './migrator-function.js';

/** Which push triggers the stack has (context `webhook` and `ecrPushEvents`, both off by default). */
export interface PushTriggerSettings {
  readonly webhook: boolean;
  readonly ecrPushEvents: boolean;
}

/** Reads the two flags; `true`/`false` as booleans or as `-c` strings. */
export function readPushTriggerSettings(node: Node): PushTriggerSettings {
  const flag = (key: string): boolean => {
    const raw: unknown = node.tryGetContext(key);
    if (raw === undefined || raw === null || raw === '' || raw === false || raw === 'false') return false;
    if (raw === true || raw === 'true') return true;
    throw new StackSettingsError(key, `${JSON.stringify(raw)} must be true or false`);
  };
  return { webhook: flag('webhook'), ecrPushEvents: flag('ecrPushEvents') };
}

/** The ECR event pattern: successful pushes only (deletions and failures start nothing). */
export const ECR_PUSH_PATTERN: events.EventPattern = {
  source: ['aws.ecr'],
  detailType: ['ECR Image Action'],
  detail: { 'action-type': ['PUSH'], result: ['SUCCESS'] },
};

export interface PushTriggersProps {
  readonly settings: PushTriggerSettings;
  /** The pipeline functions' environment (table, queue, bus, rules prefix, defaults). */
  readonly environment: Record<string, string>;
  readonly handlersDir?: string;
  readonly queue: sqs.IQueue;
  readonly table: dynamodb.ITableV2;
  readonly bus: events.IEventBus;
  /** SSM path of the stored rules, ending in `/`. */
  readonly rulesParameterPrefix: string;
}

/** The webhook and the ECR rule, as configured. */
export class PushTriggers extends Construct {
  public readonly webhook?: { readonly fn: MigratorFunction; readonly url: lambda.FunctionUrl; readonly secret: secretsmanager.Secret };
  public readonly ecrPushRule?: events.Rule;

  public constructor(scope: Construct, id: string, props: PushTriggersProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (props.settings.webhook) {
      const secret = new secretsmanager.Secret(this, 'WebhookSecret', {
        description: 'image-migrator webhook signing key: HMAC-SHA256 key of X-Image-Migrator-Signature',
        generateSecretString: { passwordLength: 64, excludePunctuation: true },
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The signing key is configured in each sending registry; rotating it is done by hand with put-secret-value and those registries.',
      });
      const fn = this.pipelineFunction(props, 'Webhook', 'webhook', 'image-migrator: signed push notifications to mirroring runs', {
        WEBHOOK_SECRET_ARN: secret.secretArn,
      });
      secret.grantRead(fn.function);
      // Registries cannot sign AWS requests; the HMAC signature is the authentication.
      const url = fn.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
      this.webhook = { fn, url, secret };
      new CfnOutput(stack, 'WebhookUrl', { value: url.url, description: 'POST signed push notifications here' });
      new CfnOutput(stack, 'WebhookSecretArn', { value: secret.secretArn, description: 'The webhook signing key' });
    }
    if (props.settings.ecrPushEvents) {
      const fn = this.pipelineFunction(props, 'EcrPush', 'ecr-push', 'image-migrator: ECR push events to mirroring runs', {});
      const failed = new sqs.Queue(this, 'FailedEcrPushes', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
      Validations.of(failed).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: 'This queue is itself a dead-letter queue: the ECR push events EventBridge could not deliver to the function.',
      });
      this.ecrPushRule = new events.Rule(this, 'EcrPushRule', {
        description: 'image-migrator: successful ECR pushes start mirroring of covered tags',
        eventPattern: ECR_PUSH_PATTERN,
        targets: [
          new eventTargets.LambdaFunction(fn.function, { retryAttempts: 2, maxEventAge: Duration.hours(1), deadLetterQueue: failed }),
        ],
      });
    }
  }

  /** A function that plans runs: it sends tasks, records runs, puts events and reads stored rules. */
  private pipelineFunction(
    props: PushTriggersProps,
    id: string,
    handler: string,
    description: string,
    extra: Record<string, string>,
  ): MigratorFunction {
    const fn = new MigratorFunction(this, id, {
      handler,
      description,
      environment: { ...props.environment, ...extra },
      handlersDir: props.handlersDir,
      timeout: Duration.seconds(30),
      memorySize: 512,
    });
    props.queue.grantSendMessages(fn.function);
    props.table.grantReadWriteData(fn.function);
    acknowledgeTableIndexes(fn.role, props.table);
    props.bus.grantPutEventsTo(fn.function);
    const prefix = props.rulesParameterPrefix;
    const parameterArn = (path: string): string => `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${path}`;
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetParameter', 'ssm:GetParametersByPath'],
        // GetParametersByPath is authorised on the path itself, GetParameter on each name under it.
        resources: [parameterArn(prefix.replace(/\/$/, '')), parameterArn(`${prefix}*`)],
      }),
    );
    Validations.of(fn.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${prefix}*]`,
      reason: `Stored rules are named by the user; the function reads only the parameters under ${prefix}.`,
    });
    return fn;
  }
}
