import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isWeirError } from '../../../util/errors.js';
import { FrameReader } from './frame-reader.js';

/** The frames one chunk completes. */
function framesOf(reader: FrameReader, chunk: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  reader.push(chunk, (frame) => {
    frames.push(frame);
  });
  return frames;
}

function framed(payloads: readonly Buffer[]): Buffer {
  return Buffer.concat(payloads.flatMap((payload) => {
    const size = Buffer.alloc(4);
    size.writeInt32BE(payload.length, 0);
    return [size, payload];
  }));
}

test('frames come out whole whatever the TCP split points', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)), { minLength: 1, maxLength: 12 }),
      fc.array(fc.integer({ min: 0, max: 4000 }), { maxLength: 20 }),
      (payloads, cuts) => {
        const stream = framed(payloads);
        const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
        const reader = new FrameReader({ frameBytesMax: 1000 });
        const frames: Buffer[] = [];
        let previous = 0;
        for (const point of [...points, stream.length]) {
          frames.push(...framesOf(reader, stream.subarray(previous, point)));
          previous = point;
        }
        assert.deepEqual(frames, payloads);
        assert.equal(reader.bufferedBytes, 0);
      },
    ),
    { numRuns: 500 },
  );
});

test('a size above the maximum or below zero is rejected before any allocation', () => {
  const reader = new FrameReader({ frameBytesMax: 100 });
  assert.deepEqual(framesOf(reader, framed([Buffer.alloc(100, 1)])), [Buffer.alloc(100, 1)]);
  // Only the 4-byte prefix has arrived: the claim alone is enough to refuse it.
  assert.throws(() => framesOf(reader, Buffer.from('00000065', 'hex')), (error) => isWeirError(error, 'INVALID_REQUEST'));
  assert.throws(() => framesOf(new FrameReader(), Buffer.from('ffffffff', 'hex')), /frame size -1 is outside/);
  assert.throws(() => framesOf(new FrameReader(), Buffer.from('7fffffff', 'hex')), /outside 0\.\.104857600/);
});
