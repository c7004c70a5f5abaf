/**
 * Backoff for repeatable registry requests: exponential with full jitter (AWS architecture blog's
 * "full jitter", which spreads synchronized clients best), and the server's `Retry-After` when given.
 */

/** Request-level retry settings. */
export interface RetryPolicy {
  /** Total tries including the first. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  /** Cap of a computed delay and of a server's Retry-After. */
  readonly maxDelayMs: number;
}

/** 4 tries, 200 ms base, 10 s cap. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 200, maxDelayMs: 10_000 };

/** Fills in defaults and rejects nonsense (attempts below 1, negative delays). */
export function retryPolicy(options: Partial<RetryPolicy> | undefined): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...stripUndefined(options ?? {}) };
  return {
    attempts: Math.max(1, Math.floor(policy.attempts)),
    baseDelayMs: Math.max(0, policy.baseDelayMs),
    maxDelayMs: Math.max(0, policy.maxDelayMs),
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Delay before retry number `retry` (0 for the first retry): uniform in [0, min(max, base * 2^retry)].
 * `random` is injectable so the bounds can be tested.
 */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
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

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
