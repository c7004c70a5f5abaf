/**
 * Stalls of uploads. undici bounds the wait for a response head and between two chunks of a
 * response body; nothing bounds an upload that the other side stops reading (or a source stream
 * feeding it that stops producing). The watchdog passes an upload body through and fails it with a
 * StallError when no chunk has moved for the stall timeout, which aborts the request.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { ImageMigratorError } from '../errors.js';

/** No progress for the stall timeout; transient (`ESTALL`): the request is tried again. */
export class StallError extends ImageMigratorError {
  public readonly code = 'ESTALL';
  public readonly retryable = true;

  public constructor(public readonly timeoutMs: number) {
    super(`stalled: no progress for ${Math.round(timeoutMs / 1000)} s`);
  }
}

/** Watches a stream: fails it when no chunk has gone through for `timeoutMs`. */
export class StallWatchdog {
  public readonly stream: Transform;
  private timer: NodeJS.Timeout | undefined;

  public constructor(source: Readable, private readonly timeoutMs: number) {
    const arm = (): void => this.arm();
    this.stream = new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
        arm();
        callback(null, chunk);
      },
    });
    // Backpressure from the socket keeps `transform` from being called, so a destination that stops
    // reading stops the resets as surely as a source that stops sending.
    this.stream.on('close', () => this.disarm());
    this.stream.on('end', () => this.disarm());
    source.on('error', (error) => this.stream.destroy(error));
    this.stream.on('error', () => {
      this.disarm();
      if (!source.destroyed) source.destroy();
    });
    // A source that failed before the request went out (a small blob whose digest check failed at once).
    if (source.errored !== null && source.errored !== undefined) {
      this.stream.destroy(source.errored);
      return;
    }
    source.pipe(this.stream);
    this.arm();
  }

  private arm(): void {
    this.disarm();
    this.timer = setTimeout(() => this.stream.destroy(new StallError(this.timeoutMs)), this.timeoutMs);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
