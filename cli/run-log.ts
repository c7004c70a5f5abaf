/**
 * The --log file: one line per task outcome, rule that could not be expanded, retry at any level
 * (request, blob transfer, task: what, which registry, why, the delay), foreign layer left out
 * (digest, size, media type, urls, why) and destination repository whose tags could not be listed. Lines hold
 * references, digests and error texts, which never carry a credential.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { RunEvent } from '../shared/pipeline/local-run.js';

/** Appends run events to a log file. */
export class RunLog {
  private readonly stream: WriteStream;
  private closing: Promise<void> | undefined;

  public constructor(path: string) {
    this.stream = createWriteStream(path, { flags: 'a' });
    // A log that cannot be written must not stop a migration; the failure is reported once.
    this.stream.on('error', (error) => process.stderr.write(`image-migrator: cannot write log ${path}: ${error.message}\n`));
  }

  /**
   * Writes a line stamped with `at` (epoch ms; default now). A closed log takes no more lines: a
   * write after its end would fail the stream and lose the lines still buffered.
   */
  public line(text: string, at: number = Date.now()): void {
    if (this.stream.writableEnded) return;
    this.stream.write(`${new Date(at).toISOString()} ${text}\n`);
  }

  public event(event: RunEvent): void {
    if (event.type === 'planned') {
      for (const f of event.plan.generateFailures) this.line(`generate-failed ${f.source} -> ${f.destination || '(default)'}: ${f.error}`);
      this.line(`planned ${event.plan.tasks.length} tasks`);
    } else if (event.type === 'retry') {
      const r = event.retry;
      const task = event.task === undefined ? 'planning' : `${event.task.source} -> ${event.task.destination}`;
      this.line(
        `retry ${task} level=${r.level} kind=${r.kind} registry=${r.registry} attempt=${r.attempt} in=${Math.round(r.delayMs)}ms: ${r.what}: ${r.reason}`,
        event.at,
      );
    } else if (event.type === 'unlisted') {
      this.line(`unlisted ${event.repository}: ${event.error}; its tags are checked one by one instead`);
    } else {
      const r = event.result;
      const detail =
        r.outcome === 'failed'
          ? `: ${r.error ?? 'unknown error'}`
          : r.outcome === 'skipped'
            ? `: ${r.reason ?? 'not selected'}`
            : ` digest=${r.digest ?? `unknown (${r.reason ?? 'not asked'})`}${r.sourceDigest === undefined ? '' : ` source-digest=${r.sourceDigest}`} bytes=${r.bytes}${r.referrers === undefined ? '' : ` referrers=${r.referrers}`}`;
      this.line(`${r.outcome} ${r.source} -> ${r.destination} attempts=${r.attempts} duration=${r.durationMs}ms${detail}`);
      for (const l of r.leftOut ?? []) {
        this.line(
          `left-out ${r.source} -> ${r.destination} layer=${l.digest} size=${l.size} media-type=${l.mediaType} urls=${l.urls?.join(',') ?? 'none'}: ${l.reason}`,
        );
      }
    }
  }

  /** Ends the log once its lines are written; closing it again waits for the same end. */
  public close(): Promise<void> {
    this.closing ??= new Promise((resolve) => this.stream.end(resolve));
    return this.closing;
  }
}
