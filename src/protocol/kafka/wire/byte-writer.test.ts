import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteWriter, writerBlobBytesMin } from './byte-writer.js';

test('writes land in order across scratch growth and by-reference blobs', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({ kind: 'int32' as const, value })),
          fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((value) => ({ kind: 'uvarint' as const, value })),
          fc.integer({ min: 0, max: 3000 }).map((length) => ({ kind: 'raw' as const, value: length })),
        ),
        { maxLength: 60 },
      ),
      (operations) => {
        const writer = new ByteWriter();
        const expected: Buffer[] = [];
        let fill = 1;
        for (const operation of operations) {
          if (operation.kind === 'int32') {
            writer.int32(operation.value);
            const bytes = Buffer.alloc(4);
            bytes.writeInt32BE(operation.value, 0);
            expected.push(bytes);
          } else if (operation.kind === 'uvarint') {
            writer.uvarint(operation.value);
            const bytes: number[] = [];
            let value = operation.value;
            while (value >= 0x80) {
              bytes.push((value & 0x7f) | 0x80);
              value = Math.floor(value / 128);
            }
            bytes.push(value);
            expected.push(Buffer.from(bytes));
          } else {
            const blob = Buffer.alloc(operation.value, fill++ & 0xff);
            writer.raw(blob);
            expected.push(blob);
          }
        }
        const want = Buffer.concat(expected);
        assert.equal(writer.length, want.length);
        assert.deepEqual(writer.toBuffer(), want);
      },
    ),
    { numRuns: 300 },
  );
});

test('a large blob is kept by reference, not copied', () => {
  const writer = new ByteWriter();
  const blob = Buffer.alloc(writerBlobBytesMin * 4, 7);
  writer.int32(1);
  writer.raw(blob);
  writer.int16(2);
  const chunks = writer.chunks();
  assert.equal(chunks.length, 3);
  assert.equal(chunks[1], blob);
});
