/**
 * A resumable upload of one blob: an upload session filled chunk by chunk (PATCH with
 * `Content-Range`), each chunk streamed from the source download, so memory stays flat. Chunks grow
 * while the upload goes well: the first is the settings' chunk size, each acknowledged one doubles
 * the next up to the settings' largest, and a break starts again from the first size (a chunk's end
 * is a round trip and, on distribution's filesystem driver, a sync to disk: fewer chunks are fewer
 * pauses, while a break early on costs little). At every chunk the registry acknowledges, the
 * sha256 state is marked. When the upload breaks, the registry is asked how much it holds (GET of
 * the session) and the transfer goes on from there: the source is read again (`Range`) from the
 * nearest marked point at or before that offset, the bytes the registry already holds are hashed
 * without being sent, and the upload goes on. A session the registry no longer knows is replaced
 * by a new one, from byte 0. The PUT that commits the blob is sent only once the whole blob has
 * hashed to its digest, so a corrupted transfer is never committed.
 *
 * Every resume is a blob-level retry (`upload-resume`, or `blob-restart` for a new session) within the
 * transfer's budget; a chunk acknowledged after a failure starts the count again (see
 * RetryBudget.progressed), so a long transfer over a link that breaks now and then still lands,
 * while one that breaks without progress fails after `--retries` tries.
 */
import { DigestMismatchError } from '../errors.js';
import { RegistryError } from '../registry/registry-error.js';
import type { RetryBudget } from '../registry/retry.js';
import { emptyMark, loadedMark, type RunningSha256, type Sha256Kind, type Sha256Mark } from '../registry/sha256-state.js';
import type { UploadSession } from '../registry/types.js';
import { isSessionLost, storableUploadUrl } from '../registry/upload-session.js';
import { blobRetry, ResumableDownload } from './blob-download.js';
import type { UploadHandover } from './blob-coordinator.js';
import { blobBudget } from './blob-budget.js';
import type { BlobCopyContext } from './copy-blob.js';
import { CopySuspendedError } from './deadline.js';
import type { Descriptor } from './manifest.js';
import { UploadBody } from './upload-body.js';

const MiB = 1024 * 1024;

/** How blobs are uploaded: which in chunks, and how big a chunk is. */
export interface UploadSettings {
  /** Blobs of at least this many bytes are uploaded in chunks and resume where they broke. */
  readonly resumableAbove: number;
  /** Bytes of the first PATCH of an upload, and of the first after a break. */
  readonly chunkSize: number;
  /** Chunks double after each acknowledged one up to this many bytes (default `chunkSize`: every chunk the same). */
  readonly maxChunkSize?: number | undefined;
}

/**
 * 64 MiB and above in chunks that start at 16 MiB and grow to 128 MiB: a 256 MiB layer goes in 5
 * PATCHes instead of 16 (see the README for the measurements behind them).
 */
export const DEFAULT_UPLOAD_SETTINGS: UploadSettings = { resumableAbove: 64 * MiB, chunkSize: 16 * MiB, maxChunkSize: 128 * MiB };

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

/**
 * Uploads the blob in chunks, resuming where the registry says it is, and going on with an upload an
 * earlier attempt handed over; returns the bytes this call put in (the blob's size unless it went on
 * from an earlier attempt's offset).
 */
export async function uploadInChunks(
  ctx: BlobCopyContext,
  blob: Descriptor,
  settings: UploadSettings,
  handover: UploadHandover = {},
): Promise<number> {
  return new ChunkedUpload(ctx, blob, settings, handover).run();
}

/** One resumable upload in progress. */
class ChunkedUpload {
  private readonly where: string;
  private readonly budget: RetryBudget;
  private readonly marks: HashMarks;
  private session: UploadSession = { url: '', offset: 0 };
  /** The offset an earlier attempt had reached in this session (0 for a session of this call). */
  private carriedIn = 0;
  /** Chunks acknowledged in this call, and the time they took: the pace that judges the next against the deadline. */
  private sentBytes = 0;
  private sentMs = 0;
  /** Bytes of the next chunk: the first size, doubled after each acknowledged chunk, the first again after a break. */
  private chunkSize: number;

  public constructor(
    private readonly ctx: BlobCopyContext,
    private readonly blob: Descriptor,
    private readonly settings: UploadSettings,
    private readonly handover: UploadHandover,
  ) {
    const dst = ctx.destination;
    this.where = `blob ${blob.digest} to ${dst.registry}/${dst.repository}`;
    this.budget = blobBudget(ctx);
    // Under a deadline the upload may go on in another process: its hash state must be one that
    // process can load. Hashing it again from the source instead would cost the whole prefix in every
    // later invocation, and most on the slow links that make a blob outlast one. Without a deadline
    // the native hash is about 8 times faster.
    this.marks = new HashMarks(ctx.deadline === undefined ? 'native' : 'saveable');
    this.chunkSize = settings.chunkSize;
  }

  public async run(): Promise<number> {
    const dst = this.ctx.destination;
    // A fresh upload reads the source from its first byte: the download opens while the session does
    // (the registry's answer to the POST may take a while when it is busy), and waits, paused, for it.
    let early = this.handover.resume === undefined ? new ResumableDownload(this.ctx, this.blob, this.budget) : undefined;
    try {
      this.session = await this.open();
    } catch (error) {
      early?.close();
      throw error;
    }
    for (;;) {
      try {
        const given = early;
        early = undefined;
        const hash = await this.sendFrom(this.session, given);
        const actual = hash.digest();
        if (actual !== this.blob.digest) throw new DigestMismatchError(this.blob.digest, actual, this.where);
        await commit(this.ctx, this.blob, this.session);
        return this.blob.size - this.carriedIn;
      } catch (error) {
        if (error instanceof CopySuspendedError) throw error;
        this.chunkSize = this.settings.chunkSize;
        if (!this.budget.allowsRetry(error)) {
          await this.ctx.registry.cancelUpload(dst, this.session);
          throw error;
        }
        let kind = 'upload-resume';
        if (error instanceof DigestMismatchError || (error instanceof RegistryError && error.hasCode('DIGEST_INVALID'))) {
          // The session holds bytes that are wrong somewhere: they are left behind, never committed.
          await this.ctx.registry.cancelUpload(dst, this.session);
          this.session = await this.newSession();
          kind = 'blob-restart';
        } else {
          try {
            this.session = await this.ctx.registry.uploadStatus(dst, this.session);
          } catch (lost) {
            if (!isSessionLost(lost)) throw lost;
            this.session = await this.newSession();
            kind = 'blob-restart';
          }
        }
        await blobRetry(this.ctx, this.budget, error, kind, `${this.where} (${this.at()})`, dst.registry);
      }
    }
  }

  private at(): string {
    return this.session.offset === 0 ? 'from byte 0' : `resumed at byte ${this.session.offset}`;
  }

  /**
   * The session to fill: the one an earlier attempt handed over, when the registry still knows it
   * (a visible `upload-resume`), else a new one.
   */
  private async open(): Promise<UploadSession> {
    const resume = this.handover.resume;
    if (resume === undefined) return this.ctx.registry.startUpload(this.ctx.destination);
    let session: UploadSession;
    let kind = 'upload-resume';
    let reason = 'an earlier attempt stopped at its deadline';
    try {
      session = await this.ctx.registry.uploadStatus(this.ctx.destination, resume);
      if (resume.hashState !== undefined && session.offset >= resume.offset && (await usable(resume.hashState)))
        this.marks.add(resume.offset, loadedMark(resume.hashState));
      this.carriedIn = session.offset;
    } catch (error) {
      if (!isSessionLost(error)) throw error;
      session = await this.newSession();
      kind = 'blob-restart';
      reason = `the upload an earlier attempt stopped is gone: ${(error as Error).message}`;
    }
    this.session = session;
    const dst = this.ctx.destination;
    this.ctx.onRetry?.({
      level: 'blob',
      kind,
      registry: dst.registry,
      what: `${this.where} (${this.at()})`,
      reason,
      attempt: 1,
      delayMs: 0,
      unavailable: false,
    });
    return session;
  }

  private async newSession(): Promise<UploadSession> {
    this.marks.clear();
    this.carriedIn = 0;
    return this.ctx.registry.startUpload(this.ctx.destination);
  }

  /**
   * From the session's offset to the end: the source read from the nearest mark, the gap up to the
   * offset hashed, then chunk after chunk uploaded; returns the hash of the whole blob. `opened`: a
   * download from the first byte already under way, used when the nearest mark is the start.
   */
  private async sendFrom(start: UploadSession, opened?: ResumableDownload): Promise<RunningSha256> {
    const { ctx, blob } = this;
    const dst = ctx.destination;
    if (start.offset > blob.size) {
      opened?.close();
      throw new RegistryError({
        method: 'GET',
        url: start.url,
        reason: `the registry holds ${start.offset} bytes of a ${blob.size}-byte blob`,
        retryable: false,
      });
    }
    const { offset: from, mark } = this.marks.atOrBefore(start.offset);
    if (opened !== undefined && from !== 0) opened.close();
    const hash = await mark.restore().catch((error: unknown) => {
      opened?.close();
      throw error;
    });
    const source = opened !== undefined && from === 0 ? opened : new ResumableDownload(ctx, blob, this.budget, from);
    let session = start;
    try {
      // What the registry holds past the mark is hashed, not sent.
      for await (const piece of new UploadBody(source, session.offset - from, hash)) void piece;
      while (session.offset < blob.size) {
        const size = await this.fitDeadline(Math.min(this.chunkSize, blob.size - session.offset), hash);
        const expected = session.offset + size;
        const started = ctx.clock.now();
        const next = await ctx.registry.uploadChunk(dst, session, size, new UploadBody(source, size, hash));
        this.session = next;
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
        this.sentBytes += size;
        this.sentMs += ctx.clock.now() - started;
        this.marks.add(session.offset, hash.mark());
        this.budget.progressed();
        this.chunkSize = Math.min(2 * size, Math.max(this.settings.chunkSize, this.settings.maxChunkSize ?? 0));
        ctx.onProgress?.(size);
      }
      return hash;
    } finally {
      source.close();
    }
  }

  /**
   * At a chunk boundary, the size of the next chunk under the deadline: halved (down to the first
   * size) until it fits at the pace so far; when not even that fits, the session is handed over and
   * the copy stops. The first chunk of a call always goes, so every attempt moves the upload on.
   */
  private async fitDeadline(size: number, hash: RunningSha256): Promise<number> {
    const deadline = this.ctx.deadline;
    if (deadline === undefined || this.sentBytes === 0) return size;
    const bytesPerMs = Math.max(1, this.sentBytes / Math.max(1, this.sentMs));
    const smallest = Math.min(size, this.settings.chunkSize);
    let fits = size;
    while (fits > smallest && deadline.remainingMs() < fits / bytesPerMs) fits = Math.max(smallest, Math.ceil(fits / 2));
    if (deadline.remainingMs() >= fits / bytesPerMs) return fits;
    const dst = this.ctx.destination;
    const url = storableUploadUrl(this.session.url);
    const record = url === undefined ? undefined : this.handover.record;
    await record?.({ url: url ?? '', offset: this.session.offset, hashState: hash.mark().saved });
    throw new CopySuspendedError(
      { digest: this.blob.digest, registry: dst.registry, repository: dst.repository, offset: this.session.offset, size: this.blob.size },
      record !== undefined,
    );
  }
}

/** Whether a saved hash state loads (one saved by another version of hash-wasm may not). */
async function usable(state: Uint8Array): Promise<boolean> {
  try {
    await loadedMark(state).restore();
    return true;
  } catch {
    return false;
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
