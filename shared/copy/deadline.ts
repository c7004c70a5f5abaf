/**
 * A copy that must end by a deadline (a Lambda invocation's): resumable uploads stop at a chunk
 * boundary when the next chunk would not fit, their sessions are recorded where the next attempt
 * finds them (the blob claims, see blob-coordinator.ts), and the copy ends with CopySuspendedError,
 * which the AWS copier turns into a continuation of the task in the next invocation. Locally there
 * is no deadline and nothing is ever suspended.
 */
import { ImageMigratorError } from '../errors.js';

/** The time a copy still has. */
export interface Deadline {
  /** Milliseconds left before the copy must hand its work over (negative once past). */
  remainingMs(): number;
}

/** A deadline `ms` from now on the process's clock. */
export function deadlineIn(ms: number, now: () => number = Date.now): Deadline {
  const at = now() + ms;
  return { remainingMs: () => at - now() };
}

/** An upload stopped at a chunk boundary, as recorded for the next attempt. */
export interface SuspendedUpload {
  /** The session's URL as the registry last gave it, without a login. */
  readonly url: string;
  /** Bytes the registry acknowledged. */
  readonly offset: number;
  /** The sha256 state at `offset` (hash-wasm's), when it was kept; without it the bytes before are hashed again from the source. */
  readonly hashState?: Uint8Array | undefined;
}

/** What was stopped: the blob, where it goes, and how far it got. */
export interface StoppedUpload {
  readonly digest: string;
  readonly registry: string;
  readonly repository: string;
  /** Bytes the registry holds; absent while waiting for another copier's upload of the blob. */
  readonly offset?: number | undefined;
  readonly size?: number | undefined;
}

/**
 * The copy stopped before its deadline with work left: it goes on in another attempt. `handedOver`
 * says that nothing is lost by that: the upload's session was recorded for the next attempt, or the
 * copy was waiting for another copier's upload. Transient for the retry policy (a copy stopped
 * without handing over is retried as any other failure); the layers inside one copy never retry it.
 */
export class CopySuspendedError extends ImageMigratorError {
  public readonly retryable = true;

  public constructor(
    public readonly upload: StoppedUpload,
    public readonly handedOver: boolean,
  ) {
    const blob = `blob ${upload.digest} to ${upload.registry}/${upload.repository}`;
    super(
      upload.offset === undefined
        ? `stopped before the deadline while another copier uploads ${blob}; it goes on in the next attempt`
        : `stopped before the deadline at byte ${upload.offset} of ${upload.size ?? '?'} of ${blob}; it goes on in the next attempt`,
    );
  }
}
