/**
 * Progress on stderr: one line redrawn in place on a terminal, a plain line per finished task
 * otherwise (CI logs, pipes).
 */
import type { RunEvent } from '../shared/pipeline/local-run.js';

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

/** Shows run events on a stream. */
export class Progress {
  private copied = 0;
  private upToDate = 0;
  private failed = 0;
  private bytes = 0;
  private drawn = false;

  public constructor(private readonly out: NodeJS.WriteStream | (NodeJS.WritableStream & { isTTY?: boolean; columns?: number })) {}

  public event(event: RunEvent): void {
    if (event.type === 'planned') return;
    if (event.type === 'retry') {
      if (!this.out.isTTY) this.out.write(`retry ${event.task.source} (attempt ${event.attempt} failed: ${event.error})\n`);
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
    } else {
      const tail = r.outcome === 'failed'
        ? `: ${r.error}`
        : r.outcome === 'skipped'
          ? `: ${r.reason ?? 'not selected'}`
          : ` (${formatBytes(r.bytes)}${r.attempts > 1 ? `, ${r.attempts} attempts` : ''}${r.referrers ? `, ${r.referrers} referrers` : ''})`;
      this.out.write(`${counter} ${r.outcome} ${r.source} -> ${r.destination}${tail}\n`);
    }
  }

  /** Ends the redrawn line so that what follows starts on its own line. */
  public finish(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
