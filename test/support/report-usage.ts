/**
 * Preloaded (`node --import tsx --import .../report-usage.ts`) into a command a test measures: at
 * exit, prints the process's peak RSS (MB) and CPU seconds as the last line of stderr, for
 * runCliMeasured (cli-run.ts).
 */
import { peakRssMb } from './peak-rss.js';

process.on('exit', () => {
  const usage = process.resourceUsage();
  process.stderr.write(`\nimage-migrator-measured: ${peakRssMb()} ${usage.userCPUTime / 1e6} ${usage.systemCPUTime / 1e6}\n`);
});
