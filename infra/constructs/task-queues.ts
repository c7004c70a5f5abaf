/**
 * The task queue, its dead-letter queue and the alarm on the dead-letter queue's depth.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface TaskQueuesProps {
  /** Redeliveries after the first attempt: maxReceiveCount = retries + 1. */
  readonly retries: number;
  /** The copier's timeout: the queue's visibility timeout is six times it. */
  readonly copierTimeout: Duration;
  /** The dead-letter recorder's timeout: the dead-letter queue's visibility timeout is six times it. */
  readonly recorderTimeout: Duration;
}

/**
 * AWS guidance for SQS event sources: a visibility timeout of at least six times the function
 * timeout, so that batches retried by the poller after throttling are not redelivered while a
 * first invocation still works on them.
 */
export const VISIBILITY_FACTOR = 6;

/** Tasks in, failures out: both queues SQS-encrypted and reachable over TLS only. */
export class TaskQueues extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  public readonly maxReceiveCount: number;

  public constructor(scope: Construct, id: string, props: TaskQueuesProps) {
    super(scope, id);
    this.maxReceiveCount = props.retries + 1;
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows: time to find out why tasks died, even though the recorder reads them.
      retentionPeriod: Duration.days(14),
      visibilityTimeout: Duration.seconds(props.recorderTimeout.toSeconds() * VISIBILITY_FACTOR),
    });
    this.queue = new sqs.Queue(this, 'Tasks', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(4),
      visibilityTimeout: Duration.seconds(props.copierTimeout.toSeconds() * VISIBILITY_FACTOR),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: this.maxReceiveCount },
    });
    // The dead-letter recorder empties this queue within seconds; messages that stay visible mean
    // the recorder itself fails, so runs can no longer reach their task count.
    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLettersWaiting', {
      alarmDescription:
        'Messages wait in the image-migrator dead-letter queue: the dlq-recorder function is failing, so runs will not complete.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
