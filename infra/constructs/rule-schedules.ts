/**
 * Schedules that start the planner with stored rules: one EventBridge Scheduler schedule per
 * entry of the `schedules` context. The rules themselves live in SSM Parameter Store under
 * `<rulesParameterPrefix><NAME>` (an images.json document): written by the stack when the schedule
 * names a rules file, else put there by the user; either way they change without touching the
 * schedule, whose input stays a small pointer.
 */
import { Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { ScheduleSetting } from '../settings.js';

export interface RuleSchedulesProps {
  readonly schedules: readonly ScheduleSetting[];
  readonly planner: lambda.IFunction;
  /** SSM parameter path that holds each schedule's rules, ending in `/`. */
  readonly rulesParameterPrefix: string;
}

/** Invocations Scheduler retries after the first fails (throttling, a planner error). */
export const SCHEDULE_RETRY_ATTEMPTS = 2;
/** A start that could not happen within this time is dropped to the dead-letter queue. */
export const SCHEDULE_MAX_EVENT_AGE = Duration.hours(1);
/** The largest value of a Standard-tier SSM parameter; larger rules need the Advanced tier. */
export const STANDARD_PARAMETER_BYTES = 4096;

/** The planner event a schedule sends; the planner reads the rules from the parameter. */
export function scheduledPlannerEvent(prefix: string, name: string): { rulesParameter: string; trigger: string } {
  return { rulesParameter: `${prefix}${name}`, trigger: `schedule:${name}` };
}

/** One schedule per configured name, all invoking the planner through one role. */
export class RuleSchedules extends Construct {
  /** Scheduler's failed invocations; undefined without schedules. */
  public readonly deadLetterQueue?: sqs.Queue;

  public constructor(scope: Construct, id: string, props: RuleSchedulesProps) {
    super(scope, id);
    if (props.schedules.length === 0) return;
    const role = new iam.Role(this, 'InvokeRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'Lets image-migrator schedules start the planner, and nothing else',
    });
    const plannerLogicalId = String(Stack.of(this).resolve((props.planner.node.defaultChild as lambda.CfnFunction).logicalId));
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${plannerLogicalId}.Arn>:*]`,
      reason: "Scheduler may invoke any version or alias of this stack's planner function, and no other function.",
    });
    const deadLetterQueue = new sqs.Queue(this, 'FailedStarts', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.deadLetterQueue = deadLetterQueue;
    Validations.of(deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the schedules: it holds the planner starts Scheduler gave up on.',
    });
    // A schedule that cannot start the planner fails silently otherwise: nothing else runs.
    new cloudwatch.Alarm(this, 'FailedStartsWaiting', {
      alarmDescription: 'An image-migrator schedule could not start the planner after its retries; the message in the queue says why.',
      metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    for (const setting of props.schedules) {
      const { name, expression, timeZone, rules, rulesFile } = setting;
      if (rules !== undefined) {
        new ssm.StringParameter(this, `Rules-${name}`, {
          parameterName: `${props.rulesParameterPrefix}${name}`,
          description: `image-migrator rules of schedule ${name}, from ${rulesFile ?? 'the configuration'}`,
          stringValue: rules,
          tier: Buffer.byteLength(rules) > STANDARD_PARAMETER_BYTES ? ssm.ParameterTier.ADVANCED : ssm.ParameterTier.STANDARD,
        });
      }
      new scheduler.Schedule(this, `Schedule-${name}`, {
        description: `image-migrator: run the rules stored in ${props.rulesParameterPrefix}${name}`,
        schedule: scheduler.ScheduleExpression.expression(expression, timeZone === undefined ? undefined : TimeZone.of(timeZone)),
        target: new targets.LambdaInvoke(props.planner, {
          role,
          input: scheduler.ScheduleTargetInput.fromObject(scheduledPlannerEvent(props.rulesParameterPrefix, name)),
          retryAttempts: SCHEDULE_RETRY_ATTEMPTS,
          maxEventAge: SCHEDULE_MAX_EVENT_AGE,
          deadLetterQueue,
        }),
      });
    }
  }
}
