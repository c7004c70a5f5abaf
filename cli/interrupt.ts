/**
 * Ctrl-C (SIGINT) and SIGTERM during a migration. The first signal keeps what the run learnt and then
 * stops it: `stop` saves the run state (the copies and blobs recorded so far, so that the next run
 * settles them by one source HEAD) and closes the log, and the process exits with 128 + the signal's
 * number (130 for Ctrl-C, 143 for SIGTERM), as shells expect. Copies under way stop where they are:
 * a tag is only ever pushed after all its content, so none is left pointing at missing content, and
 * a destination's unfinished upload sessions are the registry's to purge. A second signal while
 * `stop` runs (a state file held by another run's lock, a log on a hung disk) exits at once.
 */
import { constants } from 'node:os';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** Handles the signals until the returned function is called (when the run ended by itself). */
export function onInterrupt(stop: (signal: NodeJS.Signals) => Promise<void>): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    const code = 128 + (constants.signals[signal] ?? 0);
    if (stopping) process.exit(code);
    stopping = true;
    void stop(signal)
      .catch((error: unknown) => process.stderr.write(`image-migrator: ${error instanceof Error ? error.message : String(error)}\n`))
      .finally(() => process.exit(code));
  };
  for (const signal of SIGNALS) process.on(signal, handler);
  return () => {
    for (const signal of SIGNALS) process.off(signal, handler);
  };
}
