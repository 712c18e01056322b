/** Exponential backoff with full jitter: a random delay in [min, min(max, min·2^attempt)]. */
export interface BackoffOptions {
  backoffMsMin: number;
  backoffMsMax: number;
}

export function backoffDelayMs(attempt: number, options: BackoffOptions): number {
  const ceiling = Math.min(options.backoffMsMax, options.backoffMsMin * 2 ** Math.min(attempt, 30));
  return options.backoffMsMin + Math.random() * (ceiling - options.backoffMsMin);
}

/** Waits for `promise` (its failure ignored) at most `ms`; the timer ends with the wait, so it keeps no process alive. */
export async function waitAtMost(promise: Promise<unknown> | null | undefined, ms: number): Promise<void> {
  const done = new AbortController();
  try {
    await Promise.race([promise?.catch(() => {}), sleep(ms, done.signal)]);
  } finally {
    done.abort();
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
