/**
 * Request signing of the webhook: `X-Image-Migrator-Signature: sha256=<hex>` is the HMAC-SHA256,
 * keyed with the stack's webhook secret, of `${timestamp}.${rawBody}`, where `timestamp` is the
 * `X-Image-Migrator-Timestamp` header (unix seconds). Signing the timestamp with the body means an
 * old request cannot be given a fresh timestamp, so the 5-minute window plus the replay guard
 * (which remembers signatures for longer than the window) refuses every replay.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ImageMigratorError } from '../../shared/errors.js';

/** Header names as Lambda function URLs deliver them (lower case). */
export const SIGNATURE_HEADER = 'x-image-migrator-signature';
export const TIMESTAMP_HEADER = 'x-image-migrator-timestamp';

/** How far a request's timestamp may be from the receiver's clock, either way. */
export const MAX_CLOCK_SKEW_SECONDS = 300;

const PREFIX = 'sha256=';

/** The signature header value for `body` sent at `timestamp` (what a sender computes). */
export function signBody(secret: string, timestamp: string | number, body: string | Buffer): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${timestamp}.`);
  hmac.update(body);
  return `${PREFIX}${hmac.digest('hex')}`;
}

/** Why a request was refused; `reason` is safe to return to the caller. */
export class SignatureRejectedError extends ImageMigratorError {
  public constructor(
    public readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`webhook request refused: ${reason}`, options);
  }
}

/** A request whose signature is valid: the lower-case hex, used as the replay key. */
export interface VerifiedSignature {
  readonly signature: string;
  readonly timestamp: number;
}

/**
 * Checks the two headers against `body`. Throws SignatureRejectedError when a header is missing or
 * malformed, the timestamp is outside the window, or the HMAC differs. The comparison is
 * constant-time, so response timing does not reveal how much of a guess was right.
 */
export function verifySignature(
  secret: string,
  headers: Readonly<Record<string, string | undefined>>,
  body: Buffer,
  nowSeconds: number,
): VerifiedSignature {
  const header = headers[SIGNATURE_HEADER];
  const stamp = headers[TIMESTAMP_HEADER];
  if (header === undefined || header.length === 0) throw new SignatureRejectedError('the X-Image-Migrator-Signature header is missing');
  if (stamp === undefined || stamp.length === 0) throw new SignatureRejectedError('the X-Image-Migrator-Timestamp header is missing');
  if (!/^\d{1,12}$/.test(stamp)) throw new SignatureRejectedError('X-Image-Migrator-Timestamp must be unix seconds');
  const timestamp = Number(stamp);
  if (Math.abs(nowSeconds - timestamp) > MAX_CLOCK_SKEW_SECONDS) {
    throw new SignatureRejectedError(
      `X-Image-Migrator-Timestamp is more than ${MAX_CLOCK_SKEW_SECONDS / 60} minutes from the current time`,
    );
  }
  const given = header.trim().toLowerCase();
  if (!given.startsWith(PREFIX) || !/^[0-9a-f]{64}$/.test(given.slice(PREFIX.length))) {
    throw new SignatureRejectedError('X-Image-Migrator-Signature must be "sha256=" followed by 64 hex digits');
  }
  const expected = Buffer.from(signBody(secret, stamp, body), 'utf8');
  // Both are "sha256=" + 64 hex digits here, so the lengths match as timingSafeEqual requires.
  if (!timingSafeEqual(Buffer.from(given, 'utf8'), expected)) {
    throw new SignatureRejectedError('the signature does not match the body');
  }
  return { signature: given.slice(PREFIX.length), timestamp };
}
