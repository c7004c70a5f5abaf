/**
 * The local TaskQueue: tasks are handled in this process, `concurrency` at once, as the copier
 * functions consume SQS on AWS. In the order they came, or, given a `size`, largest first: a run
 * that starts its largest copies first does not end with one large copy left running alone.
 */
import type { TaskQueue } from './ports.js';
import type { CopyTask } from './task.js';

/** Options of an InProcessQueue. */
export interface InProcessQueueOptions {
  /** The task's weight: the waiting task with the largest goes next (equal ones in the order they came). */
  readonly size?: (task: CopyTask) => number;
  /** No task starts before {@link InProcessQueue.release} (tasks are gathered so the largest go first). */
  readonly held?: boolean;
}

/**
 * Runs a handler over enqueued tasks with bounded concurrency; `drained()` resolves when all are done.
 * The handler records its own failures: one that throws is a bug, and fails the queue (`failure`
 * rejects, `drained()` too) instead of leaving its task unfinished and the run waiting for it.
 */
export class InProcessQueue implements TaskQueue {
  private readonly waiting: Waiting;
  private running = 0;
  private idle: Array<() => void> = [];
  private crash: ((error: unknown) => void) | undefined;
  private held: boolean;
  /** Rejects with the first error a handler threw; never resolves. */
  public readonly failure: Promise<never>;

  public constructor(
    private readonly concurrency: number,
    private readonly handle: (task: CopyTask) => Promise<void>,
    options: InProcessQueueOptions = {},
  ) {
    this.waiting = options.size === undefined ? new InOrder() : new LargestFirst(options.size);
    this.held = options.held === true;
    this.failure = new Promise<never>((_resolve, reject) => (this.crash = reject));
    this.failure.catch(() => undefined);
  }

  public async enqueue(tasks: readonly CopyTask[]): Promise<void> {
    for (const task of tasks) this.waiting.push(task);
    this.pump();
  }

  /** Lets tasks start (a queue made `held`). */
  public release(): void {
    this.held = false;
    this.pump();
  }

  /** Resolves once every enqueued task has been handled. */
  public drained(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return Promise.race([new Promise<void>((resolve) => this.idle.push(resolve)), this.failure]);
  }

  private pump(): void {
    while (!this.held && this.running < this.concurrency && this.waiting.length > 0) {
      const task = this.waiting.take();
      this.running++;
      void this.handle(task)
        .catch((error: unknown) => this.crash?.(error))
        .finally(() => {
          this.running--;
          this.pump();
          if (this.running === 0 && this.waiting.length === 0) for (const resolve of this.idle.splice(0)) resolve();
        });
    }
  }
}

/** Tasks waiting for a slot. */
interface Waiting {
  readonly length: number;
  push(task: CopyTask): void;
  /** The next task; only called when length > 0. */
  take(): CopyTask;
}

/** First come, first served; also the look-ahead stage's incoming list (look-ahead-stage.ts). */
export class InOrder implements Waiting {
  // A list with a read position: shift() on an array of 500,000 tasks moves all of them each time.
  private tasks: CopyTask[] = [];
  private next = 0;

  public get length(): number {
    return this.tasks.length - this.next;
  }

  public push(task: CopyTask): void {
    // One push per task: a spread passes every task as an argument, past V8's limit (~125,000).
    this.tasks.push(task);
  }

  public take(): CopyTask {
    const task = this.tasks[this.next] as CopyTask;
    this.next++;
    if (this.next === this.tasks.length) {
      this.tasks = [];
      this.next = 0;
    }
    return task;
  }
}

/** Largest first, ties in arrival order: a binary max-heap on (size, -arrival). */
class LargestFirst implements Waiting {
  private readonly heap: { task: CopyTask; size: number; seq: number }[] = [];
  private seq = 0;

  public constructor(private readonly size: (task: CopyTask) => number) {}

  public get length(): number {
    return this.heap.length;
  }

  public push(task: CopyTask): void {
    const heap = this.heap;
    heap.push({ task, size: this.size(task), seq: this.seq++ });
    for (let i = heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  public take(): CopyTask {
    const heap = this.heap;
    const top = heap[0] as { task: CopyTask };
    const last = heap.pop() as (typeof heap)[number];
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let first = i;
        if (left < heap.length && this.before(left, first)) first = left;
        if (right < heap.length && this.before(right, first)) first = right;
        if (first === i) break;
        this.swap(i, first);
        i = first;
      }
    }
    return top.task;
  }

  private before(a: number, b: number): boolean {
    const x = this.heap[a] as (typeof this.heap)[number];
    const y = this.heap[b] as (typeof this.heap)[number];
    return x.size > y.size || (x.size === y.size && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    const heap = this.heap;
    [heap[a], heap[b]] = [heap[b] as (typeof heap)[number], heap[a] as (typeof heap)[number]];
  }
}
