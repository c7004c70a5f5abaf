/**
 * `BENCH_TRACE=FILE`: the benches append one line per request through a counting proxy (start and end
 * in epoch milliseconds, the proxy's port, the connection's number, method, path, status) and one per
 * start and end of a tool's run, so that a run's time can be read request by request
 * (`tsx test/bench/trace-timeline.ts FILE` prints the last run's). Off unless the variable is set.
 */
import { appendFileSync } from 'node:fs';

const file = process.env.BENCH_TRACE;

/** The wall clock in milliseconds, to the tenth. */
const now = (): string => (performance.timeOrigin + performance.now()).toFixed(1);

/** Whether tracing is on. */
export const tracing = file !== undefined;

/** A request answered: its start (from {@link traceStart}) and the rest of its line. */
export function traceRequest(start: string, port: number, connection: number, method: string, path: string, status: number): void {
  if (file !== undefined) appendFileSync(file, `${start} ${now()} ${port} c${connection} ${method} ${path} ${status}\n`);
}

/** The time a request started, for {@link traceRequest}. */
export const traceStart = now;

/** A tool's run starting (`SPAWN`) or ending (`EXIT`). */
export function traceRun(what: 'SPAWN' | 'EXIT', command: readonly string[]): void {
  if (file !== undefined) appendFileSync(file, `${now()} ${what} ${command.join(' ')}\n`);
}
