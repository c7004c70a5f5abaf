/**
 * Counting the registry requests a task makes. One registry client serves many tasks at once, so
 * its request hook cannot know the task; the async context of the copy does.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const scope = new AsyncLocalStorage<{ requests: number }>();

/** Counts one request for the task whose copy is running; outside a task it does nothing. */
export function countRequest(): void {
  const counter = scope.getStore();
  if (counter !== undefined) counter.requests++;
}

/** Runs `fn`, counting the requests it makes (through clients whose hook calls countRequest). */
export async function withRequestCount<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; requests: number } | { error: unknown; requests: number }> {
  const counter = { requests: 0 };
  try {
    return { value: await scope.run(counter, fn), requests: counter.requests };
  } catch (error) {
    return { error, requests: counter.requests };
  }
}
