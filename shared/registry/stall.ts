/**
 * Stalls of uploads. undici bounds the wait for a response head and between two chunks of a
 * response body; nothing bounds an upload that the other side stops reading. An upload body is an
 * async iterable that undici pulls a chunk at a time, pulling the next once the socket has taken the
 * last: a body that has handed a chunk over and is not pulled again for the stall timeout is stalled,
 * and so is one whose last byte has gone without an answer for that long (the watchdog bounds the
 * wait for the response head of an upload instead of undici's headers timeout, which would also
 * fire, less clearly, on a socket that takes nothing). The watchdog then aborts the request with a
 * StallError. A source that is slow to produce is not a stall of the upload (a pull is then waiting
 * for it): the download feeding it has its own timeout, and is resumed (see
 * shared/copy/blob-download.ts) while the upload waits.
 *
 * The cost per chunk is a counter: one interval per upload looks at it a few times per stall timeout.
 */
import { ImageMigratorError } from '../errors.js';

/** No progress for the stall timeout; transient (`ESTALL`): the request is tried again. */
export class StallError extends ImageMigratorError {
  public readonly code = 'ESTALL';
  public readonly retryable = true;

  public constructor(
    public readonly timeoutMs: number,
    /** The upload's last byte had gone: the registry did not answer. */
    answer = false,
  ) {
    const seconds = Math.round(timeoutMs / 1000);
    super(
      answer ? `stalled: no answer ${seconds} s after the upload's last byte` : `stalled: the connection took no data for ${seconds} s`,
    );
  }
}

/**
 * The words of a stall that undici's own timeouts caught (a response head, or a response body, that
 * did not come for the stall timeout), as the watchdog's stalls read; undefined for any other error.
 */
export function stallReason(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return 'stalled: no answer for the stall timeout (UND_ERR_HEADERS_TIMEOUT)';
  if (code === 'UND_ERR_BODY_TIMEOUT') return 'stalled: the answer took no data for the stall timeout (UND_ERR_BODY_TIMEOUT)';
  return undefined;
}

/** What the watchdog reads of an upload body while undici pulls it. */
export interface PulledBody extends AsyncIterable<Uint8Array> {
  /** Chunks asked for so far. */
  readonly pulls: number;
  /** A pull is waiting for the body's source (not for the connection). */
  readonly waiting: boolean;
  /** The last chunk has been handed over: what follows is the wait for the answer. */
  readonly ended: boolean;
}

/** Looks this many times per stall timeout: a stall is noticed within 1.25 times the timeout. */
const LOOKS_PER_TIMEOUT = 4;

/** Counts the pulls of any async iterable of bytes (a Readable, a generator): one more step per chunk. */
class CountedBody implements PulledBody, AsyncIterator<Uint8Array> {
  public pulls = 0;
  public waiting = false;
  public ended = false;
  private readonly inner: AsyncIterator<Uint8Array>;

  public constructor(source: AsyncIterable<Uint8Array>) {
    this.inner = source[Symbol.asyncIterator]();
  }

  public [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this;
  }

  public next(): Promise<IteratorResult<Uint8Array>> {
    this.pulls += 1;
    this.waiting = true;
    return this.inner.next().then(
      (result) => {
        this.waiting = false;
        if (result.done === true) this.ended = true;
        return result;
      },
      (error: unknown) => {
        this.waiting = false;
        throw error;
      },
    );
  }

  /** undici stops pulling (the request failed): the source is told, so that a Readable is destroyed. */
  public async return(): Promise<IteratorResult<Uint8Array>> {
    this.ended = true;
    return (await this.inner.return?.()) ?? { done: true, value: undefined };
  }
}

function isPulled(body: AsyncIterable<Uint8Array>): body is PulledBody {
  return typeof (body as Partial<PulledBody>).pulls === 'number';
}

/** An upload body under watch: send `body` with `signal`, and `stop()` once the request has settled. */
export interface WatchedUpload {
  readonly body: AsyncIterable<Uint8Array>;
  readonly signal: AbortSignal;
  stop(): void;
}

/**
 * Watches an upload body until `stop()` (the response head has come): when it has not been pulled
 * for `timeoutMs` while no pull waits for its source, or its end has had no answer for as long,
 * `signal` aborts the request with a StallError. A body that counts its own pulls (the copier's, see
 * shared/copy/upload-body.ts) is sent as it is; any other is counted on the way.
 */
export function watchUpload(source: AsyncIterable<Uint8Array>, timeoutMs: number): WatchedUpload {
  const body = isPulled(source) ? source : new CountedBody(source);
  const controller = new AbortController();
  const lookMs = Math.max(1, Math.ceil(timeoutMs / LOOKS_PER_TIMEOUT));
  let seen = body.pulls;
  let idleMs = 0;
  const timer = setInterval(() => {
    if (body.waiting || body.pulls !== seen) {
      seen = body.pulls;
      idleMs = 0;
      return;
    }
    idleMs += lookMs;
    if (idleMs < timeoutMs) return;
    clearInterval(timer);
    controller.abort(new StallError(timeoutMs, body.ended));
  }, lookMs);
  timer.unref();
  return { body, signal: controller.signal, stop: () => clearInterval(timer) };
}
