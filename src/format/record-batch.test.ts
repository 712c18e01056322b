import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  BatchBufferPool,
  RecordBatchBuilder,
  RecordCursor,
  batchHeaderBytes,
  batchRecordSection,
  decodeRecords,
  batchOffsets,
  decodeBatch,
  encodeBatch,
  readBatchHeader,
  stampBaseOffset,
  validateBatch,
  type RecordInput,
} from './record-batch.js';
import { isWeirError } from '../util/errors.js';

const bytesMax = 1 << 20;
const decodeOptions = { decompressedBytesMax: 1 << 24 };

const recordFields = {
  key: fc.option(fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)), { nil: null }),
  value: fc.option(fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)), { nil: null }),
  headers: fc.array(
    fc.record({
      key: fc.string({ maxLength: 16 }),
      value: fc.option(fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a)), { nil: null }),
    }),
    { maxLength: 4 },
  ),
  timestamp: fc.integer({ min: 0, max: 2 ** 45 }),
};
const arbitraryRecord: fc.Arbitrary<RecordInput> = fc.record(recordFields);

test('encode then decode gives back every record', () => {
  fc.assert(
    fc.property(fc.array(arbitraryRecord, { minLength: 1, maxLength: 40 }), fc.bigInt({ min: 0n, max: 2n ** 60n }), (records, base) => {
      const batch = encodeBatch(records, { producerId: 7n, producerEpoch: 1, baseSequence: 3 });
      stampBaseOffset(batch, 0, base);
      assert.equal(validateBatch(batch, 0, bytesMax), batch.length);
      const decoded = decodeBatch(batch, 0, decodeOptions);
      assert.equal(decoded.header.recordCount, records.length);
      assert.equal(decoded.header.producerId, 7n);
      assert.equal(decoded.header.baseSequence, 3);
      assert.equal(decoded.header.maxTimestamp, Math.max(...records.map((r) => r.timestamp!)));
      decoded.records.forEach((record, i) => {
        const input = records[i]!;
        assert.equal(record.offset, base + BigInt(i));
        assert.equal(record.timestamp, input.timestamp);
        assert.deepEqual(record.key, input.key ?? null);
        assert.deepEqual(record.value, input.value);
        assert.deepEqual(record.headers, (input.headers ?? []).map((h) => ({ key: h.key, value: h.value })));
      });
    }),
    { numRuns: 300 },
  );
});

test('a reused builder never changes a batch it built before; buffers given back to its pool are built in again', () => {
  // Values sized explicitly (fast-check keeps generated arrays small): batches that grow the builder's buffer.
  const record: fc.Arbitrary<RecordInput> = fc.record({
    value: fc.nat({ max: 600 }).map((n) => Buffer.alloc(n, n & 0xff)),
    headers: fc.option(recordFields.headers, { nil: undefined }),
    timestamp: recordFields.timestamp,
  });
  const step = fc.record({
    records: fc.array(record, { minLength: 1, maxLength: 60, size: 'max' }),
    sequence: fc.integer({ min: 0, max: 1000 }),
    compression: fc.constantFrom(0, 0, 1),
    // An earlier batch is done with: its buffer goes back to the pool.
    giveBack: fc.option(fc.nat(), { nil: undefined }),
  });
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => {
      const pool = new BatchBufferPool(2);
      const builder = new RecordBatchBuilder(pool);
      const live: { batch: Buffer; copy: Buffer; records: RecordInput[] }[] = [];
      for (const { records, sequence, compression, giveBack } of steps) {
        if (giveBack !== undefined && live.length > 0) pool.give(live.splice(giveBack % live.length, 1)[0]!.batch);
        for (const record of records) builder.add(record);
        const batch = builder.build({ baseSequence: sequence, compression });
        live.push({ batch, copy: Buffer.from(batch), records });
        // build() ends the batch: nothing is left to build again.
        assert.throws(() => builder.build(), /at least one record/);
      }
      for (const { batch, copy, records: expected } of live) {
        assert.ok(batch.equals(copy), 'a batch changed after it was built');
        assert.equal(validateBatch(batch, 0, bytesMax), batch.length);
        const decoded = decodeBatch(batch, 0, decodeOptions).records;
        assert.equal(decoded.length, expected.length);
        decoded.forEach((record, i) => {
          assert.deepEqual(record.value, expected[i]!.value);
          assert.deepEqual(record.headers, (expected[i]!.headers ?? []).map((h) => ({ key: h.key, value: h.value })));
        });
      }
    }),
    { numRuns: 200 },
  );
});

test('a builder builds a full batch in its own buffer and a pool hands that memory back; foreign buffers are never taken', () => {
  const pool = new BatchBufferPool(4);
  const builder = new RecordBatchBuilder(pool);
  const fill = (): Buffer => {
    for (let i = 0; i < 30; i++) builder.add({ value: Buffer.alloc(100, i), timestamp: 1 });
    return builder.build();
  };
  const first = fill();
  const second = fill();
  assert.notEqual(first.buffer, second.buffer, 'each batch in flight has memory of its own');
  pool.give(first);
  const third = fill();
  assert.equal(third.buffer, first.buffer, 'the next batch is built in the memory given back');
  // Memory the pool did not allocate (a slice of Node's shared pool, a copy) is never reused.
  const foreign = [Buffer.from('x'), Buffer.from(second), Buffer.alloc(8192)];
  for (const buffer of foreign) pool.give(buffer);
  const fourth = fill();
  assert.ok(!foreign.some((buffer) => buffer.buffer === fourth.buffer));
  for (const batch of [second, third, fourth]) assert.equal(validateBatch(batch, 0, bytesMax), batch.length);
});

test('gzip batches round trip', () => {
  const records = Array.from({ length: 100 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.alloc(100, i) }));
  const batch = encodeBatch(records, { compression: 1 });
  assert.ok(batch.length < 100 * 100);
  const decoded = decodeBatch(batch, 0, decodeOptions);
  assert.deepEqual(decoded.records.map((r) => r.value), records.map((r) => r.value));
});

test('a gzip bomb is rejected, not expanded', () => {
  const batch = encodeBatch([{ value: Buffer.alloc(4 << 20) }], { compression: 1 });
  assert.throws(() => decodeBatch(batch, 0, { decompressedBytesMax: 1 << 20 }), (e) => isWeirError(e, 'CORRUPT_MESSAGE'));
});

test('arbitrary bytes give a clean error, never a crash', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const buffer = Buffer.from(bytes);
      for (const run of [() => validateBatch(buffer, 0, bytesMax), () => decodeBatch(buffer, 0, decodeOptions)]) {
        try {
          run();
        } catch (error) {
          assert.ok(isWeirError(error), `unexpected ${String(error)}`);
        }
      }
    }),
    { numRuns: 2000 },
  );
});

test('every truncation and every corrupted body byte gives a clean error', () => {
  const batch = encodeBatch([{ key: Buffer.from('key'), value: Buffer.from('value'), headers: [{ key: 'h', value: null }] }, { value: null }]);
  for (let length = 0; length < batch.length; length++) {
    assert.throws(() => validateBatch(batch.subarray(0, length), 0, bytesMax), (e) => isWeirError(e));
  }
  for (let i = batchOffsets.crc; i < batch.length; i++) {
    const copy = Buffer.from(batch);
    copy[i] = copy[i]! ^ 0x5a;
    assert.throws(() => validateBatch(copy, 0, bytesMax), (e) => isWeirError(e));
  }
});

test('records with lying lengths are rejected even when the CRC is made to match', async () => {
  const { crc32c } = await import('./crc32c.js');
  fc.assert(
    fc.property(fc.integer({ min: batchHeaderBytes, max: 90 }), fc.integer({ min: 0, max: 255 }), (index, byte) => {
      const batch = encodeBatch([{ key: Buffer.from('abc'), value: Buffer.alloc(20, 1) }, { value: Buffer.alloc(5) }]);
      if (index >= batch.length) return;
      batch[index] = byte;
      batch.writeUInt32BE(crc32c(batch.subarray(batchOffsets.attributes)), batchOffsets.crc);
      try {
        decodeBatch(batch, 0, decodeOptions);
      } catch (error) {
        assert.ok(isWeirError(error), `unexpected ${String(error)}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('every batch validation accepts decodes: a record fault behind a matching CRC is refused when produced', async () => {
  const { crc32c } = await import('./crc32c.js');
  const withCrc = (batch: Buffer): Buffer => {
    batch.writeUInt32BE(crc32c(batch.subarray(batchOffsets.attributes)), batchOffsets.crc);
    return batch;
  };
  // A value length that runs past its record, a header key that is null, records flagged gzip.
  const overrun = encodeBatch([{ value: Buffer.from('abcd') }]);
  assert.equal(overrun[batchHeaderBytes + 5], 8); // zigzag(4): the value length
  overrun[batchHeaderBytes + 5] = 10;
  assert.throws(() => validateBatch(withCrc(overrun), 0, bytesMax), (e) => isWeirError(e, 'CORRUPT_MESSAGE'));
  const nullHeaderKey = encodeBatch([{ value: null, headers: [{ key: 'h', value: null }] }]);
  const headerKeyAt = nullHeaderKey.length - 3; // key length, 'h', value length
  assert.equal(nullHeaderKey[headerKeyAt], 2);
  nullHeaderKey[headerKeyAt] = 1; // -1
  assert.throws(() => validateBatch(withCrc(nullHeaderKey), 0, bytesMax), /header key length -1 is negative/);
  const notGzip = encodeBatch([{ value: Buffer.from('plain') }]);
  notGzip.writeInt16BE(notGzip.readInt16BE(batchOffsets.attributes) | 1, batchOffsets.attributes);
  assert.throws(() => validateBatch(withCrc(notGzip), 0, bytesMax), (e) => isWeirError(e, 'CORRUPT_MESSAGE'));
  fc.assert(
    fc.property(fc.boolean(), fc.integer({ min: batchHeaderBytes, max: 120 }), fc.integer({ min: 0, max: 255 }), (gzip, index, byte) => {
      const batch = encodeBatch(
        [{ key: Buffer.from('abc'), value: Buffer.alloc(20, 1), headers: [{ key: 'h', value: Buffer.from('v') }] }, { value: Buffer.alloc(5) }],
        gzip ? { compression: 1 } : {},
      );
      if (index >= batch.length) return;
      batch[index] = byte;
      withCrc(batch);
      let accepted = false;
      try {
        validateBatch(batch, 0, bytesMax);
        accepted = true;
      } catch (error) {
        assert.ok(isWeirError(error), `unexpected ${String(error)}`);
      }
      if (accepted) assert.equal(decodeBatch(batch, 0, decodeOptions).records.length, 2);
    }),
    { numRuns: 3000 },
  );
});

test('an oversized batch names the limit', () => {
  const batch = encodeBatch([{ value: Buffer.alloc(2000) }]);
  assert.throws(() => validateBatch(batch, 0, 1000), /exceeds the limit of 1000 bytes/);
  assert.equal(readBatchHeader(batch).recordCount, 1);
});

test('a record cursor walks a batch without decoding; the slices it finds decode to the batch records', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ ...recordFields, timestamp: fc.integer({ min: 0, max: 2 ** 52 }) }), { minLength: 1, maxLength: 30 }),
      fc.bigInt({ min: 0n, max: 2n ** 50n }),
      (records, base) => {
        const batch = encodeBatch(records);
        stampBaseOffset(batch, 0, base);
        const { header, records: decoded } = decodeBatch(batch, 0, decodeOptions);
        const section = batchRecordSection(batch, 0, header, 1 << 24);
        const cursor = new RecordCursor(section);
        let i = 0;
        while (cursor.next()) {
          const expected = decoded[i]!;
          assert.equal(expected.timestamp, records[i]!.timestamp); // varlongs past 7 bytes included
          assert.equal(header.baseOffset + BigInt(cursor.offsetDelta), expected.offset);
          assert.equal(header.baseTimestamp + cursor.timestampDelta, expected.timestamp);
          const key = cursor.keyLength < 0 ? null : section.subarray(cursor.keyStart, cursor.keyStart + cursor.keyLength);
          assert.deepEqual(key, expected.key);
          assert.equal(cursor.headerCount, expected.headers.length);
          assert.deepEqual(cursor.headers(), expected.headers);
          // One record's slice, and every other record's slices put together, decode alike.
          assert.deepEqual(decodeRecords(section.subarray(cursor.start, cursor.end), header.baseOffset, header.baseTimestamp), [expected]);
          i++;
        }
        assert.equal(i, records.length);
      },
    ),
  );
});

test('a record cursor refuses a record whose fields overrun it', () => {
  const batch = encodeBatch([{ key: Buffer.from('k'), value: Buffer.from('value') }]);
  const { header } = decodeBatch(batch, 0, decodeOptions);
  const section = Buffer.from(batchRecordSection(batch, 0, header, 1 << 24));
  section[0] = 4; // record length 2 (zigzag): shorter than its fields
  assert.throws(() => new RecordCursor(section).next(), (e) => isWeirError(e, 'CORRUPT_MESSAGE'));
});

test('validation checks each record timestamp: too far ahead INVALID_TIMESTAMP, outside ±(2^53 - 1) CORRUPT_MESSAGE, the bound first', async () => {
  const { crc32c } = await import('./crc32c.js');
  /** Two records, at 1000 and 1000 + deltaMs, under a header whose maxTimestamp says 1000. */
  const understated = (deltaMs: number): Buffer => {
    const batch = encodeBatch([{ value: null, timestamp: 1000 }, { value: null, timestamp: 1000 + deltaMs }]);
    batch.writeBigInt64BE(1000n, batchOffsets.maxTimestamp);
    batch.writeUInt32BE(crc32c(batch.subarray(batchOffsets.attributes)), batchOffsets.crc);
    return batch;
  };
  const invalidTimestamp = (e: unknown) => isWeirError(e, 'INVALID_TIMESTAMP');
  const corrupt = (e: unknown) => isWeirError(e, 'CORRUPT_MESSAGE');
  assert.equal(validateBatch(understated(500), 0, bytesMax, { timestampAhead: { nowMs: 1000, msMax: 500 } }), understated(500).length);
  assert.throws(() => validateBatch(understated(501), 0, bytesMax, { timestampAhead: { nowMs: 1000, msMax: 500 } }), invalidTimestamp);
  // A delta of 2^60 (exact as a number) either way: too far ahead under a bound, unstorable without one.
  assert.throws(() => validateBatch(understated(2 ** 60), 0, bytesMax, { timestampAhead: { nowMs: Date.now(), msMax: 3_600_000 } }), invalidTimestamp);
  assert.throws(() => validateBatch(understated(2 ** 60), 0, bytesMax), corrupt);
  assert.throws(() => validateBatch(understated(-(2 ** 60)), 0, bytesMax, { timestampAhead: { nowMs: Date.now(), msMax: 3_600_000 } }), corrupt);
  assert.throws(() => validateBatch(understated(Number.MAX_SAFE_INTEGER - 1000 + 1), 0, bytesMax), corrupt);
  const latestSafe = understated(Number.MAX_SAFE_INTEGER - 1000);
  assert.equal(validateBatch(latestSafe, 0, bytesMax), latestSafe.length);
});

test('validation refuses a record or header maxTimestamp further behind the clock than timestampBehind allows (INVALID_TIMESTAMP, the bound first)', async () => {
  const { crc32c } = await import('./crc32c.js');
  /** Records at 10000 and 10000 - behindMs (the oldest not the first), under a header whose maxTimestamp is `maxMs`. */
  const batchOf = (behindMs: number, maxMs = 10_000): Buffer => {
    const batch = encodeBatch([{ value: null, timestamp: 10_000 }, { value: null, timestamp: 10_000 - behindMs }]);
    batch.writeBigInt64BE(BigInt(maxMs), batchOffsets.maxTimestamp);
    batch.writeUInt32BE(crc32c(batch.subarray(batchOffsets.attributes)), batchOffsets.crc);
    return batch;
  };
  const timestampBehind = { nowMs: 10_000, msMax: 500 };
  const invalidTimestamp = (pattern: RegExp) => (e: unknown) => isWeirError(e, 'INVALID_TIMESTAMP') && pattern.test((e as Error).message);
  assert.equal(validateBatch(batchOf(500), 0, bytesMax, { timestampBehind }), batchOf(500).length);
  assert.throws(
    () => validateBatch(batchOf(501), 0, bytesMax, { timestampBehind }),
    invalidTimestamp(/a record's timestamp 9499 is 501 ms behind the broker's clock; timestampBehindMsMax is 500/),
  );
  assert.equal(validateBatch(batchOf(501), 0, bytesMax, { timestampBehind: null }), batchOf(501).length);
  // Fresh records under a header maxTimestamp the log would keep (and retention go by) as older.
  assert.throws(() => validateBatch(batchOf(0, 9_499), 0, bytesMax, { timestampBehind }), invalidTimestamp(/maxTimestamp 9499 is 501 ms behind/));
  // A delta of -(2^60): too far behind under a bound, before it is unstorable.
  assert.throws(() => validateBatch(batchOf(2 ** 60), 0, bytesMax, { timestampBehind: { nowMs: Date.now(), msMax: 3_600_000 } }), invalidTimestamp(/behind/));
  // Both bounds at once: each side is checked.
  const both = { timestampAhead: { nowMs: 10_000, msMax: 0 }, timestampBehind };
  assert.equal(validateBatch(batchOf(500), 0, bytesMax, both), batchOf(500).length);
  assert.throws(() => validateBatch(batchOf(501), 0, bytesMax, both), invalidTimestamp(/behind/));
  // "No timestamp" (-1, what producers of older message formats send) is exempt, as in Kafka; -2 is not.
  const untimed = encodeBatch([{ value: null, timestamp: -1 }, { value: null, timestamp: -1 }]);
  assert.equal(validateBatch(untimed, 0, bytesMax, both), untimed.length);
  assert.throws(() => validateBatch(encodeBatch([{ value: null, timestamp: -2 }]), 0, bytesMax, { timestampBehind }), invalidTimestamp(/behind/));
});
