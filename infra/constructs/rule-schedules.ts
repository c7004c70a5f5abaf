/**
 * Schedules that start the planner with stored rules: one EventBridge Scheduler schedule per
 * entry of the `schedules` context. The rules themselves live in SSM Parameter Store under
 * `<rulesParameterPrefix><NAME>` (an images.json document), so they change without a deploy.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import type { ScheduleSetting } from '../settings.js';

export interface RuleSchedulesProps {
  readonly schedules: readonly ScheduleSetting[];
  readonly planner: lambda.IFunction;
  /** SSM parameter path that holds each schedule's rules, ending in `/`. */
  readonly rulesParameterPrefix: string;
}

/** The planner event a schedule sends; the planner reads the rules from the parameter. */
export function scheduledPlannerEvent(prefix: string, name: string): { rulesParameter: string; trigger: string } {
  return { rulesParameter: `${prefix}${name}`, trigger: `schedule:${name}` };
}

/** One schedule per configured name, all invoking the planner through one role. */
export class RuleSchedules extends Construct {
  public constructor(scope: Construct, id: string, props: RuleSchedulesProps) {
    super(scope, id);
    if (props.schedules.length === 0) return;
    const role = new iam.Role(this, 'InvokeRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'Lets image-migrator schedules start the planner, and nothing else',
    });
    const plannerLogicalId = Stack.of(this).resolve((props.planner.node.defaultChild as lambda.CfnFunction).logicalId);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${plannerLogicalId}.Arn>:*]`,
      reason: 'Scheduler may invoke any version or alias of this stack\'s planner function, and no other function.',
    });
    for (const { name, expression } of props.schedules) {
      new scheduler.Schedule(this, `Schedule-${name}`, {
        description: `image-migrator: run the rules stored in ${props.rulesParameterPrefix}${name}`,
        schedule: scheduler.ScheduleExpression.expression(expression),
        target: new targets.LambdaInvoke(props.planner, {
          role,
          input: scheduler.ScheduleTargetInput.fromObject(scheduledPlannerEvent(props.rulesParameterPrefix, name)),
          // A missed run is repaired by the next one: mirroring copies only what changed.
          retryAttempts: 0,
        }),
      });
    }
  }
}
