/**
 * The peak resident memory of this process, in MB. On Linux from /proc/self/status (VmHWM: the peak
 * of this program's own memory), because getrusage's maxrss of a spawned child keeps the parent's
 * size at the fork when that was larger; elsewhere from process.resourceUsage().
 */
import { readFileSync } from 'node:fs';

export function peakRssMb(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match !== null) return Math.round(Number(match[1]) / 1024);
  } catch {
    // not Linux
  }
  return Math.round(process.resourceUsage().maxRSS / 1024);
}
