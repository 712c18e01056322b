import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Topic } from './api.js';
import { ratesBetween, sampleOf } from './throughput.js';

function topic(name: string, partitions: [offsetEnd: number, sizeBytes: number][]): Topic {
  return {
    name,
    internal: false,
    config: { partitions: partitions.length, retentionMs: null, retentionBytes: null, flush: 'always', messageBytesMax: 1, segmentBytesMax: 1, segmentAgeMsMax: 1, messageTtlMs: null, timestampAheadMsMax: null, timestampBehindMsMax: null },
    partitions: partitions.map(([offsetEnd, sizeBytes], partition) => ({ partition, offsetStart: 0, offsetEnd, highWatermark: offsetEnd, sizeBytes })),
  };
}

test('rates are the differences per second, per topic and in total', () => {
  const before = sampleOf([topic('a', [[100, 1000], [0, 0]]), topic('b', [[10, 100]])], 1000);
  const after = sampleOf([topic('a', [[300, 5000], [20, 400]]), topic('b', [[10, 100]])], 3000);
  const { total, byTopic } = ratesBetween(before, after);
  assert.deepEqual(byTopic.get('a'), { messagesPerSecond: 110, bytesPerSecond: 2200 });
  assert.deepEqual(byTopic.get('b'), { messagesPerSecond: 0, bytesPerSecond: 0 });
  assert.deepEqual(total, { messagesPerSecond: 110, bytesPerSecond: 2200 });
});

test('a topic new in the sample is no spike; a size that shrank counts as zero', () => {
  const before = sampleOf([topic('a', [[100, 9000]])], 0);
  const after = sampleOf([topic('a', [[150, 4000]]), topic('new', [[1_000_000, 50_000_000]])], 1000);
  const { total, byTopic } = ratesBetween(before, after);
  assert.equal(byTopic.has('new'), false);
  assert.deepEqual(total, { messagesPerSecond: 50, bytesPerSecond: 0 });
});

test('a recreated topic (offsets went back) counts as zero, not negative', () => {
  const { total } = ratesBetween(sampleOf([topic('a', [[500, 100]])], 0), sampleOf([topic('a', [[3, 10]])], 1000));
  assert.deepEqual(total, { messagesPerSecond: 0, bytesPerSecond: 0 });
});
