/**
 * sha256 digests of manifests and blobs, whole or streamed.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
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

/**
 * A pass-through stream that hashes what it carries; see createDigestVerifier. It holds the last
 * chunk back until the end, and lets it through only when the hash matches: a consumer that commits
 * on the last byte (an upload with Content-Length) never receives a complete wrong blob.
 */
export class DigestVerifier extends Transform {
  private readonly hash = createHash('sha256');
  /** Bytes seen so far. */
  public bytes = 0;
  private held: Buffer | undefined;

  public constructor(
    public readonly expected: string,
    private readonly what: string,
  ) {
    super();
    assertSha256(expected);
  }

  public override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    const previous = this.held;
    this.held = chunk;
    callback(null, previous);
  }

  public override _flush(callback: TransformCallback): void {
    const actual = `sha256:${this.hash.digest('hex')}`;
    // Failing in flush makes the stream error before it ends, and before the held-back last chunk
    // is let through, so a consumer (an upload) never sees the whole of data that does not match.
    if (actual !== this.expected) return callback(new DigestMismatchError(this.expected, actual, this.what));
    callback(null, this.held);
  }
}

/**
 * A Transform that passes data through unchanged, hashing it, and errors with DigestMismatchError at
 * the end when the sha256 is not `expected`.
 */
export function createDigestVerifier(expected: string, what = `blob ${expected}`): DigestVerifier {
  return new DigestVerifier(expected, what);
}
