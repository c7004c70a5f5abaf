/**
 * Fleet metrics in CloudWatch's embedded metric format (Powertools Metrics): each recorded task adds
 * TasksCopied, TasksUpToDate or TasksFailed, and BytesCopied; each redelivery scheduled adds
 * TaskRetries. The run id travels as metadata of the same log line, not as a dimension: a dimension
 * per run would be a new custom metric (billed monthly) for every run, while Logs Insights can still
 * sum a run's figures from the metadata. The stack's dashboard and failed-tasks alarm read these.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { TaskResult } from '../../shared/pipeline/task.js';
import { optionalEnv } from './env.js';

/** The namespace of the pipeline's metrics (the stack's dashboard and alarm use it too). */
export const METRICS_NAMESPACE = 'ImageMigrator';
export const METRIC = {
  copied: 'TasksCopied',
  upToDate: 'TasksUpToDate',
  failed: 'TasksFailed',
  bytes: 'BytesCopied',
  retries: 'TaskRetries',
} as const;

/** Where the copier reports what it did. */
export interface RunMetrics {
  taskRecorded(runId: string, result: TaskResult): void;
  taskRetried(runId: string): void;
}

/** Metrics written to the function's log as EMF, one line per event. */
export class EmfRunMetrics implements RunMetrics {
  private readonly metrics: Metrics;

  public constructor(metrics?: Metrics) {
    this.metrics =
      metrics ?? new Metrics({ namespace: METRICS_NAMESPACE, serviceName: optionalEnv('POWERTOOLS_SERVICE_NAME') ?? 'image-migrator' });
  }

  public taskRecorded(runId: string, result: TaskResult): void {
    const name = result.outcome === 'copied' ? METRIC.copied : result.outcome === 'up-to-date' ? METRIC.upToDate : METRIC.failed;
    this.publish(runId, [
      [name, MetricUnit.Count, 1],
      [METRIC.bytes, MetricUnit.Bytes, result.bytes],
    ]);
  }

  public taskRetried(runId: string): void {
    this.publish(runId, [[METRIC.retries, MetricUnit.Count, 1]]);
  }

  private publish(runId: string, values: [string, (typeof MetricUnit)[keyof typeof MetricUnit], number][]): void {
    for (const [name, unit, value] of values) this.metrics.addMetric(name, unit, value);
    this.metrics.addMetadata('runId', runId);
    this.metrics.publishStoredMetrics();
  }
}
