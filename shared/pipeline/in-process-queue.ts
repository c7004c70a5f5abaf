/**
 * The local TaskQueue: tasks are handled in this process, `concurrency` at once, as the copier
 * functions consume SQS on AWS.
 */
import type { TaskQueue } from './ports.js';
import type { CopyTask } from './task.js';

/** Runs a handler over enqueued tasks with bounded concurrency; `drained()` resolves when all are done. */
export class InProcessQueue implements TaskQueue {
  private readonly waiting: CopyTask[] = [];
  private running = 0;
  private idle: Array<() => void> = [];

  public constructor(
    private readonly concurrency: number,
    private readonly handle: (task: CopyTask) => Promise<void>,
  ) {}

  public async enqueue(tasks: readonly CopyTask[]): Promise<void> {
    this.waiting.push(...tasks);
    this.pump();
  }

  /** Resolves once every enqueued task has been handled. */
  public drained(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const task = this.waiting.shift() as CopyTask;
      this.running++;
      // The handler records its own failures; a throw here would be a bug, and must not stall the queue.
      void this.handle(task).catch(() => undefined).finally(() => {
        this.running--;
        this.pump();
        if (this.running === 0 && this.waiting.length === 0) for (const resolve of this.idle.splice(0)) resolve();
      });
    }
  }
}
