/**
 * A small concurrency limiter: at most `concurrency` of the given jobs run at once. Used for the blobs
 * of one image and the children of one index.
 */

/** Runs `fn` over `items` with at most `concurrency` calls pending; rejects with the first error after all settle. */
export async function mapLimit<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let firstError: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && firstError === undefined) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T);
      } catch (error) {
        firstError ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (firstError !== undefined) throw firstError.error;
  return results;
}
