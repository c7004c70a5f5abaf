/**
 * A resumable upload of one blob: an upload session filled chunk by chunk (PATCH with
 * `Content-Range`), each chunk streamed from the source download, so memory stays flat. At every
 * chunk the registry acknowledges, the sha256 state is marked. When the upload breaks, the registry
 * is asked how much it holds (GET of the session) and the transfer goes on from there: the source is
 * read again (`Range`) from the nearest marked point at or before that offset, the bytes the registry
 * already holds are hashed without being sent, and the upload goes on. A session the registry no
 * longer knows is replaced by a new one, from byte 0. The PUT that commits the blob is sent only once
 * the whole blob has hashed to its digest, so a corrupted transfer is never committed.
 *
 * Every resume is a blob-level retry (`upload-resume`, or `blob-restart` for a new session) within the
 * transfer's budget; a chunk acknowledged after a failure starts the count again (see
 * RetryBudget.progressed), so a long transfer over a link that breaks now and then still lands,
 * while one that breaks without progress fails after `--retries` tries.
 */
import { Readable } from 'node:stream';
import { DigestMismatchError } from '../errors.js';
import { RegistryError } from '../registry/registry-error.js';
import { RetryBudget } from '../registry/retry.js';
import { emptyMark, type RunningSha256, type Sha256Kind, type Sha256Mark } from '../registry/sha256-state.js';
import type { UploadSession } from '../registry/types.js';
import { isSessionLost } from '../registry/upload-session.js';
import { blobRetry, resumableDownload, ShortBodyError } from './blob-download.js';
import type { BlobCopyContext } from './copy-blob.js';
import type { Descriptor } from './manifest.js';

const MiB = 1024 * 1024;

/** How blobs are uploaded: which in chunks, and how big a chunk is. */
export interface UploadSettings {
  /** Blobs of at least this many bytes are uploaded in chunks and resume where they broke. */
  readonly resumableAbove: number;
  /** Bytes per PATCH. */
  readonly chunkSize: number;
}

/** 64 MiB and above in chunks of 16 MiB (see the README for the measurements behind them). */
export const DEFAULT_UPLOAD_SETTINGS: UploadSettings = { resumableAbove: 64 * MiB, chunkSize: 16 * MiB };

/** Reads exact numbers of bytes from a stream of buffers. */
class ByteReader {
  private held: Buffer | undefined;

  public constructor(
    private readonly source: AsyncIterator<Buffer>,
    private readonly what: string,
  ) {}

  /** The next `count` bytes, as they come; `hash` sees each piece before it is passed on. */
  public async *take(count: number, hash: RunningSha256): AsyncGenerator<Buffer> {
    let left = count;
    while (left > 0) {
      let piece = this.held;
      this.held = undefined;
      if (piece === undefined) {
        const next = await this.source.next();
        if (next.done === true) throw new ShortBodyError(`${this.what} ended ${left} bytes early`);
        piece = next.value;
      }
      if (piece.length > left) {
        this.held = piece.subarray(left);
        piece = piece.subarray(0, left);
      }
      left -= piece.length;
      hash.update(piece);
      yield piece;
    }
  }
}

/** Marks of the hash at offsets the registry acknowledged. */
class HashMarks {
  private readonly marks = new Map<number, Sha256Mark>();

  public constructor(private readonly kind: Sha256Kind) {
    this.clear();
  }

  public add(offset: number, mark: Sha256Mark): void {
    this.marks.set(offset, mark);
  }

  /** The mark nearest at or before `offset`. */
  public atOrBefore(offset: number): { offset: number; mark: Sha256Mark } {
    let best = 0;
    for (const at of this.marks.keys()) if (at <= offset && at > best) best = at;
    return { offset: best, mark: this.marks.get(best) ?? emptyMark(this.kind) };
  }

  /** Only the empty hash at 0 (a new session). */
  public clear(): void {
    this.marks.clear();
    this.marks.set(0, emptyMark(this.kind));
  }
}

/** Uploads the blob in chunks, resuming where the registry says it is; returns the blob's size. */
export async function uploadInChunks(ctx: BlobCopyContext, blob: Descriptor, settings: UploadSettings): Promise<number> {
  const dst = ctx.destination;
  const where = `blob ${blob.digest} to ${dst.registry}/${dst.repository}`;
  const budget = new RetryBudget(ctx.retry, ctx.clock);
  const marks = new HashMarks(ctx.sha256 ?? 'native');
  let session = await ctx.registry.startUpload(dst);
  for (;;) {
    try {
      const hash = await sendFrom(ctx, blob, settings, budget, marks, session, (next) => (session = next));
      const actual = hash.digest();
      if (actual !== blob.digest) throw new DigestMismatchError(blob.digest, actual, where);
      await commit(ctx, blob, session);
      return blob.size;
    } catch (error) {
      if (!budget.allowsRetry(error)) {
        await ctx.registry.cancelUpload(dst, session);
        throw error;
      }
      let kind = 'upload-resume';
      if (error instanceof DigestMismatchError || (error instanceof RegistryError && error.hasCode('DIGEST_INVALID'))) {
        // The session holds bytes that are wrong somewhere: they are left behind, never committed.
        await ctx.registry.cancelUpload(dst, session);
        session = await newSession(ctx, marks);
        kind = 'blob-restart';
      } else {
        try {
          session = await ctx.registry.uploadStatus(dst, session);
        } catch (lost) {
          if (!isSessionLost(lost)) throw lost;
          session = await newSession(ctx, marks);
          kind = 'blob-restart';
        }
      }
      const at = session.offset === 0 ? 'from byte 0' : `resumed at byte ${session.offset}`;
      await blobRetry(ctx, budget, error, kind, `${where} (${at})`, dst.registry);
    }
  }
}

async function newSession(ctx: BlobCopyContext, marks: HashMarks): Promise<UploadSession> {
  marks.clear();
  return ctx.registry.startUpload(ctx.destination);
}

/**
 * From the session's offset to the end: the source read from the nearest mark, the gap up to the
 * offset hashed, then chunk after chunk uploaded; returns the hash of the whole blob.
 */
async function sendFrom(
  ctx: BlobCopyContext,
  blob: Descriptor,
  settings: UploadSettings,
  budget: RetryBudget,
  marks: HashMarks,
  start: UploadSession,
  onAcknowledged: (session: UploadSession) => void,
): Promise<RunningSha256> {
  const dst = ctx.destination;
  if (start.offset > blob.size) {
    throw new RegistryError({
      method: 'GET',
      url: start.url,
      reason: `the registry holds ${start.offset} bytes of a ${blob.size}-byte blob`,
      retryable: false,
    });
  }
  const { offset: from, mark } = marks.atOrBefore(start.offset);
  const hash = await mark.restore();
  const abort = new AbortController();
  const reader = new ByteReader(resumableDownload(ctx, blob, budget, from, abort.signal), `blob ${blob.digest}`);
  let session = start;
  try {
    for await (const piece of reader.take(session.offset - from, hash)) void piece;
    while (session.offset < blob.size) {
      const size = Math.min(settings.chunkSize, blob.size - session.offset);
      const expected = session.offset + size;
      const next = await ctx.registry.uploadChunk(dst, session, size, Readable.from(reader.take(size, hash), { objectMode: false }));
      onAcknowledged(next);
      if (next.offset !== expected) {
        throw new RegistryError({
          method: 'PATCH',
          url: next.url,
          status: 202,
          reason: `202 but the registry holds ${next.offset} bytes, not ${expected}`,
          retryable: true,
        });
      }
      session = next;
      marks.add(session.offset, hash.mark());
      budget.progressed();
    }
    return hash;
  } finally {
    abort.abort();
  }
}

/**
 * The PUT that commits the blob. A commit whose answer was lost, and that is sent again, meets a
 * session that no longer exists: the blob at the destination says whether it landed.
 */
async function commit(ctx: BlobCopyContext, blob: Descriptor, session: UploadSession): Promise<void> {
  try {
    await ctx.registry.finishUpload(ctx.destination, session, blob.digest);
  } catch (error) {
    if (isSessionLost(error) && (await ctx.registry.headBlob(ctx.destination, blob.digest)) === blob.size) return;
    throw error;
  }
}
