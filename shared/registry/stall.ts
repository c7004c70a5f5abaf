/**
 * Stalls of uploads. undici bounds the wait for a response head and between two chunks of a
 * response body; nothing bounds an upload that the other side stops reading. The watchdog passes an
 * upload body through and fails it with a StallError when bytes are waiting to be sent and the
 * connection has taken none of them for the stall timeout, which aborts the request. A source that
 * is slow to produce is not a stall of the upload: the download feeding it has its own timeout, and
 * is resumed (see copy-blob.ts) while the upload waits.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { ImageMigratorError } from '../errors.js';

/** No progress for the stall timeout; transient (`ESTALL`): the request is tried again. */
export class StallError extends ImageMigratorError {
  public readonly code = 'ESTALL';
  public readonly retryable = true;

  public constructor(public readonly timeoutMs: number) {
    super(`stalled: the connection took no data for ${Math.round(timeoutMs / 1000)} s`);
  }
}

/** A pass-through that notices when its consumer stops reading while data waits. */
class WatchedStream extends Transform {
  private timer: NodeJS.Timeout | undefined;

  public constructor(private readonly timeoutMs: number) {
    super();
  }

  public override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.push(chunk);
    if (this.timer === undefined && this.readableLength > 0) this.arm();
    callback();
  }

  public override _read(size: number): void {
    // The consumer (the socket) wants more: it took what was there.
    this.disarm();
    super._read(size);
    if (this.readableLength > 0) this.arm();
  }

  public override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.disarm();
    callback(error);
  }

  public override _flush(callback: TransformCallback): void {
    callback();
  }

  private arm(): void {
    this.disarm();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.readableLength > 0 && !this.destroyed) this.destroy(new StallError(this.timeoutMs));
    }, this.timeoutMs);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Watches an upload body: `stream` is what goes on the wire. */
export class StallWatchdog {
  public readonly stream: Transform;

  public constructor(source: Readable, timeoutMs: number) {
    this.stream = new WatchedStream(timeoutMs);
    source.on('error', (error) => this.stream.destroy(error));
    this.stream.on('error', () => {
      if (!source.destroyed) source.destroy();
    });
    // A source that failed before the request went out (a small blob whose digest check failed at once).
    if (source.errored !== null && source.errored !== undefined) {
      this.stream.destroy(source.errored);
      return;
    }
    source.pipe(this.stream);
  }
}
