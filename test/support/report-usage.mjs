// Preloaded (`node --import`) into a command a test measures: at exit, prints the process's peak RSS
// (KB) and CPU seconds as the last line of stderr, for runCliMeasured (cli-run.ts).
import process from 'node:process';

process.on('exit', () => {
  const usage = process.resourceUsage();
  process.stderr.write(`\nimage-migrator-measured: ${usage.maxRSS} ${usage.userCPUTime / 1e6} ${usage.systemCPUTime / 1e6}\n`);
});
