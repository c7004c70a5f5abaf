/**
 * Prints one run of a BENCH_TRACE file (see trace.ts) as a timeline: each request's start, end and
 * duration in milliseconds from the run's start, and the run's wall time.
 *   tsx test/bench/trace-timeline.ts FILE [N]   N: which run, counted from the last (default 1)
 */
import { readFileSync } from 'node:fs';

const [file, back = '1'] = process.argv.slice(2);
// Piped into head or less: a reader that stops early is no error.
process.stdout.on('error', () => process.exit(0));
if (file === undefined) {
  process.stderr.write('usage: tsx test/bench/trace-timeline.ts FILE [N]\n');
  process.exit(2);
}
const lines = readFileSync(file, 'utf8')
  .split('\n')
  .filter((l) => l !== '');
const spawns = lines.flatMap((l, i) => (l.split(' ')[1] === 'SPAWN' ? [i] : []));
const first = spawns[spawns.length - Number(back)];
if (first === undefined) {
  process.stderr.write(`${file}: no run ${back} from the last\n`);
  process.exit(1);
}
const end = lines.findIndex((l, i) => i > first && l.split(' ')[1] === 'EXIT');
const t0 = Number(lines[first]?.split(' ')[0]);
const rows = lines.slice(first + 1, end === -1 ? undefined : end).map((l) => l.split(' '));
process.stdout.write(`${lines[first]?.split(' ').slice(2).join(' ') ?? ''}\n`);
for (const [start, stop, port, conn, method, path, status] of rows.sort((a, b) => Number(a[0]) - Number(b[0]))) {
  const s = Number(start) - t0;
  const e = Number(stop) - t0;
  process.stdout.write(
    `${s.toFixed(1).padStart(7)} ${e.toFixed(1).padStart(7)} ${(e - s).toFixed(1).padStart(6)}  :${port} ${conn} ${method} ${path} ${status}\n`,
  );
}
if (end !== -1) process.stdout.write(`wall ${(Number(lines[end]?.split(' ')[0]) - t0).toFixed(1)} ms\n`);
