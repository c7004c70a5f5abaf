/**
 * The local TaskQueue: tasks are handled in this process, `concurrency` at once, as the copier
 * functions consume SQS on AWS.
 */
import type { TaskQueue } from './ports.js';
import type { CopyTask } from './task.js';

/**
 * Runs a handler over enqueued tasks with bounded concurrency; `drained()` resolves when all are done.
 * The handler records its own failures: one that throws is a bug, and fails the queue (`failure`
 * rejects, `drained()` too) instead of leaving its task unfinished and the run waiting for it.
 */
export class InProcessQueue implements TaskQueue {
  // A list with a read position: shift() on an array of 500,000 tasks moves all of them each time.
  private waiting: CopyTask[] = [];
  private next = 0;
  private running = 0;
  private idle: Array<() => void> = [];
  private crash: ((error: unknown) => void) | undefined;
  /** Rejects with the first error a handler threw; never resolves. */
  public readonly failure: Promise<never>;

  public constructor(
    private readonly concurrency: number,
    private readonly handle: (task: CopyTask) => Promise<void>,
  ) {
    this.failure = new Promise<never>((_resolve, reject) => (this.crash = reject));
    this.failure.catch(() => undefined);
  }

  public async enqueue(tasks: readonly CopyTask[]): Promise<void> {
    // One push per task: a spread passes every task as an argument, past V8's limit (~125,000).
    for (const task of tasks) this.waiting.push(task);
    this.pump();
  }

  /** Resolves once every enqueued task has been handled. */
  public drained(): Promise<void> {
    if (this.running === 0 && this.pending() === 0) return Promise.resolve();
    return Promise.race([new Promise<void>((resolve) => this.idle.push(resolve)), this.failure]);
  }

  private pending(): number {
    return this.waiting.length - this.next;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.pending() > 0) {
      const task = this.waiting[this.next] as CopyTask;
      this.next++;
      if (this.next === this.waiting.length) {
        this.waiting = [];
        this.next = 0;
      }
      this.running++;
      void this.handle(task)
        .catch((error: unknown) => this.crash?.(error))
        .finally(() => {
          this.running--;
          this.pump();
          if (this.running === 0 && this.pending() === 0) for (const resolve of this.idle.splice(0)) resolve();
        });
    }
  }
}
