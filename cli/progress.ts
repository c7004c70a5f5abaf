/**
 * Progress on stderr: one line redrawn in place on a terminal, a plain line per finished task
 * otherwise (CI logs, pipes).
 */
import type { RunEvent } from '../shared/pipeline/local-run.js';
import type { RetryEvent } from '../shared/registry/retry.js';

/** `429`, `503 Service Unavailable`, `ECONNREFUSED` out of a failure's text. */
function shortReason(reason: string): string {
  const status = /: (\d{3} [A-Za-z ]+?)(?::|$)/.exec(reason)?.[1];
  if (status !== undefined) return status.split(' ')[0] ?? status;
  return /network error: (\w+)/.exec(reason)?.[1] ?? reason.slice(0, 60);
}

/** Formats a byte count the way people read it. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** `1 foreign layer left out`. */
function leftOutText(n: number): string {
  return `${n} foreign layer${n === 1 ? '' : 's'} left out`;
}

/** Shows run events on a stream. */
export class Progress {
  private copied = 0;
  private upToDate = 0;
  private failed = 0;
  private bytes = 0;
  private drawn = false;
  /** Until when a wait on a registry has been shown, per registry and reason. */
  private readonly waits = new Map<string, number>();

  public constructor(private readonly out: NodeJS.WriteStream | (NodeJS.WritableStream & { isTTY?: boolean; columns?: number })) {}

  public event(event: RunEvent): void {
    if (event.type === 'planned' || event.type === 'unlisted') return;
    if (event.type === 'retry') {
      this.retry(event.retry, event.task?.source, event.at);
      return;
    }
    const r = event.result;
    if (r.outcome === 'copied') this.copied++;
    else if (r.outcome === 'up-to-date' || r.outcome === 'skipped') this.upToDate++;
    else this.failed++;
    this.bytes += r.bytes;
    const counter = `[${event.finished}/${event.total}]`;
    if (this.out.isTTY) {
      const status = `${counter} ${this.copied} copied, ${this.upToDate} up to date, ${this.failed} failed, ${formatBytes(this.bytes)}  ${r.destination}`;
      const width = (this.out as { columns?: number }).columns ?? 100;
      this.out.write(`\r\x1b[2K${status.slice(0, Math.max(20, width - 1))}`);
      this.drawn = true;
      if (r.outcome === 'failed') this.out.write(`\r\x1b[2Kfailed ${r.source} -> ${r.destination}: ${r.error}\n`);
      if (r.leftOut !== undefined)
        this.out.write(`\r\x1b[2K${leftOutText(r.leftOut.length)} of ${r.source} -> ${r.destination} (see --log)\n`);
    } else {
      const tail =
        r.outcome === 'failed'
          ? `: ${r.error}`
          : r.outcome === 'skipped'
            ? `: ${r.reason ?? 'not selected'}`
            : ` (${formatBytes(r.bytes)}${r.attempts > 1 ? `, ${r.attempts} attempts` : ''}${r.referrers ? `, ${r.referrers} referrers` : ''}${r.leftOut ? `, ${leftOutText(r.leftOut.length)}` : ''})`;
      this.out.write(`${counter} ${r.outcome} ${r.source} -> ${r.destination}${tail}\n`);
    }
  }

  /**
   * A retry: a wait on a registry that is unavailable or throttling shows as `waiting 2 s: 429 from
   * registry X` (once per registry and reason while it lasts); a task retried shows on a line of its own.
   */
  private retry(r: RetryEvent, source: string | undefined, at: number | undefined): void {
    const now = Date.now();
    // A wait passed on late (one during planning) is shown only for what is left of it.
    const left = r.delayMs - (at === undefined ? 0 : Math.max(0, now - at));
    if (r.unavailable && r.delayMs >= 1000) {
      if (left < 1000) return;
      const text = `waiting ${Math.round(left / 1000)} s: ${shortReason(r.reason)} from registry ${r.registry}`;
      const key = `${r.registry} ${shortReason(r.reason)}`;
      if ((this.waits.get(key) ?? 0) > now) return;
      this.waits.set(key, now + left);
      if (this.out.isTTY) {
        this.out.write(`\r\x1b[2K${text}`);
        this.drawn = true;
      } else {
        this.out.write(`${text}\n`);
      }
      return;
    }
    if (r.level === 'task' && !this.out.isTTY) this.out.write(`retry ${source ?? r.what} (attempt ${r.attempt} failed: ${r.reason})\n`);
  }

  /** How many tasks have finished so far. */
  public get finished(): number {
    return this.copied + this.upToDate + this.failed;
  }

  /** The tasks finished so far: `2 copied, 1 up to date, 0 failed`. */
  public tally(): string {
    return `${this.copied} copied, ${this.upToDate} up to date, ${this.failed} failed`;
  }

  /** Ends the redrawn line so that what follows starts on its own line. */
  public finish(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
