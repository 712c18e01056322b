/**
 * Running a list of asynchronous tasks with at most a given number under way at once, so that
 * what each task holds while it runs (read buffers, file descriptors) is bounded by that number
 * rather than by the length of the list.
 */
import assert from 'node:assert/strict';

/**
 * Calls `work(index)` for every index below `count`, at most `concurrencyMax` at a time, in
 * index order. After the first failure no further task starts; the call waits for those under
 * way and rejects with that first failure.
 */
export async function forEachBounded(count: number, concurrencyMax: number, work: (index: number) => Promise<void>): Promise<void> {
  assert.ok(Number.isInteger(count) && count >= 0, `count ${count}`);
  assert.ok(Number.isInteger(concurrencyMax) && concurrencyMax >= 1, `concurrencyMax ${concurrencyMax}`);
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failure === null && next < count) {
      const index = next++;
      try {
        await work(index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrencyMax, count) }, worker));
  if (failure !== null) throw (failure as { error: unknown }).error;
}
