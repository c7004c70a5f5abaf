/**
 * Makes sure server processes started by tests die with the test process, even when it is killed
 * (test runner timeout, Ctrl-C, SIGKILL) before its `after` hooks run: an orphaned registry keeps a
 * port and a CPU share on a small shared machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/**
 * Guards `child`: killed on process exit, and by a watchdog shell that waits on a pipe from this
 * process. The pipe reaches EOF however this process dies, and the watchdog then kills the child.
 * When given, `removeDir` (the child's temporary directory) is deleted by the watchdog too.
 * Call the returned function once the child has been stopped normally.
 */
export function guardChild(child: ChildProcess, removeDir?: string): () => void {
  installExitHook();
  live.add(child);
  let watchdog: ChildProcess | undefined;
  if (child.pid !== undefined) {
    const script = 'read _ ; kill -9 "$0" 2>/dev/null; [ -z "$1" ] || { sleep 1; rm -rf -- "$1"; }';
    watchdog = spawn('sh', ['-c', script, String(child.pid), removeDir ?? ''], { stdio: ['pipe', 'ignore', 'ignore'] });
    watchdog.on('error', () => undefined);
    watchdog.stdin?.on('error', () => undefined);
    live.add(watchdog);
  }
  return () => {
    live.delete(child);
    if (watchdog !== undefined) {
      // Killed rather than released through the pipe: the guarded pid may already belong to someone else.
      watchdog.kill('SIGKILL');
      live.delete(watchdog);
    }
  };
}
