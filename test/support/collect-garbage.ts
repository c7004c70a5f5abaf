/**
 * A full garbage collection on demand, in a test process started without --expose-gc: V8's flag is set
 * at run time and the `gc` function taken from a fresh context, where V8 installs it. For tests that
 * measure what is live, not what the collector has yet to free.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Runs a full collection. */
export function collectGarbage(): void {
  gc();
}
