/** For tests: the first `count` items of an async iterable, or fewer when `timeoutMs` passes. */
export async function take<T>(iterable: AsyncIterable<T>, count: number, timeoutMs = 10_000): Promise<T[]> {
  const out: T[] = [];
  if (count === 0) return out;
  const iterator = iterable[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  // A generator's return() waits for its pending next(): the timeout must not depend on it.
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  try {
    while (out.length < count) {
      const next = await Promise.race([iterator.next(), timedOut]);
      if (next === 'timeout') {
        void iterator.return?.(undefined)?.catch(() => {});
        break;
      }
      if (next.done) break;
      out.push(next.value);
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}
