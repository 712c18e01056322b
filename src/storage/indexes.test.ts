import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isWeirError } from '../util/errors.js';
import { OffsetIndex } from './offset-index.js';
import { TimeIndex } from './time-index.js';
import { parseSegmentFileName, segmentFileName } from './segment-names.js';

const increasingPairs = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 5000 })), { maxLength: 200 })
  .map((steps) => {
    let offset = 0;
    let position = 0;
    return steps.map(([offsetStep, positionStep]) => [(offset += offsetStep), (position += positionStep)] as const);
  });

test('offset index: encode/decode round trip and floor lookup agree with a linear search', () => {
  fc.assert(
    fc.property(increasingPairs, fc.integer({ min: 0, max: 300_000 }), (entries, probe) => {
      const index = new OffsetIndex(1);
      for (const [offset, position] of entries) index.append(offset, position);
      const decoded = OffsetIndex.decode(index.encode(), 1_000_000_000);
      let expected = 0;
      for (const [offset, position] of entries) if (offset <= probe) expected = position;
      assert.equal(index.positionFloor(probe), expected);
      assert.equal(decoded.positionFloor(probe), expected);
      assert.equal(decoded.count, entries.length);
    }),
  );
});

test('offset index: torn, unordered or out-of-segment files are rejected as CORRUPT_MESSAGE', () => {
  const index = new OffsetIndex();
  index.append(5, 100);
  index.append(9, 300);
  const bytes = index.encode();
  assert.throws(() => OffsetIndex.decode(bytes.subarray(0, 12), 1000), (error) => isWeirError(error, 'CORRUPT_MESSAGE'));
  assert.throws(() => OffsetIndex.decode(bytes, 300), (error) => isWeirError(error, 'CORRUPT_MESSAGE'));
  const swapped = Buffer.concat([bytes.subarray(8), bytes.subarray(0, 8)]);
  assert.throws(() => OffsetIndex.decode(swapped, 1000), (error) => isWeirError(error, 'CORRUPT_MESSAGE'));
  assert.throws(() => index.append(9, 400));
});

test('time index: entries only move forward; lookup starts after every batch that is entirely older', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 100 }), fc.integer({ min: 0, max: 10_001 }), (batchTimestamps, probe) => {
      // One batch per relative offset; an entry before every batch, as the segment adds them.
      const index = new TimeIndex(1);
      let maxSoFar = -1;
      batchTimestamps.forEach((timestamp, relativeOffset) => {
        if (relativeOffset > 0) index.maybeAppend(maxSoFar, relativeOffset);
        maxSoFar = Math.max(maxSoFar, timestamp);
      });
      index.maybeAppend(maxSoFar, batchTimestamps.length);
      assert.equal(index.lastTimestampMs, maxSoFar);
      const start = index.relativeOffsetFloor(probe);
      const firstMatch = batchTimestamps.findIndex((timestamp) => timestamp >= probe);
      if (firstMatch >= 0) assert.ok(start <= firstMatch, `start ${start} skips the match at ${firstMatch}`);
      for (let i = 0; i < start; i++) assert.ok(batchTimestamps[i]! < probe);
      assert.deepEqual(TimeIndex.decode(index.encode()).encode(), index.encode());
    }),
  );
});

test('segment file names are 20-digit base offsets', () => {
  assert.equal(segmentFileName(4712n, '.log'), '00000000000000004712.log');
  assert.deepEqual(parseSegmentFileName('00000000000000004712.timeindex'), { baseOffset: 4712n, kind: 'timeindex' });
  assert.equal(parseSegmentFileName('00000000000000004712.log.deleted'), null);
  assert.equal(parseSegmentFileName('4712.log'), null);
  assert.equal(parseSegmentFileName(segmentFileName(2n ** 63n - 1n, '.log'))!.baseOffset, 2n ** 63n - 1n);
});
