/**
 * Latency recording for `weir bench`: an HDR histogram of microseconds (3 significant digits),
 * and a clock that reads `performance.now()` at most once per synchronous run of callbacks —
 * acknowledgements of one batch arrive together and share one reading.
 */
import { build, type Histogram } from 'hdr-histogram-js';

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export class LatencyRecorder {
  readonly #histogram: Histogram = build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });

  /** Records one latency given in milliseconds. */
  recordMs(latencyMs: number): void {
    this.#histogram.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
  }

  /** Records `count` latencies of the same value (acknowledgements of one batch). */
  recordManyMs(latencyMs: number, count: number): void {
    this.#histogram.recordValueWithCount(Math.max(1, Math.round(latencyMs * 1000)), count);
  }

  get count(): number {
    return this.#histogram.totalCount;
  }

  summary(): LatencySummary | null {
    const h = this.#histogram;
    if (h.totalCount === 0) return null;
    const ms = (us: number): number => Math.round(us) / 1000;
    // A percentile is its bucket's highest value, which may lie above the largest value recorded.
    const at = (percentile: number): number => ms(Math.min(h.getValueAtPercentile(percentile), h.maxValue));
    return { count: h.totalCount, p50Ms: at(50), p90Ms: at(90), p99Ms: at(99), p999Ms: at(99.9), maxMs: ms(h.maxValue) };
  }
}

export function formatLatency(summary: LatencySummary | null): string {
  if (summary === null) return 'no samples';
  const f = (value: number): string => `${value.toFixed(value < 10 ? 3 : 1)} ms`;
  return `p50 ${f(summary.p50Ms)}  p90 ${f(summary.p90Ms)}  p99 ${f(summary.p99Ms)}  p99.9 ${f(summary.p999Ms)}  max ${f(summary.maxMs)}  (${summary.count} samples)`;
}

/** `performance.now()`, read once per synchronous stretch of code. */
export class CoarseClock {
  #nowMs = 0;
  #fresh = false;
  readonly #expire = (): void => {
    this.#fresh = false;
  };

  nowMs(): number {
    if (!this.#fresh) {
      this.#nowMs = performance.now();
      this.#fresh = true;
      queueMicrotask(this.#expire);
    }
    return this.#nowMs;
  }
}
