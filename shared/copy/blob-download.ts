/**
 * A blob's bytes from its source, resumed with `Range` where a download breaks (ResumableDownload), and the one way a
 * blob transfer reports a retry of its own (a resumed download, a resumed or restarted upload): a
 * retry event for the log and the report, then the budget's delay.
 */
import type { Readable } from 'node:stream';
import { DigestMismatchError, ImageMigratorError } from '../errors.js';
import { isUnavailable, type RetryBudget } from '../registry/retry.js';
import { stallReason } from '../registry/stall.js';
import type { BlobCopyContext } from './copy-blob.js';
import type { Descriptor } from './manifest.js';

/** Reports a blob-level retry and waits its delay. */
export async function blobRetry(
  ctx: BlobCopyContext,
  budget: RetryBudget,
  error: unknown,
  kind: string,
  what: string,
  registry: string,
): Promise<void> {
  const delayMs = budget.delayMs(error);
  ctx.onRetry?.({
    level: 'blob',
    kind,
    registry,
    what,
    reason: stallReason(error) ?? (error instanceof Error ? error.message : String(error)),
    attempt: budget.attempts,
    delayMs,
    unavailable: isUnavailable(error),
  });
  await ctx.clock.sleep(delayMs);
}

/** A download cut short without an error from the socket. */
export class ShortBodyError extends ImageMigratorError {
  public readonly retryable = true;
}

/** Ends a body nobody reads any more; its late errors (undici's "aborted") go nowhere. */
function drop(body: Readable): void {
  body.on('error', () => undefined);
  if (!body.destroyed) body.destroy();
}

/**
 * Bytes a download holds for its reader before it is paused, and resumed below a quarter of it:
 * memory stays flat whatever the blob's size, and a download faster than its upload (the usual case)
 * is paused and resumed once per 768 KiB, not per piece (each costs a stop and a start of the socket;
 * 256/128 KiB took 10-30 % more CPU per blob).
 */
const QUEUE_BYTES = 1024 * 1024;

/**
 * The blob's bytes from the source from byte `from` on, resumed with `Range` from the last byte
 * received where the download breaks (a registry that ignores Range is read again from the start,
 * the bytes already received skipped). Retries come out of the transfer's budget, and go on while
 * the reader (an upload) waits. The download starts at once; its reader takes what has arrived with
 * `read()` and waits for more with `readable()`, without a stream in between: the body's `data`
 * events fill a short queue, and the body is paused while the queue is full. `close()` ends it (the
 * reader has given up).
 */
export class ResumableDownload {
  private readonly what: string;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  /** The offset of the next byte to arrive. */
  private received: number;
  /** The body being read; undefined while a download opens, resumes, or after the end. */
  private body: Readable | undefined;
  private paused = false;
  /** Bytes to drop at the start of a body that begins before `received` (a registry that ignored Range). */
  private skip = 0;
  private complete = false;
  private failure: unknown;
  private closed = false;
  private wake: (() => void) | undefined;

  public constructor(
    private readonly ctx: BlobCopyContext,
    private readonly blob: Descriptor,
    private readonly budget: RetryBudget,
    from = 0,
  ) {
    this.what = `blob ${blob.digest} of ${ctx.source.registry}/${ctx.source.repository}`;
    this.received = from;
    // An empty blob needs no download: its digest alone says whether it is the right one.
    if (from < blob.size) void this.open();
    else this.complete = true;
  }

  /**
   * A piece that has arrived; null at the end of the blob, undefined when nothing is there yet (then
   * `readable()` says when to look again). Throws the download's failure once it has given up.
   */
  public read(): Buffer | null | undefined {
    const piece = this.queue.shift();
    if (piece !== undefined) {
      this.queued -= piece.length;
      if (this.paused && this.queued <= QUEUE_BYTES / 4) {
        this.paused = false;
        this.body?.resume();
      }
      return piece;
    }
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the download's error is passed on as it came
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw new ShortBodyError(`${this.what}: the download was stopped`);
    return this.complete ? null : undefined;
  }

  /** Puts back the part of a piece the reader did not take: it is read first next time. */
  public unread(piece: Buffer): void {
    this.queue.unshift(piece);
    this.queued += piece.length;
  }

  /** Resolves when `read()` has something new to say: a piece, the end, or the failure. */
  public readable(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  /** Stops the download: the reader has given up (any later read fails). */
  public close(): void {
    if (this.closed) return;
    this.closed = true;
    const body = this.body;
    this.body = undefined;
    if (body !== undefined) drop(body);
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Opens the download from the next byte to arrive; a failure to open is final (the request was retried already). */
  private async open(): Promise<void> {
    const { ctx, blob } = this;
    try {
      const offset = this.received;
      const download = await (ctx.download?.(blob, offset) ?? ctx.registry.getBlob(ctx.source, blob.digest, offset));
      if (this.closed) return drop(download.body);
      if (download.size !== undefined && download.size !== blob.size) {
        drop(download.body);
        throw new DigestMismatchError(`${blob.size} bytes`, `${download.size} bytes`, this.what);
      }
      this.skip = offset - download.start;
      this.listen(download.body);
    } catch (error) {
      this.fail(error);
    }
  }

  private listen(body: Readable): void {
    this.body = body;
    this.paused = false;
    let over = false;
    const done = (error: unknown): void => {
      if (over) return;
      over = true;
      if (this.body === body) this.broke(body, error);
    };
    body.on('data', (chunk: Buffer) => {
      if (this.body === body) this.arrived(body, chunk);
    });
    body.once('end', () => {
      if (over || this.body !== body) return;
      if (this.received < this.blob.size)
        return done(new ShortBodyError(`${this.what} ended after ${this.received} of ${this.blob.size} bytes`));
      over = true;
      this.body = undefined;
      this.complete = true;
      this.notify();
    });
    body.on('error', done);
    body.on('close', () => {
      if (!over) done(new ShortBodyError(`${this.what} closed after ${this.received} of ${this.blob.size} bytes`));
    });
  }

  private arrived(body: Readable, chunk: Buffer): void {
    let piece = chunk;
    if (this.skip > 0) {
      const dropped = Math.min(this.skip, piece.length);
      this.skip -= dropped;
      piece = piece.subarray(dropped);
      if (piece.length === 0) return;
    }
    if (this.received + piece.length > this.blob.size) {
      return this.broke(body, new DigestMismatchError(`${this.blob.size} bytes`, `more than ${this.blob.size} bytes`, this.what));
    }
    this.received += piece.length;
    this.queue.push(piece);
    this.queued += piece.length;
    if (this.queued >= QUEUE_BYTES && !this.paused) {
      this.paused = true;
      body.pause();
    }
    this.notify();
  }

  /** The body broke: resumed from the next byte within the budget, else the download fails. */
  private broke(body: Readable, error: unknown): void {
    this.body = undefined;
    drop(body);
    if (this.closed) return;
    if (!this.budget.allowsRetry(error)) return this.fail(error);
    void this.resume(error);
  }

  private async resume(error: unknown): Promise<void> {
    try {
      const { ctx } = this;
      await blobRetry(ctx, this.budget, error, 'blob-resume', `${this.what} (resumed at byte ${this.received})`, ctx.source.registry);
    } catch (failure) {
      return this.fail(failure);
    }
    if (!this.closed) await this.open();
  }

  private fail(error: unknown): void {
    if (this.closed) return;
    this.failure ??= error;
    this.notify();
  }
}
