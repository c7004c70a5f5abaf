/**
 * The one retry policy of image-migrator: which failures are transient and which permanent (by
 * network error, HTTP status and the distribution spec's error codes), how long to wait before the
 * next try (exponential backoff with full jitter, or the server's `Retry-After`), how many tries a
 * budget allows, and the per-registry backoff state that every worker shares. Every layer (request,
 * blob transfer, task, SQS redelivery) asks this module; none has a rule of its own.
 *
 * The budget: `retries` (the CLI's `--retries`) is the number of retries of one operation at the
 * lowest layer that can repeat it. An error that used up its budget is marked exhausted, and no layer
 * above retries it again, so the layers never multiply. A registry that is unavailable (connection
 * refused, 502/503/504, 429) is waited for without using up the count, within `outageMs` counted
 * from when it was first found unavailable with no success since, for the whole run: a rolling
 * restart costs time, not failed tasks, and a registry that refuses everything is given up once.
 * `retries: 0` means no retry at any layer.
 */
import { ConfigError, DigestMismatchError, ImageMigratorError, InvalidReferenceError, UnsupportedManifestError } from '../errors.js';

/** Time as the retry logic sees it; injectable so that tests of retries need no real sleeps. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** The real clock. */
export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Retry settings of one layer. */
export interface RetryPolicy {
  /** Total tries including the first (retries + 1). */
  readonly attempts: number;
  readonly baseDelayMs: number;
  /** Cap of a computed delay and of a server's Retry-After. */
  readonly maxDelayMs: number;
  /** How long one operation waits for an unavailable registry before giving up (0 when attempts is 1). */
  readonly outageMs: number;
}

/** 4 tries (`--retries 3`), 500 ms base, 30 s cap, 60 s of waiting for an unavailable registry. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 500, maxDelayMs: 30_000, outageMs: 60_000 };

/** Fills in defaults and rejects nonsense (attempts below 1, negative delays). */
export function retryPolicy(options: Partial<RetryPolicy> | undefined): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...stripUndefined(options ?? {}) };
  return {
    attempts: Math.max(1, Math.floor(policy.attempts)),
    baseDelayMs: Math.max(0, policy.baseDelayMs),
    maxDelayMs: Math.max(0, policy.maxDelayMs),
    outageMs: Math.max(0, policy.outageMs),
  };
}

/** The policy of `--retries N`. */
export function retriesPolicy(retries: number, base: Partial<RetryPolicy> = {}): RetryPolicy {
  return retryPolicy({ ...base, attempts: retries + 1 });
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Delay before retry number `retry` (0 for the first retry): uniform in [0, min(max, base * 2^retry)].
 * `random` is injectable so the bounds can be tested.
 */
export function backoffDelay(
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  retry: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/**
 * `Retry-After` in milliseconds: delta-seconds or an HTTP date, capped at `maxMs`; undefined when
 * absent or unreadable. A date in the past means "now".
 */
export function parseRetryAfter(value: string | string[] | undefined, maxMs: number, now: number = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Math.min(maxMs, Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.min(maxMs, Math.max(0, date - now));
}

/** Waits `ms` milliseconds on the real clock. */
export function sleep(ms: number): Promise<void> {
  return SYSTEM_CLOCK.sleep(ms);
}

// ---------------------------------------------------------------------------------------------
// Classification

/** Statuses worth repeating a request for, unless the body says the request itself was refused. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Statuses that say the registry as a whole is unavailable or throttling, not that this request is bad. */
export function isUnavailableStatus(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504;
}

/**
 * Spec codes that no repetition can change: the request is refused for what it is. A registry that
 * answers one of them with a 5xx (some do for a refused manifest) is refused all the same.
 */
export const PERMANENT_CODES: ReadonlySet<string> = new Set([
  'MANIFEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_UNVERIFIED',
  'MANIFEST_UNKNOWN',
  'BLOB_UNKNOWN',
  'DENIED',
  'UNAUTHORIZED',
  'NAME_UNKNOWN',
  'NAME_INVALID',
  'TAG_INVALID',
  'UNSUPPORTED',
  'SIZE_INVALID',
  'PAGINATION_NUMBER_INVALID',
]);

/** Words of a 5xx body that says a manifest was refused rather than that the server failed. */
const MANIFEST_REFUSED =
  /manifest (is )?(invalid|refused|rejected|unverified|not (allowed|accepted))|foreign layer|non-?distributable|unknown blob|blob unknown/i;

/** Whether a response is worth another try: by status, then by the codes and text of its body. */
export function isTransientResponse(
  status: number,
  codes: readonly { code: string; message?: string; detail?: string }[],
  manifestPut: boolean,
): boolean {
  if (!isRetryableStatus(status)) return false;
  if (codes.some((c) => PERMANENT_CODES.has(c.code))) return false;
  if (manifestPut && codes.some((c) => MANIFEST_REFUSED.test(`${c.message ?? ''} ${c.detail ?? ''}`))) return false;
  return true;
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_ABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ESTALL',
]);

/** Network error codes that mean nobody answered at all (the registry is down or restarting). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

const exhausted = new WeakSet<object>();

/** Marks an error whose retry budget was used up: no layer above retries it again. */
export function markExhausted<T>(error: T): T {
  if (typeof error === 'object' && error !== null) exhausted.add(error);
  return error;
}

/** True when some layer already spent its retry budget on this error. */
export function isExhausted(error: unknown): boolean {
  return typeof error === 'object' && error !== null && exhausted.has(error);
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * True for transient failures: network errors, stalls, 408, 429, 5xx that are not refusals, a digest
 * mismatch (a corrupted transfer). False for refusals, bad input, and errors that already used up
 * their retry budget below.
 */
export function isRetryable(error: unknown): boolean {
  if (isExhausted(error)) return false;
  if (error instanceof ConfigError || error instanceof InvalidReferenceError || error instanceof UnsupportedManifestError) return false;
  if (error instanceof DigestMismatchError) return true;
  const e = error as { retryable?: unknown; cause?: unknown } | undefined;
  if (typeof e?.retryable === 'boolean') return e.retryable;
  const code = codeOf(error);
  if (code !== undefined && NETWORK_CODES.has(code)) return true;
  if (error instanceof ImageMigratorError) return e?.cause !== undefined && e.cause !== error ? isRetryable(e.cause) : false;
  // undici reports a body cut short as "terminated" with the socket error as its cause.
  if (
    error instanceof Error &&
    (error.name === 'TypeError' || error.name === 'Error') &&
    /^terminated$|other side closed/.test(error.message)
  )
    return true;
  return e?.cause !== undefined && e.cause !== error ? isRetryable(e.cause) : false;
}

/** True when the failure says the registry is unavailable (down, restarting, throttling) rather than this request failing. */
export function isUnavailable(error: unknown): boolean {
  const e = error as { status?: unknown; cause?: unknown; unavailable?: unknown } | undefined;
  // A request refused because its registry was given up (see RegistryBackoff) says so itself.
  if (e?.unavailable === true) return true;
  if (typeof e?.status === 'number') return isUnavailableStatus(e.status);
  const code = codeOf(error);
  if (code !== undefined) return UNREACHABLE_CODES.has(code);
  return e?.cause !== undefined && e.cause !== error ? isUnavailable(e.cause) : false;
}

/**
 * Whether a failed task is worth another delivery later (SQS): a transient failure, or one whose
 * registry stayed unavailable for the whole window, its budget spent in this delivery: a later one
 * waits for it without holding a function meanwhile, until the deliveries run out.
 */
export function isRedeliverable(error: unknown): boolean {
  return isRetryable(error) || isUnavailable(error);
}

/** The delay a registry asked for (Retry-After), when the failure carries one. */
export function retryAfterMs(error: unknown): number | undefined {
  const value = (error as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/**
 * The full-jitter backoff for the attempt that failed (1 for the first), at least what the registry
 * asked for, at most `maxMs`.
 */
export function backoffMs(attempt: number, error: unknown, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const jittered = backoffDelay({ baseDelayMs: baseMs, maxDelayMs: maxMs }, Math.max(0, attempt - 1), random);
  return Math.min(maxMs, Math.max(jittered, retryAfterMs(error) ?? 0));
}

// ---------------------------------------------------------------------------------------------
// Retries of one operation

/** A retry about to happen, at any layer: what, where, why and how long until it. */
export interface RetryEvent {
  /** The layer that retries: one request, one blob transfer (resumed or restarted), one task. */
  readonly level: 'request' | 'blob' | 'task';
  /** A request kind (`manifest-get`, `blob-put`, ...), `blob` or `task`. */
  readonly kind: string;
  readonly registry: string;
  /** What is retried: `GET /v2/app/manifests/v1`, `blob sha256:...`, a task's references. */
  readonly what: string;
  /** Why: the failure's text, without secrets. */
  readonly reason: string;
  /** The attempt that failed (1 for the first). */
  readonly attempt: number;
  readonly delayMs: number;
  /** True when the registry as a whole is unavailable or throttling (progress says it is waited for). */
  readonly unavailable: boolean;
}

/** Receives retry events (for the log, the report, progress). */
export type RetryListener = (event: RetryEvent) => void;

/** Calls each listener given; undefined ones are skipped. */
export function fanOut(...listeners: (RetryListener | undefined)[]): RetryListener | undefined {
  const present = listeners.filter((l): l is RetryListener => l !== undefined);
  if (present.length === 0) return undefined;
  if (present.length === 1) return present[0];
  return (event) => {
    for (const l of present) l(event);
  };
}

/** The budget of one operation: counts tries and unavailable time, decides whether one more is allowed. */
export class RetryBudget {
  /** Tries that count against the budget (waiting for an unavailable registry does not). */
  private tries = 0;
  /** Every try made, as retry events number them. */
  private made = 0;
  private unavailableSince: number | undefined;

  /**
   * `episode`: when the registry an operation above the requests depends on began to be unavailable
   * (see allowsRetry), asked at each failure; a request passes its own registry's to allowsRetry.
   */
  public constructor(
    private readonly policy: RetryPolicy,
    private readonly clock: Clock,
    private readonly episode?: () => number | undefined,
  ) {}

  /** Tries made so far (each retry event's number goes up by one). */
  public get attempts(): number {
    return this.made;
  }

  /**
   * Records a failed try; true when another is allowed. A refused retry marks the error exhausted (if
   * tries were spent). `registrySince` is when the registry's current episode of unavailability
   * began (see RegistryBackoff): when given, the outage window counts from it rather than from this
   * operation's first such failure, so that it holds for the run, not afresh for each operation, and
   * a registry that keeps answering other requests (throttling now and then) is not given up.
   */
  public allowsRetry(error: unknown, registrySince: number | undefined = this.episode?.()): boolean {
    this.tries++;
    this.made++;
    if (this.policy.attempts <= 1 || !isRetryable(error)) return false;
    if (isUnavailable(error)) {
      const now = this.clock.now();
      this.unavailableSince ??= now;
      // Waiting for a registry that is down does not use up the count, only time.
      if (now - (registrySince ?? this.unavailableSince) < this.policy.outageMs) {
        this.tries = Math.min(this.tries, this.policy.attempts - 1);
        return true;
      }
    } else if (this.tries < this.policy.attempts) {
      return true;
    }
    markExhausted(error);
    return false;
  }

  /**
   * The operation made progress that no failure can take back (a chunk of a resumable upload that the
   * registry acknowledged): the next failure is counted as the first. A transfer that keeps moving
   * forward between breaks goes on; one that breaks `retries` times without progress fails.
   */
  public progressed(): void {
    this.tries = 0;
    this.unavailableSince = undefined;
  }

  /** The delay before the next try: full jitter over the retries made, or Retry-After. */
  public delayMs(error: unknown, random: () => number = Math.random): number {
    return backoffMs(this.tries, error, this.policy.baseDelayMs, this.policy.maxDelayMs, random);
  }
}

// ---------------------------------------------------------------------------------------------
// Per-registry backoff state, shared by every worker

interface RegistryState {
  /** No request goes to the registry before this time. */
  until: number;
  /** Backoffs in a row without a success in between. */
  streak: number;
  reason: string;
  /** When the registry was first found unavailable with no success since. */
  since: number;
  /** When it was last found unavailable: an episode with no failure for a window is over. */
  last: number;
  /** While the registry is given up: when the next request may go to see whether it is back. */
  probeAt: number;
}

/** Why a request to a registry that was given up is not sent. */
export interface Refusal {
  readonly reason: string;
  /** Until the next look at the registry. */
  readonly retryAfterMs: number;
}

/**
 * Backoff per registry, shared by all workers of a client: a 429 or an outage seen by one request
 * holds every request to that registry until the wait is over (Retry-After when given), and a
 * success ends the episode. Other registries are not slowed.
 *
 * The outage window (`outageMs`) holds for the whole run, not per request: once a registry has been
 * unavailable that long without one success, it is given up. A request then fails at once with the
 * reason, except one every `probeEveryMs` (half the window, at most the delay cap) that goes to see
 * whether the registry is back; its success ends the episode. So a registry that refuses everything
 * costs a run the window once, not the window for every request.
 */
export class RegistryBackoff {
  private readonly states = new Map<string, RegistryState>();
  /** Registries given up at some point (a failure at or past the window's end). */
  private readonly gaveUp = new Set<string>();

  public constructor(
    private readonly policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs' | 'outageMs'>,
    private readonly clock: Clock = SYSTEM_CLOCK,
    private readonly random: () => number = Math.random,
  ) {}

  /** How long a request to `registry` must still wait (0 when it may go now), and why. */
  public pending(registry: string): { ms: number; reason: string } {
    const state = this.states.get(registry);
    if (state === undefined) return { ms: 0, reason: '' };
    return { ms: Math.max(0, state.until - this.clock.now()), reason: state.reason };
  }

  /** When the registry's current episode of unavailability began (undefined when it is well). */
  public unavailableSince(registry: string): number | undefined {
    return this.current(registry)?.since;
  }

  /**
   * Waits until requests to the registry may go. Resolves with a refusal, at once, when the registry
   * was given up and it is not yet time to see whether it is back.
   */
  public async wait(registry: string): Promise<Refusal | undefined> {
    for (;;) {
      const refusal = this.refusal(registry);
      if (refusal !== undefined) return refusal;
      const { ms } = this.pending(registry);
      if (ms <= 0) return undefined;
      await this.clock.sleep(ms);
    }
  }

  /**
   * Records that the registry is unavailable or throttling; returns the wait every request to it now
   * shares. Failures during one wait count once, so seven workers meeting one 429 back off once.
   */
  public unavailable(registry: string, reason: string, retryAfter: number | undefined): number {
    const now = this.clock.now();
    let state = this.current(registry);
    if (state === undefined) this.states.set(registry, (state = { until: now, streak: 0, reason, since: now, last: now, probeAt: 0 }));
    state.last = now;
    if (this.policy.outageMs > 0 && now - state.since >= this.policy.outageMs) this.gaveUp.add(registry);
    if (state.until > now && retryAfter === undefined) return state.until - now;
    const delay = retryAfter ?? backoffDelay(this.policy, state.streak, this.random);
    state.streak++;
    state.until = Math.max(state.until, now + Math.min(delay, this.policy.maxDelayMs, this.windowLeftMs(registry)));
    state.reason = reason;
    return state.until - now;
  }

  /**
   * Time left in the registry's outage window (Infinity when it is well): no wait for it goes past
   * the window's end, where the next request looks whether it is back or the registry is given up.
   */
  public windowLeftMs(registry: string): number {
    const state = this.current(registry);
    if (state === undefined || this.policy.outageMs <= 0) return Infinity;
    return Math.max(0, state.since + this.policy.outageMs - this.clock.now());
  }

  /** The registries given up at some point, for a run's closing advice. */
  public givenUp(): string[] {
    return [...this.gaveUp];
  }

  /** A success: the registry is well again, and a new failure starts a new episode with a new window. */
  public recovered(registry: string): void {
    const state = this.states.get(registry);
    if (state === undefined) return;
    if (state.until <= this.clock.now()) this.states.delete(registry);
    else state.since = this.clock.now();
  }

  /**
   * The registry's episode, unless it is over without a success: no failure for a whole window after
   * its last wait (no request went to it, as in a long-lived process between runs), so old failures
   * do not count against the next request.
   */
  private current(registry: string): RegistryState | undefined {
    const state = this.states.get(registry);
    const quietSince = Math.max(state?.last ?? 0, state?.until ?? 0);
    if (state === undefined || this.policy.outageMs <= 0 || this.clock.now() - quietSince <= this.policy.outageMs) return state;
    this.states.delete(registry);
    return undefined;
  }

  /** How often a registry that was given up is tried again. */
  private get probeEveryMs(): number {
    return Math.max(1, Math.min(this.policy.maxDelayMs, this.policy.outageMs / 2));
  }

  /** A refusal when the registry is given up and the next look at it is not due; else undefined (a due look is booked). */
  private refusal(registry: string): Refusal | undefined {
    const state = this.current(registry);
    const now = this.clock.now();
    if (state === undefined || this.policy.outageMs <= 0 || now - state.since < this.policy.outageMs) return undefined;
    if (now >= state.probeAt) {
      state.probeAt = now + this.probeEveryMs;
      return undefined;
    }
    const seconds = Math.round((now - state.since) / 1000);
    return {
      retryAfterMs: Math.max(0, state.probeAt - now),
      reason: `given up on registry ${registry}: ${state.reason} for ${seconds} s without a success (looked at again every ${Math.round(this.probeEveryMs / 1000)} s)`,
    };
  }
}
