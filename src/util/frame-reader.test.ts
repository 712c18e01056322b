import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { assemblyBlockBytes, assemblyBytesMin, LengthPrefixedFrames } from './frame-reader.js';

function framed(payloads: readonly Buffer[]): Buffer {
  return Buffer.concat(payloads.flatMap((payload) => {
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(payload.length);
    return [prefix, payload];
  }));
}

function growingReader(): LengthPrefixedFrames {
  return new LengthPrefixedFrames(() => {}, { growing: true });
}

test('a growing reader gives the same frames whatever the split points and whether the chunks are transient', () => {
  fc.assert(
    fc.property(
      // Up to four times assemblyBytesMin: frames that start small and grow, and frames that fit at once.
      fc.array(fc.integer({ min: 0, max: 4 * assemblyBytesMin }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      fc.boolean(),
      (sizes, cuts, transient) => {
        const payloads = sizes.map((size, index) => Buffer.alloc(size, index + 1).fill(index, 0, Math.min(size, 100)));
        const stream = framed(payloads);
        const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
        const reader = growingReader();
        const frames: Buffer[] = [];
        let previous = 0;
        for (const point of [...points, stream.length]) {
          // A transient chunk is overwritten after push, as the socket's reused read buffer is.
          const chunk = transient ? Buffer.from(stream.subarray(previous, point)) : stream.subarray(previous, point);
          reader.push(chunk, (frame) => void frames.push(Buffer.from(frame)), transient);
          if (transient) chunk.fill(0xee);
          previous = point;
        }
        assert.deepEqual(frames, payloads);
        assert.equal(reader.heldBytes, 0);
        assert.equal(reader.assembling, false);
      },
    ),
    { numRuns: 200 },
  );
});

test('a growing reader holds about what arrived of a large frame, not the length its prefix declares', () => {
  const frameBytes = 48 * 1024 * 1024;
  const pieceBytes = 64 * 1024;
  const reader = growingReader();
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(frameBytes);
  const externalBefore = process.memoryUsage().arrayBuffers;
  reader.push(prefix, () => assert.fail('no frame yet'), true);
  const piece = Buffer.alloc(pieceBytes, 7);
  let arrived = 0;
  for (let index = 0; index < 16; index++) {
    reader.push(piece, () => assert.fail('no frame yet'), true);
    arrived += pieceBytes;
    assert.equal(reader.assembling, true);
    assert.ok(reader.heldBytes >= arrived && reader.heldBytes <= Math.max(assemblyBytesMin, arrived + assemblyBlockBytes), `${reader.heldBytes} held for ${arrived} arrived`);
  }
  // Measured outside the reader too: what it allocated, not only what it says it holds.
  const grownBytes = process.memoryUsage().arrayBuffers - externalBefore;
  assert.ok(grownBytes < 8 * 1024 * 1024, `the reader's buffers grew by ${grownBytes} bytes for 1 MiB of a 48 MiB frame`);
  // The rest arrives in one chunk: the frame is whole and the reader holds nothing.
  const rest = Buffer.alloc(frameBytes - arrived, 9);
  let frame: Buffer | undefined;
  reader.push(rest, (whole) => void (frame = whole));
  assert.equal(frame?.length, frameBytes);
  assert.equal(frame![0], 7);
  assert.equal(frame![arrived - 1], 7);
  assert.equal(frame![arrived], 9);
  assert.equal(frame![frameBytes - 1], 9);
  assert.equal(reader.heldBytes, 0);
});

test('a reader that is not growing allocates a frame whole when its length arrives', () => {
  const reader = new LengthPrefixedFrames(() => {});
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(1024 * 1024);
  reader.push(Buffer.concat([prefix, Buffer.alloc(10)]), () => assert.fail('no frame yet'));
  assert.equal(reader.heldBytes, 1024 * 1024);
  assert.equal(reader.bufferedBytes, 10);
});
