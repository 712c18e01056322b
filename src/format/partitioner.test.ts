import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import kafkajs from 'kafkajs';
import { murmur2, partitionForKey } from './partitioner.js';

// kafkajs' default partitioner is the Java client's algorithm; it is the oracle here.
const kafkaPartitioner = kafkajs.Partitioners.DefaultPartitioner();

function kafkajsPartition(key: Buffer, partitionCount: number): number {
  const partitionMetadata = Array.from({ length: partitionCount }, (_, i) => ({ partitionId: i, leader: 0 }));
  return kafkaPartitioner({ topic: 't', partitionMetadata, message: { key, value: null } } as never);
}

test('murmur2 of known inputs matches the Java client', () => {
  // Values from Kafka's UtilsTest.testMurmur2.
  const cases: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ];
  for (const [input, expected] of cases) assert.equal(murmur2(Buffer.from(input)), expected, input);
});

test('partitionForKey agrees with kafkajs for arbitrary keys and partition counts', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.integer({ min: 1, max: 200 }), (key, partitions) => {
      const buffer = Buffer.from(key);
      assert.equal(partitionForKey(buffer, partitions), kafkajsPartition(buffer, partitions));
    }),
    { numRuns: 2000 },
  );
});
