/**
 * Adaptive concurrency per registry host and kind of request (AIMD, as TCP does for its window): each
 * (host, kind) may have `limit` requests in flight. Every answer that is not a throttle adds 1/limit
 * (about one more request per round of answers) up to the cap; a 429 or 503 halves the limit, and a
 * latency that rises well above the fastest seen takes a fifth off, each at most once per cool-down
 * so one burst of refusals counts once. The cap is what the user allows (--workers times the blobs of
 * an image); a quiet registry runs at the cap, exactly as without a limiter.
 *
 * Kinds are grouped so that nothing waits for a permit it holds itself: a blob download's permit is
 * held until its body is consumed, and the upload that consumes it takes a permit of another group.
 * Tokens are not limited.
 */
import type { Readable } from 'node:stream';
import { RequestKind } from './types.js';

/** The groups limited apart. */
type Group = 'manifest' | 'download' | 'upload';

const GROUPS: Partial<Record<RequestKind, Group>> = {
  [RequestKind.TagList]: 'manifest',
  [RequestKind.ManifestGet]: 'manifest',
  [RequestKind.ManifestHead]: 'manifest',
  [RequestKind.ManifestPut]: 'manifest',
  [RequestKind.BlobHead]: 'manifest',
  [RequestKind.BlobGet]: 'download',
  [RequestKind.ForeignBlobGet]: 'download',
  [RequestKind.BlobMount]: 'upload',
  [RequestKind.UploadStart]: 'upload',
  [RequestKind.UploadChunk]: 'upload',
  [RequestKind.UploadStatus]: 'upload',
  [RequestKind.BlobPut]: 'upload',
  [RequestKind.UploadCancel]: 'upload',
};

/** Settings of a limiter. */
export interface AdaptiveLimitOptions {
  /** The most requests in flight per host and group: the user's cap. */
  readonly max: number;
  /** The fewest (default 1). */
  readonly min?: number;
  readonly now?: () => number;
}

/** A granted slot: settle it with the response (or its absence), and it frees itself when the body ends. */
export interface Permit {
  settle(status: number, body?: Readable): void;
}

const NO_PERMIT: Permit = { settle: () => undefined };

/** Latency rises when its average is this many times the fastest seen, and this much slower in ms. */
const LATENCY_FACTOR = 3;
const LATENCY_MARGIN_MS = 200;

class Window {
  public limit: number;
  public inFlight = 0;
  public readonly waiting: (() => void)[] = [];
  public fastest = Infinity;
  public average: number | undefined;
  public lastDecrease = -Infinity;
  public constructor(limit: number) {
    this.limit = limit;
  }
}

/** One limiter serves a whole run (every worker), like the registry's own view of us. */
export class AdaptiveLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly min: number;
  private readonly now: () => number;

  public constructor(private readonly options: AdaptiveLimitOptions) {
    this.min = Math.max(1, options.min ?? 1);
    this.now = options.now ?? Date.now;
  }

  /** The current limit of a host and kind (the cap when nothing was learnt yet). */
  public limitOf(host: string, kind: RequestKind): number {
    const group = GROUPS[kind];
    return group === undefined ? Infinity : Math.floor(this.windows.get(`${host} ${group}`)?.limit ?? this.options.max);
  }

  /** Waits for a slot for a request of `kind` to `host`. */
  public async acquire(host: string, kind: RequestKind): Promise<Permit> {
    const group = GROUPS[kind];
    if (group === undefined) return NO_PERMIT;
    const key = `${host} ${group}`;
    let w = this.windows.get(key);
    if (w === undefined) this.windows.set(key, (w = new Window(Math.max(this.min, this.options.max))));
    if (w.inFlight < Math.floor(w.limit)) w.inFlight++;
    else await new Promise<void>((resolve) => w.waiting.push(resolve));
    const window = w;
    const started = this.now();
    // Upload times grow with the blob's size, so only downloads and manifests judge latency.
    const timed = group !== 'upload';
    let settled = false;
    return {
      settle: (status, body) => {
        if (settled) return;
        settled = true;
        this.learn(window, status, timed ? this.now() - started : undefined);
        if (body === undefined || body.destroyed || body.readableEnded) {
          this.release(window);
          return;
        }
        let released = false;
        const done = (): void => {
          if (released) return;
          released = true;
          this.release(window);
        };
        body.once('end', done).once('close', done).once('error', done);
      },
    };
  }

  private learn(w: Window, status: number, latencyMs: number | undefined): void {
    if (status === 429 || status === 503) {
      this.decrease(w, 0.5);
      return;
    }
    if (status === 0) return;
    if (latencyMs !== undefined) {
      w.fastest = Math.min(w.fastest, latencyMs);
      w.average = w.average === undefined ? latencyMs : 0.8 * w.average + 0.2 * latencyMs;
      if (w.average > LATENCY_FACTOR * w.fastest && w.average - w.fastest > LATENCY_MARGIN_MS) {
        this.decrease(w, 0.8);
        return;
      }
    }
    w.limit = Math.min(this.options.max, w.limit + 1 / w.limit);
  }

  /**
   * One decrease per cool-down of about one round trip (the average latency, at least 10 ms): the
   * answers to requests sent before the decrease say nothing new.
   */
  private decrease(w: Window, factor: number): void {
    const now = this.now();
    const coolDown = Math.max(10, w.average ?? 0);
    if (now - w.lastDecrease < coolDown) return;
    w.lastDecrease = now;
    w.limit = Math.max(this.min, w.limit * factor);
  }

  private release(w: Window): void {
    w.inFlight--;
    while (w.inFlight < Math.floor(w.limit) && w.waiting.length > 0) {
      w.inFlight++;
      w.waiting.shift()?.();
    }
  }
}
