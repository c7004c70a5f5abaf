/**
 * sha256 digests of manifests and blobs: whole here; a streamed blob is hashed on its way into the
 * upload (shared/copy/upload-body.ts).
 */
import { createHash } from 'node:crypto';
import { DigestMismatchError, ImageMigratorError } from '../errors.js';
import { isSha256Digest } from '../reference.js';

/** A digest this tool cannot verify (only sha256 is supported, as by every current registry). */
export class UnsupportedDigestError extends ImageMigratorError {
  public constructor(public readonly digest: string) {
    super(`unsupported digest ${JSON.stringify(digest)}: only sha256:<64 hex> digests can be verified`);
  }
}

/** `sha256:<hex>` of the bytes. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Throws UnsupportedDigestError unless the digest is sha256. */
export function assertSha256(digest: string): void {
  if (!isSha256Digest(digest)) throw new UnsupportedDigestError(digest);
}

/** Throws DigestMismatchError when `bytes` do not hash to `expected`. */
export function verifyBytes(bytes: Uint8Array, expected: string, what: string): string {
  assertSha256(expected);
  const actual = sha256Digest(bytes);
  if (actual !== expected) throw new DigestMismatchError(expected, actual, what);
  return actual;
}
