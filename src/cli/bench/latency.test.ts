import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LatencyRecorder } from './latency.js';

test('percentiles never exceed the largest latency recorded, and follow the recorded values to 3 significant digits', () => {
  const recorder = new LatencyRecorder();
  // 9.218 ms lies in a bucket whose highest value is above it.
  recorder.recordManyMs(9.218, 10);
  const single = recorder.summary()!;
  assert.deepEqual([single.p50Ms, single.p90Ms, single.p99Ms, single.p999Ms, single.maxMs], [9.218, 9.218, 9.218, 9.218, 9.218]);

  const spread = new LatencyRecorder();
  for (let i = 1; i <= 1000; i++) spread.recordMs(i / 10); // 0.1 … 100 ms
  const summary = spread.summary()!;
  assert.equal(summary.count, 1000);
  assert.equal(summary.maxMs, 100);
  for (const [value, expected] of [[summary.p50Ms, 50], [summary.p90Ms, 90], [summary.p99Ms, 99], [summary.p999Ms, 99.9]] as const) {
    assert.ok(Math.abs(value - expected) / expected < 0.001, `${value} ≈ ${expected}`);
    assert.ok(value <= summary.maxMs);
  }
  assert.equal(new LatencyRecorder().summary(), null);
});
