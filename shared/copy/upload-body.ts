/**
 * The body of one upload request (the PUT of a whole blob, the PATCH of a chunk): the next `count`
 * bytes of a resumable download, hashed on the way, which undici pulls a piece at a time and writes
 * to the socket: no stream between the download and the upload, one promise per piece at most.
 * Given the blob's digest, the body checks it before it hands over the last byte: bytes that do not
 * match fail the upload with DigestMismatchError before the registry has the whole blob (a request
 * with Content-Length is never complete), so a corrupted transfer never lands. It counts its pulls
 * for the stall watchdog (shared/registry/stall.ts).
 */
import { DigestMismatchError } from '../errors.js';
import type { RunningSha256 } from '../registry/sha256-state.js';
import type { PulledBody } from '../registry/stall.js';
import { ShortBodyError, type ResumableDownload } from './blob-download.js';

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/** Checked when the last byte is hashed: the blob's digest. */
export interface BodyCheck {
  readonly digest: string;
  readonly what: string;
}

/** `count` bytes of a download as an upload body; see the file's header. */
export class UploadBody implements PulledBody, AsyncIterator<Buffer, undefined> {
  public pulls = 0;
  public waiting = false;
  public ended = false;
  private left: number;
  private checked = false;

  public constructor(
    private readonly source: ResumableDownload,
    count: number,
    private readonly hash: RunningSha256,
    private readonly check?: BodyCheck,
  ) {
    this.left = count;
  }

  public [Symbol.asyncIterator](): AsyncIterator<Buffer, undefined> {
    return this;
  }

  public next(): Promise<IteratorResult<Buffer, undefined>> {
    this.pulls += 1;
    return this.pull();
  }

  private pull(): Promise<IteratorResult<Buffer, undefined>> {
    let result: IteratorResult<Buffer, undefined> | undefined;
    try {
      result = this.take();
    } catch (error) {
      this.waiting = false;
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the download's error is passed on as it came
      return Promise.reject(error);
    }
    if (result !== undefined) {
      this.waiting = false;
      return Promise.resolve(result);
    }
    this.waiting = true;
    return this.source.readable().then(this.again);
  }

  private readonly again = (): Promise<IteratorResult<Buffer, undefined>> => this.pull();

  /** The next piece, the end, or undefined when the download has nothing yet. */
  private take(): IteratorResult<Buffer, undefined> | undefined {
    if (this.left === 0) {
      this.verify();
      this.ended = true;
      return DONE;
    }
    let piece = this.source.read();
    if (piece === undefined) return undefined;
    if (piece === null) throw new ShortBodyError(`${this.check?.what ?? 'the download'} ended ${this.left} bytes early`);
    if (piece.length > this.left) {
      this.source.unread(piece.subarray(this.left));
      piece = piece.subarray(0, this.left);
    }
    this.left -= piece.length;
    this.hash.update(piece);
    // Checked before the last piece goes: the upload never holds all the bytes of a wrong blob.
    if (this.left === 0) this.verify();
    return { done: false, value: piece };
  }

  private verify(): void {
    if (this.check === undefined || this.checked) return;
    this.checked = true;
    const actual = this.hash.digest();
    if (actual !== this.check.digest) throw new DigestMismatchError(this.check.digest, actual, this.check.what);
  }
}
