/**
 * What a fleet operator watches: a CloudWatch dashboard of the copier's metrics (tasks copied, up to
 * date and failed, bytes, retries; functions/adapters/run-metrics.ts), the queue's depth and age, the
 * copier's concurrency, errors and duration; and an alarm when tasks fail.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Namespace and names the copier writes (kept in step with functions/adapters/run-metrics.ts). */
const NAMESPACE = 'ImageMigrator';
const SERVICE = { service: 'image-migrator' };

/** What the dashboard shows. */
export interface FleetDashboardProps {
  readonly copier: lambda.IFunction;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly dashboardName: string;
}

/** The dashboard and the failed-tasks alarm. */
export class FleetDashboard extends Construct {
  public readonly failedTasksAlarm: cloudwatch.Alarm;
  public readonly dashboard: cloudwatch.Dashboard;

  public constructor(scope: Construct, id: string, props: FleetDashboardProps) {
    super(scope, id);
    const metric = (metricName: string, label: string, statistic: string = cloudwatch.Stats.SUM): cloudwatch.Metric =>
      new cloudwatch.Metric({ namespace: NAMESPACE, metricName, dimensionsMap: SERVICE, statistic, period: Duration.minutes(1), label });
    const failed = metric('TasksFailed', 'failed');

    this.failedTasksAlarm = new cloudwatch.Alarm(this, 'FailedTasks', {
      alarmDescription: 'image-migrator tasks failed for good (after their retries): see "image-migrator cloud status RUN" for the errors.',
      // No label: a labelled metric is rendered as metric math, which hides the metric's name from the alarm.
      metric: new cloudwatch.Metric({
        namespace: NAMESPACE,
        metricName: 'TasksFailed',
        dimensionsMap: SERVICE,
        statistic: cloudwatch.Stats.SUM,
        period: Duration.minutes(5),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: props.dashboardName });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Tasks per minute',
        width: 12,
        stacked: true,
        left: [metric('TasksCopied', 'copied'), metric('TasksUpToDate', 'up to date'), failed],
      }),
      new cloudwatch.GraphWidget({
        title: 'Bytes copied and retries',
        width: 12,
        left: [metric('BytesCopied', 'bytes')],
        right: [metric('TaskRetries', 'retries')],
      }),
      new cloudwatch.GraphWidget({
        title: 'Task queue',
        width: 12,
        left: [
          props.queue.metricApproximateNumberOfMessagesVisible({ label: 'waiting', period: Duration.minutes(1) }),
          props.queue.metricApproximateNumberOfMessagesNotVisible({ label: 'in flight', period: Duration.minutes(1) }),
          props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ label: 'dead letters', period: Duration.minutes(1) }),
        ],
        right: [props.queue.metricApproximateAgeOfOldestMessage({ label: 'oldest (s)', period: Duration.minutes(1) })],
      }),
      new cloudwatch.GraphWidget({
        title: 'Copier',
        width: 12,
        left: [
          props.copier.metric('ConcurrentExecutions', {
            statistic: cloudwatch.Stats.MAXIMUM,
            label: 'concurrent',
            period: Duration.minutes(1),
          }),
          props.copier.metricErrors({ label: 'errors', period: Duration.minutes(1) }),
          props.copier.metricThrottles({ label: 'throttles', period: Duration.minutes(1) }),
        ],
        right: [props.copier.metricDuration({ statistic: cloudwatch.Stats.p(90), label: 'p90 duration', period: Duration.minutes(1) })],
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 24, alarms: [this.failedTasksAlarm] }),
    );
  }
}
