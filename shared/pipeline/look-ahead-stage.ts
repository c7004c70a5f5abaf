/**
 * The look-ahead stage of a local run: each task's first step (the source manifest, the destination's
 * HEAD; see ImageCopier.lookAhead) is taken before the task waits for one of the --workers slots, so
 * that the slots go to the largest copies first. At most `window` tasks are between the start of their
 * look-ahead and a slot at once (memory stays bounded whatever the number of tasks), and at most
 * `concurrency` look-aheads are under way.
 */
import { InOrder } from './in-process-queue.js';
import type { CopyTask } from './task.js';

export class LookAheadStage {
  private readonly incoming = new InOrder();
  /** Tasks whose look-ahead has started and that no worker has taken yet. */
  private active = 0;
  /** Look-aheads under way. */
  private looking = 0;

  /**
   * `look` takes the first step of a task and hands it to the queue; it never throws. The queue's
   * handler calls {@link started} when a worker takes a task.
   */
  public constructor(
    private readonly window: number,
    private readonly concurrency: number,
    private readonly look: (task: CopyTask) => Promise<void>,
    /** Told after each look-ahead (see {@link quiet} and {@link full}). */
    private readonly onProgress: () => void = () => undefined,
  ) {}

  /** Nothing is being looked ahead nor waits to be. */
  public get quiet(): boolean {
    return this.looking === 0 && this.incoming.length === 0;
  }

  /** As many tasks as the window holds are looked ahead (or being) and wait for a slot. */
  public get full(): boolean {
    return this.active >= this.window;
  }

  public push(tasks: readonly CopyTask[]): void {
    for (const task of tasks) this.incoming.push(task);
    this.pump();
  }

  /** A worker took a task that came through this stage. */
  public started(): void {
    this.active--;
    this.pump();
  }

  private pump(): void {
    while (this.active < this.window && this.looking < this.concurrency && this.incoming.length > 0) {
      const task = this.incoming.take();
      this.active++;
      this.looking++;
      void this.look(task).finally(() => {
        this.looking--;
        this.pump();
        this.onProgress();
      });
    }
  }
}
