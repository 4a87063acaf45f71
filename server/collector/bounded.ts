import 'server-only';

// Many remote calls with only a few in flight. A comparison of registry copies asks k copies for
// k hosts' counts: started all at once, a cluster of 1,000 nodes holds a million pending calls
// (their promises, timers, reply pids and encoded requests: gigabytes). Tasks are made from their
// index as a worker takes them, never queued up front, so memory follows `limit`, not `count`.

/**
 * Runs `task(0)` … `task(count - 1)` with at most `limit` running at once, in index order.
 * Rejects with the first failure; after it, no further task starts (the running ones finish on
 * their own), so a node that stopped answering costs one timeout, not one per task.
 */
export async function forEachBounded(
  count: number,
  limit: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < count) {
      const index = next;
      next += 1;
      try {
        await task(index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker));
}

/** {@link forEachBounded} that keeps each task's result, in index order. */
export async function mapBounded<T>(
  count: number,
  limit: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  await forEachBounded(count, limit, async (index) => {
    results[index] = await task(index);
  });
  return results;
}
