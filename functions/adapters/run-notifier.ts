/**
 * The run-finished event on EventBridge, so that users can route it to mail, chat or the next step
 * of a pipeline. Put once per run, by whoever recorded the run's last result.
 */
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { RunCounts } from '../../shared/pipeline/ports.js';
import { ImageMigratorError } from '../../shared/errors.js';

/** `source` of the events this project puts. */
export const EVENT_SOURCE = 'image-migrator';
/** `detail-type` of the run-finished event. */
export const RUN_FINISHED = 'Image Migration Run Finished';

/** The detail of a run-finished event: the run's counts and the summary line of Huawei's image-migrator. */
export interface RunFinishedDetail extends RunCounts {
  readonly runId: string;
  readonly trigger: string;
  readonly durationMs: number;
  /** `Images(N) migration finished, X images tasks failed, Y tasks generate failed` */
  readonly line: string;
}

/** Where the run-finished event goes. */
export interface RunNotifier {
  runFinished(detail: RunFinishedDetail): Promise<void>;
}

/** The event could not be put. */
export class NotifyError extends ImageMigratorError {
  public constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Puts run-finished events on an event bus. */
export class EventBridgeRunNotifier implements RunNotifier {
  public constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
  ) {}

  public async runFinished(detail: RunFinishedDetail): Promise<void> {
    const out = await this.client.send(
      new PutEventsCommand({
        Entries: [{ EventBusName: this.eventBusName, Source: EVENT_SOURCE, DetailType: RUN_FINISHED, Detail: JSON.stringify(detail) }],
      }),
    );
    // PutEvents reports per-entry failures in a successful response.
    if ((out.FailedEntryCount ?? 0) > 0) {
      const entry = out.Entries?.[0];
      throw new NotifyError(
        `run-finished event for ${detail.runId} was not put: ${entry?.ErrorCode ?? 'error'} ${entry?.ErrorMessage ?? ''}`.trim(),
      );
    }
  }
}

/** For stacks without an event bus, and tests that only count. */
export class NoRunNotifier implements RunNotifier {
  public readonly sent: RunFinishedDetail[] = [];

  public async runFinished(detail: RunFinishedDetail): Promise<void> {
    this.sent.push(detail);
  }
}
