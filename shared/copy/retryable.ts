/**
 * Which failures are worth another attempt, shared by the local runner and the AWS copier (which
 * turns the answer into an SQS redelivery).
 */
import { ConfigError, DigestMismatchError, InvalidReferenceError, UnsupportedManifestError } from '../errors.js';
import { backoffDelay } from '../registry/retry.js';

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED', 'ERR_STREAM_PREMATURE_CLOSE']);

/** True for transient failures: network errors, 5xx, 429, 408, a digest mismatch (a corrupted transfer). */
export function isRetryable(error: unknown): boolean {
  if (error instanceof ConfigError || error instanceof InvalidReferenceError || error instanceof UnsupportedManifestError) return false;
  if (error instanceof DigestMismatchError) return true;
  const e = error as { retryable?: unknown; code?: unknown; cause?: unknown } | undefined;
  if (typeof e?.retryable === 'boolean') return e.retryable;
  if (typeof e?.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  return e?.cause !== undefined && e.cause !== error ? isRetryable(e.cause) : false;
}

/** The delay a registry asked for (Retry-After), when the failure carries one. */
export function retryAfterMs(error: unknown): number | undefined {
  const value = (error as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/**
 * The registry client's full-jitter backoff for the attempt that failed (1 for the first), at least
 * what the registry asked for, at most `maxMs`.
 */
export function backoffMs(attempt: number, error: unknown, baseMs: number, maxMs: number): number {
  const jittered = backoffDelay({ attempts: attempt + 1, baseDelayMs: baseMs, maxDelayMs: maxMs }, Math.max(0, attempt - 1));
  return Math.min(maxMs, Math.max(jittered, retryAfterMs(error) ?? 0));
}
